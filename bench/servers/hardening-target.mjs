/**
 * The target of `bench/probe-hardening.mjs`: Herald with its Pusher server on node:http (hardened,
 * default limits), and a control route `GET /probe/memory` answering the heap and RSS after a full
 * GC (run with --expose-gc). Prints its port on stdout. Loopback only.
 */
import http from "node:http";
import { createHerald, hardenServer, HARDENED_SERVER_OPTIONS } from "herald";
import { createPusherServer } from "herald/pusher";

const webhookUrl = process.env.PROBE_WEBHOOK_URL;
const herald = createHerald();
const pusher = createPusherServer({
  herald,
  appId: "probe",
  key: "probe-key",
  secret: "probe-secret",
  ...(webhookUrl ? { webhooks: { url: webhookUrl } } : {}),
});

const server = http.createServer(HARDENED_SERVER_OPTIONS, (req, res) => {
  if (req.url === "/probe/memory") {
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    const m = process.memoryUsage();
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ heapUsed: m.heapUsed, rss: m.rss, connections: pusher.connectionCount() }));
    return;
  }
  if (!pusher.handleRequest(req, res)) res.writeHead(404).end();
});
hardenServer(server);
server.on("upgrade", (req, socket, head) => {
  if (!pusher.handleUpgrade(req, socket, head)) socket.destroy();
});
server.listen(0, "127.0.0.1", () => console.log(`port ${server.address().port}`));
