/** Options of `createHerald` and the context handed to app callbacks. */
import type { PresenceOptions } from "./core/presence.js";
import type { PresenceStore } from "./core/presence-store.js";
import type { RequestContext } from "./auth/request-context.js";
import type { DefaultAuthorizeOptions } from "./auth/authorize.js";
import type { TokensOptions } from "./auth/tokens/tokens.js";
import type { ClientPublishOptions } from "./http/client-publish.js";
import type { SessionRequest } from "./http/routes.js";
import type { TasksOptions } from "./tasks/tasks.js";
import type { Broker } from "../brokers/types.js";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "./core/publish.js";
import type { CorsOptions } from "./http/cors.js";
import type { LimitOptions } from "./http/limits/limits.js";
import type { TrustProxy } from "./http/limits/client-ip.js";
import type { Principal } from "./core/subscriber.js";
import type { TokenStore } from "./auth/tokens/store.js";
import type { TaskStore } from "./tasks/store.js";
import type { Tasks } from "./tasks/tasks.js";
import type { RateLimiterBackend } from "./http/limits/backend.js";
import type { HeraldLogger } from "./observability/logger.js";
import type { MetricsOptions } from "./observability/metrics.js";
import type { ChannelMap, Channels } from "../protocol/channels.js";

export type { RequestContext };

/**
 * State shared by every process of an app (what {@link HeraldOptions.redis} takes): the broker,
 * token and task stores, the rate limits' backend, and cross-process task cancels. `heraldRedis()`
 * from `herald/redis` makes one.
 */
export interface SharedState {
  readonly broker: Broker;
  readonly tokenStore: TokenStore;
  readonly taskStore: TaskStore;
  readonly limiterBackend: RateLimiterBackend;
  /** Wraps the task runner so a cancel on any process reaches the job wherever it runs. */
  wrapTasks(tasks: Tasks): Tasks;
  /** Presence members shared by every process (made on first use). */
  readonly presence?: PresenceStore;
  /** Closes its connections (the Herald's `close()` calls it). */
  close(): Promise<void>;
  /**
   * Tells `watcher` of its connection's state changes and errors (for logs and metrics); returns
   * the function that stops it.
   */
  watch?(watcher: (change: SharedStateChange) => void): () => void;
}

/** A state change of the shared state's connection: `ready`, `reconnecting`, `end`, or `error` with the error. */
export interface SharedStateChange {
  readonly state: string;
  readonly error?: unknown;
}

