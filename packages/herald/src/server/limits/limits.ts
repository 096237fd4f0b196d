/**
 * Abuse limits on subscriptions: connection attempts per IP and per user (token buckets, 429 with
 * `Retry-After`), and concurrent connections per user.
 */
import { HeraldError } from "../../protocol/errors.js";
import { TokenBuckets, type BucketOptions } from "./token-bucket.js";

/** Limit settings. Every field has a default; pass `false` to turn one off. */
export interface LimitOptions {
  /** Connection attempts per client IP (default: burst 30, 2/s). */
  connectPerIp?: BucketOptions | false;
  /** Connection attempts per authenticated user (default: burst 20, 1/s). */
  connectPerUser?: BucketOptions | false;
  /** Open connections per authenticated user (default 20). */
  maxConnectionsPerUser?: number | false;
  /** Longest request URL accepted, in characters (default 4,096); longer gets 414. */
  maxUrlLength?: number;
}

/** Enforces {@link LimitOptions}. One instance per Herald. */
export class Limits {
  private readonly perIp: TokenBuckets | null;
  private readonly perUser: TokenBuckets | null;
  private readonly open = new Map<string, number>();
  readonly maxUrlLength: number;
  private readonly maxPerUser: number;

  constructor(options: LimitOptions = {}, now: () => number = Date.now) {
    const ip = options.connectPerIp === undefined ? { capacity: 30, refillPerSecond: 2 } : options.connectPerIp;
    const user = options.connectPerUser === undefined ? { capacity: 20, refillPerSecond: 1 } : options.connectPerUser;
    this.perIp = ip ? new TokenBuckets(ip, now) : null;
    this.perUser = user ? new TokenBuckets(user, now) : null;
    this.maxPerUser = options.maxConnectionsPerUser === false ? Infinity : (options.maxConnectionsPerUser ?? 20);
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
   * Reserves one of `userId`'s concurrent connections; throws 429 `too_many_connections` when all are
   * in use. Returns the release function (idempotent).
   */
  acquire(userId: string): () => void {
    const count = this.open.get(userId) ?? 0;
    if (count >= this.maxPerUser) {
      throw new HeraldError("too_many_connections", `at most ${this.maxPerUser} open connections per user`, {
        retryAfter: 5,
        details: { limit: this.maxPerUser },
      });
    }
    this.open.set(userId, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(userId) ?? 1) - 1;
      if (left <= 0) this.open.delete(userId);
      else this.open.set(userId, left);
    };
  }

  /** Open connections of `userId`. */
  connections(userId: string): number {
    return this.open.get(userId) ?? 0;
  }
}

function rateLimited(message: string, waitSeconds: number): HeraldError {
  return new HeraldError("rate_limited", message, { retryAfter: Math.ceil(waitSeconds) });
}
