/**
 * Where the rate limits count: a {@link RateLimiterBackend} makes one keyed limiter per limit
 * (connection attempts per IP and per user, each JSON route per user and per IP). The default,
 * {@link memoryBackend}, keeps token buckets in this process; {@link flexibleBackend} counts in a
 * `rate-limiter-flexible` limiter (its memory or Redis store), so several processes share one count.
 */
import type { RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";
import { DEFAULT_MAX_KEYS, TokenBuckets, type BucketOptions } from "./token-bucket.js";
import { Sweeper } from "../../../timers/sweeper.js";

/** One keyed rate limiter. */
export interface KeyedRateLimiter {
  /** Counts one attempt for `key`: 0 when allowed, else the seconds until one is (for `Retry-After`). */
  take(key: string): number;
  /** Keys this process tracks (for tests and stats). */
  readonly size: number;
  /** Stops timers and forgets what this process tracks. */
  close(): void;
}

/** Makes the keyed limiters of one Herald. */
export interface RateLimiterBackend {
  /**
   * A limiter for the limit named `name` (`connect-ip`, `connect-user`, `{route}-user`, `{route}-ip`)
   * allowing `options.capacity` attempts at once, refilled at `options.refillPerSecond`.
   */
  create(name: string, options: BucketOptions, context: { maxKeys: number; now: () => number }): KeyedRateLimiter;
}

/** The default: token buckets in this process (each process counts alone). */
export const memoryBackend: RateLimiterBackend = {
  create: (_name, options, { maxKeys, now }) => new TokenBuckets(options, now, maxKeys),
};

/** Settings of one `rate-limiter-flexible` limiter, derived from a bucket. */
export interface FlexibleLimit {
  /** The limit's name, unique per Herald (use it in the key prefix). */
  name: string;
  /** Attempts per window: the bucket's capacity. */
  points: number;
  /** The window, in seconds: the time an empty bucket takes to refill (at least 1). */
  duration: number;
}

/** Options for {@link flexibleBackend}. */
export interface FlexibleBackendOptions {
  /** Receives store errors (the attempt is let through: a limiter outage never refuses everyone). */
  onError?: (error: unknown) => void;
}

/**
 * A backend over `rate-limiter-flexible`: `limiter` builds one of its limiters (for example
 * `RateLimiterRedis` on a shared connection, or `RateLimiterMemory`) per limit. A bucket of
 * `capacity` refilled at `refillPerSecond` becomes `capacity` points per window of
 * `capacity / refillPerSecond` seconds (same sustained rate, bursts counted per window).
 *
 * Every attempt is counted atomically in the store, but the admission checks are synchronous, so
 * each decision is taken from what the store last answered for that key in this process, less the
 * attempts it has let through since: a key this process has not seen starts as a full window, a
 * process that knows the key is spent refuses at once (with the window's remaining time as
 * `Retry-After`), and one that has not heard yet lets the attempt through and learns from the
 * answer. Alone, a process counts exactly; with N processes, a limit can be passed by about one
 * attempt per process per window (more only for attempts in flight at the same instant).
 */
export function flexibleBackend(
  limiter: (limit: FlexibleLimit) => RateLimiterAbstract,
  options: FlexibleBackendOptions = {},
): RateLimiterBackend {
  return {
    create(name, bucket, { maxKeys, now }) {
      if (!(bucket.capacity >= 1) || !(bucket.refillPerSecond > 0)) {
        throw new RangeError("rate limit needs capacity >= 1 and refillPerSecond > 0");
      }
      const points = Math.floor(bucket.capacity);
      const duration = Math.max(1, Math.ceil(bucket.capacity / bucket.refillPerSecond));
      return new FlexibleLimiter(
        limiter({ name, points, duration }),
        points,
        duration * 1000,
        maxKeys,
        now,
        options.onError,
      );
    },
  };
}

interface Known {
  /** Points left in the window as the store last said. */
  remaining: number;
  /** When that window ends (ms since the epoch). */
  resetAt: number;
  /** Attempts let through and not yet answered by the store. */
  inflight: number;
}

/** See {@link flexibleBackend}. */
class FlexibleLimiter implements KeyedRateLimiter {
  private readonly known = new Map<string, Known>();
  private readonly sweeper = new Sweeper(() => this.sweep());

  constructor(
    private readonly limiter: RateLimiterAbstract,
    /** What a key starts with before the store has answered: a full window. */
    private readonly points: number,
    private readonly windowMs: number,
    private readonly maxKeys = DEFAULT_MAX_KEYS,
    private readonly now: () => number = Date.now,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  get size(): number {
    return this.known.size;
  }

  take(key: string): number {
    const now = this.now();
    let entry = this.known.get(key);
    if (entry && entry.resetAt <= now && entry.inflight === 0) entry = undefined;
    if (entry && entry.resetAt > now && entry.remaining - entry.inflight <= 0) {
      return Math.max(0.001, (entry.resetAt - now) / 1000);
    }
    if (!entry) {
      entry = { remaining: this.points, resetAt: now + this.windowMs, inflight: 0 };
      this.known.delete(key);
      while (this.known.size >= this.maxKeys) this.known.delete(this.known.keys().next().value!);
      this.known.set(key, entry);
    }
    const current = entry;
    current.inflight++;
    const answered = (res: RateLimiterRes, spent: boolean) => {
      current.inflight--;
      current.remaining = spent ? 0 : res.remainingPoints;
      current.resetAt = this.now() + res.msBeforeNext;
    };
    this.limiter.consume(key).then(
      (res) => answered(res, false),
      (reason: unknown) => {
        if (reason instanceof Error || !reason || typeof reason !== "object") {
          current.inflight--;
          this.onError(reason);
        } else answered(reason as RateLimiterRes, true);
      },
    );
    this.sweeper.start(1000);
    return 0;
  }

  /** Forgets keys whose window has ended. */
  sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.known) if (entry.resetAt <= now && entry.inflight === 0) this.known.delete(key);
    if (this.known.size === 0) this.sweeper.stop();
  }

  close(): void {
    this.known.clear();
    this.sweeper.stop();
  }
}
