/**
 * herald-pusher: `createPusherServer` (herald/pusher) on node:http with default options; events
 * are published with `herald.publish`, so they travel the bus (broker → fan-out → one Pusher frame
 * per event, the same Buffer to every connection). Subscribers are counted as live connections:
 * the load generator counts one as open only after `pusher_internal:subscription_succeeded`.
 */
import { createHerald } from "herald";
import { createPusherServer } from "herald/pusher";
import { serve } from "./node-harness.mjs";

const herald = createHerald({ limits: { connectPerIp: false, maxConnectionsPerIp: false } });
const pusher = createPusherServer({ herald, appId: "bench", key: "bench-key", secret: "bench-secret" });

serve({
  handleSse(req, res) {
    if (!pusher.handleRequest(req, res)) res.writeHead(404).end();
  },
  handleUpgrade(req, socket, head) {
    if (!pusher.handleUpgrade(req, socket, head)) socket.destroy();
  },
  publish: (payload) => herald.publish("bench", "tick", payload),
  subscribers: () => pusher.connectionCount(),
});
