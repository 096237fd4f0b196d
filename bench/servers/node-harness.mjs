/**
 * Common frame of the node:http servers: the control endpoint under /api/bench/, everything else
 * to the server's SSE handler (or its request handler); WebSocket upgrades to `handleUpgrade` when
 * given. Listens on 127.0.0.1:$PORT.
 */
import http from "node:http";
import { createControl, nodeControl } from "../lib/control.mjs";

/**
 * @param {{ handleSse: (req: http.IncomingMessage, res: http.ServerResponse) => unknown,
 *           publish: (payload: {t: number, n: number}) => unknown, subscribers: () => number,
 *           handleUpgrade?: (req: http.IncomingMessage, socket: import("node:stream").Duplex, head: Buffer) => unknown,
 *           keepAliveTimeoutMs?: number }} server
 */
export function serve({ handleSse, publish, subscribers, handleUpgrade, keepAliveTimeoutMs }) {
  const control = createControl({ publish, subscribers });
  const server = http.createServer((req, res) => {
    if (nodeControl(control, req, res)) return;
    handleSse(req, res);
  });
  if (handleUpgrade) server.on("upgrade", handleUpgrade);
  if (keepAliveTimeoutMs) server.keepAliveTimeout = keepAliveTimeoutMs;
  server.listen(Number(process.env.PORT), "127.0.0.1");
  const shutdown = () => process.exit(0);
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  return server;
}
