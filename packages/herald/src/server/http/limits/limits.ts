/**
 * Abuse limits on subscriptions: connection attempts per IP and per user (token buckets, 429 with
 * `Retry-After`), and concurrent connections per user.
 */
import { HeraldError } from "../../../protocol/errors.js";
import { TokenBuckets, type BucketOptions } from "./token-bucket.js";

/** Limit settings. Every field has a default; pass `false` to turn one off. */
export interface LimitOptions {
  /** Connection attempts per client IP (default: burst 30, 2/s). */
  connectPerIp?: BucketOptions | false;
  /** Connection attempts per authenticated user (default: burst 20, 1/s). */
  connectPerUser?: BucketOptions | false;
  /** Open connections per authenticated user (default 20). */
  maxConnectionsPerUser?: number | false;
  /** Open connections per client IP, anonymous ones included (default 200: room for a NAT'd office). */
  maxConnectionsPerIp?: number | false;
  /** Longest request URL accepted, in characters (default 4,096); longer gets 414. */
  maxUrlLength?: number;
}

/** Enforces {@link LimitOptions}. One instance per Herald. */
export class Limits {
  private readonly perIp: TokenBuckets | null;
  private readonly perUser: TokenBuckets | null;
  private readonly openByUser = new Map<string, number>();
  private readonly openByIp = new Map<string, number>();
  readonly maxUrlLength: number;
  private readonly maxPerUser: number;
  private readonly maxPerIp: number;

  constructor(options: LimitOptions = {}, now: () => number = Date.now) {
    const ip = options.connectPerIp === undefined ? { capacity: 30, refillPerSecond: 2 } : options.connectPerIp;
    const user = options.connectPerUser === undefined ? { capacity: 20, refillPerSecond: 1 } : options.connectPerUser;
    this.perIp = ip ? new TokenBuckets(ip, now) : null;
    this.perUser = user ? new TokenBuckets(user, now) : null;
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
    const byUser = userId === null ? null : userId;
    const byIp = ip ?? null;
    if (byUser !== null && (this.openByUser.get(byUser) ?? 0) >= this.maxPerUser) {
      throw tooMany(`at most ${this.maxPerUser} open connections per user`, this.maxPerUser);
    }
    if (byIp !== null && (this.openByIp.get(byIp) ?? 0) >= this.maxPerIp) {
      throw tooMany(`at most ${this.maxPerIp} open connections per address`, this.maxPerIp);
    }
    if (byUser !== null) increment(this.openByUser, byUser, 1);
    if (byIp !== null) increment(this.openByIp, byIp, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (byUser !== null) increment(this.openByUser, byUser, -1);
      if (byIp !== null) increment(this.openByIp, byIp, -1);
    };
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
