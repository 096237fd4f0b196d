/** The SSE handler on Node's `http` (`IncomingMessage, ServerResponse`): the fast path. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { admit } from "./admit.js";
import type { HeraldCore } from "./core.js";
import { openingBytes } from "./frames.js";
import { errorParts, SSE_HEADERS } from "./responses.js";
import { nodeSink } from "./sink.js";

/** Base URL used to parse `req.url` (only the path and query are read). */
const BASE = "http://herald.invalid";

/** Serves one SSE subscription on a Node response; see {@link handleSseFetch} for the contract. */
export async function handleSseNode(core: HeraldCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let admitted;
  try {
    const url = new URL(req.url ?? "/", BASE);
    admitted = await admit(core.options, url, (name) => headerOf(req, name), req.socket.remoteAddress);
  } catch (error) {
    const { status, headers, body } = errorParts(error);
    if (!res.headersSent) res.writeHead(status, headers);
    res.end(body);
    return;
  }
  if (res.destroyed || req.destroyed) return;
  res.writeHead(200, SSE_HEADERS);
  req.socket.setNoDelay(true);
  req.socket.setKeepAlive(true);
  const sink = nodeSink(res);
  sink.write(openingBytes(core.retryMs));
  const sub = core.createSubscriber(admitted, sink);
  const cleanup = (): void => core.hub.detach(sub, "client_closed");
  res.once("close", cleanup);
  core.start(sub, admitted);
}

function headerOf(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : value;
}
