/**
 * Timeouts and size limits for a Node `http.Server` that serves Herald, against slowloris clients
 * (headers sent a byte at a time, many sockets from one address), idle sockets, oversized requests
 * and requests with more headers than the limit (refused, never silently truncated: a header past
 * the limit, such as an `Origin`, must not go unseen). SSE responses are long-lived by design;
 * these limits apply to receiving the request, not to the stream.
 */
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** Settings for {@link hardenServer}. */
export interface HardenOptions {
  /** Time allowed to receive the request headers (default 10,000 ms). */
  headersTimeoutMs?: number;
  /** Time allowed to receive the whole request (default 30,000 ms). */
  requestTimeoutMs?: number;
  /** Idle time of a keep-alive socket between requests (default 5,000 ms). */
  keepAliveTimeoutMs?: number;
  /** Most request headers (default 64); a request with more is refused with 431. */
  maxHeadersCount?: number;
  /**
   * Most sockets from one peer address that have not yet sent a whole request head (default 32);
   * past it new sockets from that address are closed at once. Slow-header sockets cost memory and
   * a file descriptor each until `headersTimeoutMs`. The address is the socket's peer (headers are
   * not read yet): behind a proxy that opens many connections at once, raise it or set `false`.
   */
  maxPendingPerIp?: number | false;
}

/** Options to pass to `http.createServer(options, …)`: header bytes capped at 16 KiB (431 past it). */
export const HARDENED_SERVER_OPTIONS: ServerOptions = { maxHeaderSize: 16 * 1024 };

const HARDENED = Symbol.for("herald.hardened");

/** Applies the timeouts and limits to `server` and returns it. */
export function hardenServer<T extends Server>(server: T, options: HardenOptions = {}): T {
  const maxHeaders = options.maxHeadersCount ?? 64;
  server.headersTimeout = options.headersTimeoutMs ?? 10_000;
  server.requestTimeout = options.requestTimeoutMs ?? 30_000;
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 5_000;
  // Node drops headers past `maxHeadersCount` without a word. Let one more through, so a request
  // over the limit can be seen, and refused, before any handler reads it.
  server.maxHeadersCount = maxHeaders + 1;
  // Node checks the timeouts on this interval; keep it below the shortest one.
  const check = Math.min(server.headersTimeout, server.requestTimeout, 30_000);
  (server as unknown as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.max(
    50,
    Math.floor(check / 4),
  );
  const state = server as unknown as { [HARDENED]?: { maxHeaders: number; maxPending: number } };
  const maxPending = options.maxPendingPerIp === false ? Infinity : (options.maxPendingPerIp ?? 32);
  if (state[HARDENED]) {
    // Hardened twice: the latest settings win, the hooks are installed once.
    state[HARDENED] = { maxHeaders, maxPending };
    return server;
  }
  state[HARDENED] = { maxHeaders, maxPending };
  const settings = (): { maxHeaders: number; maxPending: number } => state[HARDENED]!;

  // Sockets that have not sent a whole request head yet, per peer address.
  const pending = new Map<string, number>();
  const waiting = new WeakMap<Socket, string>();
  const settle = (socket: Socket): void => {
    const address = waiting.get(socket);
    if (address === undefined) return;
    waiting.delete(socket);
    const left = (pending.get(address) ?? 1) - 1;
    if (left <= 0) pending.delete(address);
    else pending.set(address, left);
  };
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined) return;
    const count = pending.get(address) ?? 0;
    if (count >= settings().maxPending) {
      socket.destroy();
      return;
    }
    pending.set(address, count + 1);
    waiting.set(socket, address);
    socket.once("close", () => settle(socket));
  });

  // Every event that means "a request head arrived" settles the socket; a request with too many
  // headers is answered 431 before any listener sees it, whatever order listeners were added in.
  const emit = server.emit as (this: T, event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = function (this: T, event: string | symbol, ...args: unknown[]): boolean {
    if (event === "request" || event === "checkContinue" || event === "checkExpectation") {
      const req = args[0] as IncomingMessage;
      settle(req.socket);
      if (req.rawHeaders.length / 2 > settings().maxHeaders) {
        refuse(args[1] as ServerResponse, settings().maxHeaders);
        return true;
      }
    } else if (event === "upgrade" || event === "connect") {
      const req = args[0] as IncomingMessage;
      settle(req.socket);
      if (req.rawHeaders.length / 2 > settings().maxHeaders) {
        (args[1] as Socket).destroy();
        return true;
      }
    }
    return emit.call(this, event, ...args);
  } as T["emit"];
  return server;
}

function refuse(res: ServerResponse, limit: number): void {
  const body = JSON.stringify({
    error: { code: "invalid_request", message: `more than ${limit} request headers`, limit },
  });
  res.shouldKeepAlive = false;
  res.writeHead(431, {
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "no-store",
    Connection: "close",
  });
  res.end(body);
}
