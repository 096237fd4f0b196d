/**
 * Abuse limits: connection attempts per IP and per user (token buckets, 429 with `Retry-After`),
 * concurrent connections per user and per IP, and a rate per user and per IP on every JSON route.
 * Idle buckets expire by time (see `TokenBuckets`); the number of keys each tracks is capped. The
 * rates count where `LimitOptions.backend` says: in this process by default, or shared (see `backend.ts`).
 */
import { HeraldError } from "../../../protocol/errors.js";
import { memoryBackend, type KeyedRateLimiter, type RateLimiterBackend } from "./backend.js";
import { DEFAULT_MAX_KEYS, type BucketOptions } from "./token-bucket.js";

/** The JSON routes that are rate limited (see `serveJson`). */
export type RouteKind = "token" | "tasks" | "task" | "cancel" | "publish";

/** Rate limits of one JSON route. `false` turns one off. */
export interface RouteLimit {
  /** Requests per signed-in user. */
  perUser?: BucketOptions | false;
  /** Requests per client address (see `trustProxy`), counted before authentication. */
  perIp?: BucketOptions | false;
}

/**
 * Defaults per route: bursts for a page load, sustained rates well above what the client does
 * (one token per (re)connect, task polling a few times a second).
 */
export const DEFAULT_ROUTE_LIMITS: Readonly<Record<RouteKind, Required<RouteLimit>>> = {
  token: { perUser: { capacity: 60, refillPerSecond: 2 }, perIp: { capacity: 120, refillPerSecond: 5 } },
  tasks: { perUser: { capacity: 90, refillPerSecond: 3 }, perIp: { capacity: 180, refillPerSecond: 10 } },
  task: { perUser: { capacity: 60, refillPerSecond: 5 }, perIp: { capacity: 120, refillPerSecond: 20 } },
  cancel: { perUser: { capacity: 20, refillPerSecond: 2 }, perIp: { capacity: 60, refillPerSecond: 10 } },
  publish: { perUser: { capacity: 40, refillPerSecond: 20 }, perIp: { capacity: 100, refillPerSecond: 50 } },
};

const ROUTE_KINDS = Object.keys(DEFAULT_ROUTE_LIMITS) as RouteKind[];

/** Limit settings. Every field has a default; pass `false` to turn one off. */
export interface LimitOptions {
  /** Connection attempts per client IP (default: burst 120, 4/s: room for reloads and channel changes behind one NAT). */
  connectPerIp?: BucketOptions | false;
  /** Connection attempts per authenticated user (default: burst 60, 2/s: dozens of reloads and task starts in a row). */
  connectPerUser?: BucketOptions | false;
  /** Open connections per authenticated user (default 20). */
  maxConnectionsPerUser?: number | false;
  /** Open connections per client IP, anonymous ones included (default 200: room for a NAT'd office). */
  maxConnectionsPerIp?: number | false;
  /** Longest request URL accepted, in characters (default 4,096); longer gets 414. */
  maxUrlLength?: number;
  /**
   * Rates of the JSON routes (`token`, `tasks`, `task` (one snapshot), `cancel`, `publish`), per
   * user and per address: 429 `rate_limited` with `Retry-After` past them. Each route and each side
   * defaults to {@link DEFAULT_ROUTE_LIMITS}; `false` turns a route's limits off.
   */
  routes?: { [K in RouteKind]?: RouteLimit | false };
  /**
   * Most keys (users or addresses) each rate limiter tracks (default 100,000); past it the least
   * recently seen is forgotten (and starts again with a full bucket). Idle keys also expire by time.
   */
  maxTrackedKeys?: number;
  /**
   * Where the rates count (default {@link memoryBackend}: token buckets in this process). With
   * `createHerald({ redis })` they count in Redis, shared by every process. Open-connection caps
   * (`maxConnectionsPerUser`, `maxConnectionsPerIp`) stay per process.
   */
  backend?: RateLimiterBackend;
}

/** Enforces {@link LimitOptions}. One instance per Herald. */
export class Limits {
  private readonly perIp: KeyedRateLimiter | null;
  private readonly perUser: KeyedRateLimiter | null;
  private readonly openByUser = new Map<string, number>();
  private readonly openByIp = new Map<string, number>();
  readonly maxUrlLength: number;
  private readonly maxPerUser: number;
  private readonly maxPerIp: number;
  private readonly routeBuckets = new Map<RouteKind, { user: KeyedRateLimiter | null; ip: KeyedRateLimiter | null }>();

