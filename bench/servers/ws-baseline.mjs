/**
 * ws-baseline: a plain `ws` broadcast on node:http, the floor the Pusher server is compared with.
 * Every upgrade is accepted (no handshake, no subscription); each event is encoded once into one
 * Buffer, in the same bytes as Herald's Pusher event frame (`event`, `channel`, `data` as a JSON
 * string, `id`), and sent with `ws.send` to every open socket. No heartbeat, no backpressure check.
 */
import { WebSocketServer } from "ws";
import { serve } from "./node-harness.mjs";

const clients = new Set();
const epoch = Date.now().toString(36);
let seq = 0;
const wss = new WebSocketServer({ noServer: true, clientTracking: false });

serve({
  handleSse(req, res) {
    res.writeHead(404).end();
  },
  handleUpgrade(req, socket, head) {
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.once("close", () => clients.delete(ws));
      ws.on("error", () => clients.delete(ws));
    });
  },
  publish(payload) {
    const id = `${epoch}-${++seq}`;
    const bytes = Buffer.from(JSON.stringify({ event: "tick", channel: "bench", data: JSON.stringify(payload), id }));
    for (const ws of clients) ws.send(bytes, { binary: false });
  },
  subscribers: () => clients.size,
});