/** Options for {@link createHerald}. Every field has a safe default. */
export interface HeraldOptions {
  /**
   * Your session lookup: the signed-in user's id for a request, or null when signed out. With it,
   * Herald issues tokens to signed-in users on its token route, serves the task routes, and guards
   * channels with {@link defaultAuthorize}'s rules (`user-{id}` for that user, `task-{id}` for the
   * task's owner, `private-*`/`presence-*` by `authorizePrivate`, the rest public). In a Next.js
   * app it can ignore the request and read `cookies()` itself.
   */
  getUserId?: (request: SessionRequest) => string | null | undefined | Promise<string | null | undefined>;
  /** Public channels readable without signing in (default true). Only with `getUserId`. */
  allowAnonymous?: boolean;
  /** Decides `private-*` and `presence-*` channels (denied without it). Only with `getUserId`. */
  authorizePrivate?: DefaultAuthorizeOptions["authorizePrivate"];
  /**
   * Presence on SSE (and the store the Pusher WebSocket server shares): a signed-in stream that
   * follows a `presence-*` channel (allowed by `authorizePrivate`) joins it as its user, receives
   * the member list, and sees who comes and goes; `usePresence` shows it. `userInfo` says what
   * others see of a member (default null). The store is in memory, or Redis's with `redis`.
   */
  presence?: PresenceOptions;
  /** Token lifetime and store (defaults: 60 s, in memory). */
  tokens?: TokensOptions;
  /** Task store, retention and limits (defaults: in memory, see `TasksOptions`). */
  tasks?: TasksOptions;
  /**
   * Lets signed-in browsers publish `client-*` events on `POST …/publish` when this says yes (see
   * `createClientPublisher`). Default: the route is off.
   */
  authorizePublish?: ClientPublishOptions["authorizePublish"];
  /**
   * Typed channels (`defineChannels({...})`): `publish` is type-checked against them, and every
   * publish on a declared channel (server, `POST …/publish`, the Pusher HTTP API, WebSocket client
   * events) is validated by the event's schema before anything is stored: an undeclared event is
   * refused with `invalid_event`, invalid data with `invalid_event_data` (400), and what is
   * published is the schema's output. Channels the map does not declare stay untyped. Herald's
   * own events (tasks, `task.started`) are not checked. Default: none.
   */
  channels?: Channels<ChannelMap>;
  /**
   * One instance per process under this name (`true`: `"default"`): a second `createHerald` with
   * the same name returns the first instance, so a module re-evaluated by a dev server's hot
   * reload, or loaded by both a custom server and the Next app, shares one Herald. Its options are
   * the first call's.
   */
  singleton?: boolean | string;
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
  /**
   * Heartbeat interval (default 4,000 ms). Clients treat a connection silent for about two of them
   * as dead, so the default notices a stalled connection within 10 s; each heartbeat is one
   * 34-byte write per connection (8.5 B/s per connection).
   */
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
  /**
   * Whether a reverse proxy you run stands in front of Herald, and how many: how the client's
   * address is found on both paths (Node and Fetch, SSE and JSON routes) for the per-IP limits, and
   * whether `X-Forwarded-Host` is believed by the same-origin checks.
   * - `false` (default): no proxy. Node uses the socket address; `X-Forwarded-*` are ignored.
   * - `n` (a number): `n` proxies each append to `X-Forwarded-For`; the client is its `n`-th entry
   *   from the right. The usual setting behind one nginx / load balancer is `1`.
   * - `true`: the leftmost `X-Forwarded-For` entry (only if your proxy overwrites the header).
   * On the Fetch path, `clientIp` (when given) wins over this.
   */
  trustProxy?: TrustProxy;
  /**
   * Every part on Redis at once (broker, tokens, tasks, rate limits), for several processes or
   * machines: `redis: heraldRedis(process.env.HERALD_REDIS_URL)` with `heraldRedis` from
   * `herald/redis` (undefined without a URL: everything stays in memory). `broker`, `tokens.store`,
   * `tasks.store` and `limits.backend`, when given, win over it.
   */
  redis?: SharedState;
  /**
   * Prometheus metrics through `prom-client` (install it: an optional peer dependency, loaded only
   * when this is set). `{}` registers into a private registry; `{ registry }` into yours (several
   * instances may share one). Scrape them at `GET …/metrics` (`herald.routes`) or with
   * `herald.metrics.scrape()`. Default: off. See docs/operations.md for the names.
   */
  metrics?: MetricsOptions;
  /**
   * Where lifecycle logs go: any pino-compatible logger (`pino()`, or an object with `debug`,
   * `info`, `warn`, `error` taking the fields then the message). Connection lines are at debug,
   * floods are sampled, and no line carries a token, a cookie, a payload, a channel or a user id.
   * Default: warnings and errors on the console, nothing else.
   */
  logger?: HeraldLogger;
  /** Clock, injectable for tests. */
  now?: () => number;
}

/** The settings every part of a Herald instance reads, with their defaults: resolved once, in {@link resolveOptions}. */
export const DEFAULTS = {
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  maxChannelsPerConnection: 32,
  retryMs: 1000,
  coalesceMs: 50,
  heartbeatMs: 4_000,
  maxBufferedBytes: 1024 * 1024,
  allowAnonymous: true,
} as const;

/** {@link HeraldOptions} with every default applied once: what the parts of an instance read. */
export type ResolvedOptions = HeraldOptions & {
  -readonly [K in keyof typeof DEFAULTS]: (typeof DEFAULTS)[K] extends boolean ? boolean : number;
} & {
  now: () => number;
};

/** Applies the defaults to `options`, once per instance. Throws RangeError on a setting out of range. */
export function resolveOptions(options: HeraldOptions): ResolvedOptions {
  const resolved = { ...DEFAULTS, ...stripUndefined(options), now: options.now ?? Date.now } as ResolvedOptions;
  for (const key of [
    "maxPayloadBytes",
    "maxChannelsPerConnection",
    "retryMs",
    "heartbeatMs",
    "maxBufferedBytes",
  ] as const) {
    if (!(resolved[key] > 0)) throw new RangeError(`${key} must be a positive number`);
  }
  if (!(resolved.coalesceMs >= 0)) throw new RangeError("coalesceMs must be 0 or more");
  return resolved;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
