/**
 * Timeouts and size limits for a Node `http.Server` that serves Herald, against slowloris clients
 * (headers sent a byte at a time), idle sockets and oversized requests. SSE responses are long-lived
 * by design; these limits apply to receiving the request, not to the stream.
 */
import type { Server, ServerOptions } from "node:http";

/** Settings for {@link hardenServer}. */
export interface HardenOptions {
  /** Time allowed to receive the request headers (default 10,000 ms). */
  headersTimeoutMs?: number;
  /** Time allowed to receive the whole request (default 30,000 ms). */
  requestTimeoutMs?: number;
  /** Idle time of a keep-alive socket between requests (default 5,000 ms). */
  keepAliveTimeoutMs?: number;
  /** Most request headers (default 64). */
  maxHeadersCount?: number;
}

/** Options to pass to `http.createServer(options, …)`: header bytes capped at 16 KiB (431 past it). */
export const HARDENED_SERVER_OPTIONS: ServerOptions = { maxHeaderSize: 16 * 1024 };

/** Applies the timeouts and limits to `server` and returns it. */
export function hardenServer<T extends Server>(server: T, options: HardenOptions = {}): T {
  server.headersTimeout = options.headersTimeoutMs ?? 10_000;
  server.requestTimeout = options.requestTimeoutMs ?? 30_000;
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 5_000;
  server.maxHeadersCount = options.maxHeadersCount ?? 64;
  // Node checks the timeouts on this interval; keep it below the shortest one.
  const check = Math.min(server.headersTimeout, server.requestTimeout, 30_000);
  (server as unknown as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.max(
    50,
    Math.floor(check / 4),
  );
  return server;
}
