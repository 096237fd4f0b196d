/**
 * baseline: plain node:http. Each event is encoded once into one Buffer, in the same bytes as
 * Herald's frame (`id:` line, then the JSON envelope), and written with `res.write` to every
 * response. No heartbeat, no backpressure handling: the floor any library is compared with.
 */
import { serve } from "./node-harness.mjs";

const clients = new Set();
const epoch = Date.now().toString(36);
let seq = 0;

const HEADERS = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache, no-transform",
  Connection: "keep-alive",
};

serve({
  handleSse(req, res) {
    res.writeHead(200, HEADERS);
    res.write("retry: 1000\n\n");
    clients.add(res);
    res.once("close", () => clients.delete(res));
  },
  publish(payload) {
    const id = `${epoch}-${++seq}`;
    const json = JSON.stringify(payload);
    const bytes = Buffer.from(
      `id: ${id}\ndata: {"channel":"bench","event":"tick","id":"${id}","ts":${Date.now()},"data":${json}}\n\n`,
    );
    for (const res of clients) res.write(bytes);
  },
  subscribers: () => clients.size,
});
