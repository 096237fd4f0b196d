/** Options of `createHerald` and the context handed to app callbacks. */
import type { RequestContext } from "./auth/request-context.js";
import type { Broker } from "../brokers/types.js";
import type { CorsOptions } from "./http/cors.js";
import type { LimitOptions } from "./http/limits/limits.js";
import type { Principal } from "./core/subscriber.js";

export type { RequestContext };

/** Options for {@link createHerald}. Every field has a safe default. */
export interface HeraldOptions {
  /** Where events are logged and fanned out. Default: a new `MemoryBroker`. */
  broker?: Broker;
  /** Largest serialized `data` accepted by `publish`, in bytes (default 64 KiB). */
  maxPayloadBytes?: number;
  /** Channels one connection may follow (default 32). */
  maxChannelsPerConnection?: number;
  /** Reconnection delay sent as `retry:` (default 1,000 ms). */
  retryMs?: number;
  /** Coalescing window for bursts, in ms (default 50; 0 writes every tick). See `HubOptions.coalesceMs`. */
  coalesceMs?: number;
  /** Heartbeat comment interval (default 15,000 ms). */
  heartbeatMs?: number;
  /** Unread bytes allowed per subscriber before it is dropped (default 1 MiB). */
  maxBufferedBytes?: number;
  /**
   * End each stream cleanly after this many ms (sending `retry:` first), so a serverless
   * platform's `maxDuration` never cuts one mid-event. Clients resume from their cursor.
   */
  rotateAfterMs?: number;
  /**
   * Identifies who is subscribing. Return a principal, or null for an anonymous subscriber; throw a
   * `HeraldError` (for example `token_expired`) to reject with that code. Default: anonymous.
   */
  authenticate?: (request: RequestContext) => Principal | null | Promise<Principal | null>;
  /**
   * Decides whether `principal` may follow `channel`; checked on every (re)connect for every
   * channel. Default: allow.
   */
  authorize?: (principal: Principal | null, channel: string, request: RequestContext) => boolean | Promise<boolean>;
  /** Abuse limits (connection attempts per IP and user, concurrent connections per user, URL length). */
  limits?: LimitOptions;
  /** Cross-origin policy. Default: same-origin browser requests only. */
  cors?: CorsOptions;
  /**
   * The client's IP for a Fetch request (used by the per-IP limit). Fetch requests carry no socket
   * address: behind a proxy you trust, read it from its header, e.g.
   * `(r) => r.headers.get("x-forwarded-for")?.split(",")[0]?.trim()`. Default: none (the per-IP
   * limit then applies only on the Node path, which reads the socket address).
   */
  clientIp?: (request: Request) => string | undefined;
  /** Clock, injectable for tests. */
  now?: () => number;
}