  constructor(options: LimitOptions = {}, now: () => number = Date.now) {
    const backend = options.backend ?? memoryBackend;
    const context = { maxKeys: options.maxTrackedKeys ?? DEFAULT_MAX_KEYS, now };
    const make = (name: string, bucket: BucketOptions) => backend.create(name, bucket, context);
    const ip = options.connectPerIp === undefined ? { capacity: 120, refillPerSecond: 4 } : options.connectPerIp;
    const user = options.connectPerUser === undefined ? { capacity: 60, refillPerSecond: 2 } : options.connectPerUser;
    this.perIp = ip ? make("connect-ip", ip) : null;
    this.perUser = user ? make("connect-user", user) : null;
    for (const kind of ROUTE_KINDS) {
      const given = options.routes?.[kind];
      const defaults = DEFAULT_ROUTE_LIMITS[kind];
      const perUser = given === false ? false : given?.perUser === undefined ? defaults.perUser : given.perUser;
      const perIp = given === false ? false : given?.perIp === undefined ? defaults.perIp : given.perIp;
      this.routeBuckets.set(kind, {
        user: perUser ? make(`${kind}-user`, perUser) : null,
        ip: perIp ? make(`${kind}-ip`, perIp) : null,
      });
    }
    this.maxPerUser = options.maxConnectionsPerUser === false ? Infinity : (options.maxConnectionsPerUser ?? 20);
    this.maxPerIp = options.maxConnectionsPerIp === false ? Infinity : (options.maxConnectionsPerIp ?? 200);
    this.maxUrlLength = options.maxUrlLength ?? 4096;
  }

  /** Checks the URL length (414 `invalid_request`). */
  checkUrl(url: string): void {
    if (url.length > this.maxUrlLength) {
      throw new HeraldError("invalid_request", `request URL is longer than ${this.maxUrlLength} characters`, {
        status: 414,
      });
    }
  }

  /**
   * Counts a request on a JSON route: against `ip`'s bucket when `ip` is known, and against
   * `userId`'s when it is given (call once with `userId` null before authentication, once with the
   * user after). Throws 429 `rate_limited` with `retryAfter` past either.
   */
  route(kind: RouteKind, userId: string | null, ip: string | undefined): void {
    const buckets = this.routeBuckets.get(kind);
    if (!buckets) return;
    if (ip !== undefined && buckets.ip) {
      const wait = buckets.ip.take(ip);
      if (wait > 0) throw rateLimited(`too many ${kind} requests from this address`, wait);
    }
    if (userId !== null && buckets.user) {
      const wait = buckets.user.take(userId);
      if (wait > 0) throw rateLimited(`too many ${kind} requests for this user`, wait);
    }
  }

  /** Keys tracked by every rate limiter together (for tests and stats). */
  trackedKeys(): number {
    let n = (this.perIp?.size ?? 0) + (this.perUser?.size ?? 0);
    for (const { user, ip } of this.routeBuckets.values()) n += (user?.size ?? 0) + (ip?.size ?? 0);
    return n;
  }

  /** Stops the sweep timers and forgets the buckets (connection counts are kept). */
  close(): void {
    this.perIp?.close();
    this.perUser?.close();
    for (const { user, ip } of this.routeBuckets.values()) {
      user?.close();
      ip?.close();
    }
  }

  /** Counts a connection attempt from `ip`; throws 429 `rate_limited` with `retryAfter` past the limit. */
  attemptFromIp(ip: string | undefined): void {
    if (!this.perIp || !ip) return;
    const wait = this.perIp.take(ip);
    if (wait > 0) throw rateLimited("too many connection attempts from this address", wait);
  }

  /** Counts a connection attempt by `userId`; throws 429 `rate_limited` past the limit. */
  attemptByUser(userId: string): void {
    if (!this.perUser) return;
    const wait = this.perUser.take(userId);
    if (wait > 0) throw rateLimited("too many connection attempts for this user", wait);
  }

  /**
   * Reserves a connection slot for `userId` (when authenticated) and for `ip` (when known); throws 429
   * `too_many_connections` when either is full. Returns the release function (idempotent).
   */
  acquire(userId: string | null, ip: string | undefined): () => void {
    this.takeSlot(userId, ip);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.freeSlot(userId, ip);
    };
  }

  /**
   * {@link acquire} without the release closure, for holders that keep their own "released" flag
   * (a WebSocket connection: one closure and its context less per connection). Pair with `freeSlot`.
   */
  takeSlot(userId: string | null, ip: string | undefined): void {
    if (userId !== null && (this.openByUser.get(userId) ?? 0) >= this.maxPerUser) {
      throw tooMany(`at most ${this.maxPerUser} open connections per user`, this.maxPerUser);
    }
    if (ip !== undefined && (this.openByIp.get(ip) ?? 0) >= this.maxPerIp) {
      throw tooMany(`at most ${this.maxPerIp} open connections per address`, this.maxPerIp);
    }
    if (userId !== null) increment(this.openByUser, userId, 1);
    if (ip !== undefined) increment(this.openByIp, ip, 1);
  }

  /** Frees a slot {@link takeSlot} took (once per take). */
  freeSlot(userId: string | null, ip: string | undefined): void {
    if (userId !== null) increment(this.openByUser, userId, -1);
    if (ip !== undefined) increment(this.openByIp, ip, -1);
  }

  /** Open connections of `userId`. */
  connections(userId: string): number {
    return this.openByUser.get(userId) ?? 0;
  }

  /** Open connections from `ip`. */
  connectionsFrom(ip: string): number {
    return this.openByIp.get(ip) ?? 0;
  }
}

function increment(map: Map<string, number>, key: string, by: number): void {
  const next = (map.get(key) ?? 0) + by;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
}

function tooMany(message: string, limit: number): HeraldError {
  return new HeraldError("too_many_connections", message, { retryAfter: 5, details: { limit } });
}

function rateLimited(message: string, waitSeconds: number): HeraldError {
  return new HeraldError("rate_limited", message, { retryAfter: Math.ceil(waitSeconds) });
}
