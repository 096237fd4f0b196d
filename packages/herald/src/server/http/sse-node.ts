/** The SSE handler on Node's `http` (`IncomingMessage, ServerResponse`): the fast path. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { admit, originHeaders, type IncomingRequest } from "./admit.js";
import type { HeraldCore } from "./edge.js";
import { preflightHeaders } from "./cors.js";
import { errorParts, SSE_HEADERS } from "./responses.js";
import type { Socket } from "node:net";
import { nodeSink, prepareRawResponse, type Sink } from "../core/sink.js";
import { clientAddress } from "./limits/client-ip.js";

/** Base URL used to parse `req.url` (only the path and query are read). */
const BASE = "http://herald.invalid";

/** Serves one SSE subscription on a Node response; see {@link handleSseFetch} for the contract. */
export async function handleSseNode(core: HeraldCore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let cors: Record<string, string> = {};
  let admitted;
  try {
    const incoming: IncomingRequest = {
      url: new URL(req.url ?? "/", BASE),
      rawUrl: req.url ?? "/",
      header: (name) => headerOf(req, name),
      ip: nodeClientIp(core, req),
    };
    if (req.method === "OPTIONS") {
      const headers = preflightHeaders(
        core.options.cors,
        incoming.header("origin"),
        incoming.header("host"),
        incoming.url,
      );
      res.writeHead(204, headers).end();
      return;
    }
    cors = originHeaders(core.options, incoming);
    admitted = await admit(core.options, core.limits, incoming);
  } catch (error) {
    core.refused("sse", error);
    const { status, headers, body } = errorParts(error, cors);
    if (!res.headersSent) res.writeHead(status, headers);
    res.end(body);
    return;
  }
  if (res.destroyed || req.destroyed) {
    admitted.release();
    return;
  }
  prepareRawResponse(res);
  const { Connection: _keepAlive, ...headers } = SSE_HEADERS;
  res.writeHead(200, { ...headers, ...cors });
  req.socket.setNoDelay(true);
  req.socket.setKeepAlive(true);
  const sink = new SocketSink(nodeSink(res), req.socket);
  sink.write(core.openingBytes);
  // The connection slot is freed when the socket is really gone, not when the hub lets go of the
  // subscriber: a dropped or rotated client that does not read keeps its socket (and its slot)
  // until it leaves or the hub destroys it after the close grace.
  const release = admitted.release;
  admitted.release = () => {};
  req.socket.once("close", release);
  if (req.socket.destroyed) release();
  const sub = core.createSubscriber(admitted, sink);
  const cleanup = (): void => core.hub.detach(sub, "client_closed");
  res.once("close", cleanup);
  core.start(sub, admitted);
}

/**
 * The Node sink, whose `destroy()` also destroys the socket itself. Once an ended response has
 * handed its last bytes to the socket, the response lets go of it, and destroying the response no
 * longer reaches it: a client that never reads would keep the socket (and its buffered bytes).
 */
class SocketSink implements Sink {
  constructor(
    private readonly inner: Sink,
    private readonly socket: Socket,
  ) {}

  write(chunk: Uint8Array): void {
    this.inner.write(chunk);
  }

  buffered(): number {
    return Math.max(this.inner.buffered(), this.socket.writableLength);
  }

  end(last?: Uint8Array): void {
    this.inner.end(last);
  }

  destroy(): void {
    this.inner.destroy();
    this.socket.destroy();
  }
}

/** The client's address on the Node path: the socket's peer, or what a trusted proxy says (`trustProxy`). */
export function nodeClientIp(core: HeraldCore, req: IncomingMessage): string | undefined {
  return clientAddress(core.options.trustProxy, req.socket.remoteAddress, headerOf(req, "x-forwarded-for"));
}

/** Reads a request header as one string (repeated headers joined with ", "), or null. */
export function headerOf(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name.toLowerCase()];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : value;
}
