/**
 * herald-poll: Herald's poll endpoint (`herald.handleNodeRoutes`, `GET /api/realtime/poll`) on
 * node:http, anonymous public channels (no `getUserId`, so no tokens). Per-IP limits are off (all
 * load comes from 127.0.0.1; the poll route has no route rate of its own, it is admitted as SSE
 * is). The keep-alive timeout is raised to 65 s so that short pollers reuse their connection, as a
 * browser behind a proxy that keeps connections would. "Subscribers" are the poll requests in
 * flight (held long-polls, in the long-poll phases). `GET /api/bench-hub/stats` answers
 * `herald.stats()` (held polls, wakes answered from the event in hand, log reads by long-polls).
 */
import { createHerald } from "herald";
import { serve } from "./node-harness.mjs";

const herald = createHerald({ limits: { connectPerIp: false, maxConnectionsPerIp: false } });
let inFlight = 0;

serve({
  handleSse(req, res) {
    if (req.url === "/api/bench-hub/stats") {
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(herald.stats()));
      return;
    }
    inFlight++;
    res.once("close", () => inFlight--);
    if (!herald.handleNodeRoutes(req, res)) res.writeHead(404).end();
  },
  publish: (payload) => herald.publish("bench", "tick", payload),
  subscribers: () => inFlight,
  keepAliveTimeoutMs: 65_000,
});
