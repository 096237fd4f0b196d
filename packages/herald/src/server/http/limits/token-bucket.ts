/**
 * A keyed token-bucket rate limiter with a bounded number of keys (so a flood of keys can't grow
 * memory) whose idle keys expire by time: a bucket that has refilled to full is the same as no
 * bucket, so a sweep on an unref'd timer (running only while keys are held) forgets it.
 */
import { Sweeper } from "../../../timers/sweeper.js";

/** Bucket settings: `capacity` tokens, refilled at `refillPerSecond`. */
export interface BucketOptions {
  /** Burst size. */
  capacity: number;
  /** Sustained rate. */
  refillPerSecond: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

/** Default most keys tracked per limiter. */
export const DEFAULT_MAX_KEYS = 100_000;

/** See the module comment. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly sweeper = new Sweeper(() => this.sweep());
  /** Time for an empty bucket to refill, in ms: past it an untouched bucket is full, so forgettable. */
  private readonly refillMs: number;

  constructor(
    private readonly options: BucketOptions,
    private readonly now: () => number = Date.now,
    /** Most keys tracked; the least recently used is forgotten first (it then starts full). */
    private readonly maxKeys = DEFAULT_MAX_KEYS,
  ) {
    if (!(options.capacity >= 1) || !(options.refillPerSecond > 0)) {
      throw new RangeError("token bucket needs capacity >= 1 and refillPerSecond > 0");
    }
    if (!(maxKeys >= 1)) throw new RangeError("token bucket needs maxKeys >= 1");
    this.refillMs = (options.capacity / options.refillPerSecond) * 1000;
  }

  /**
   * Takes one token for `key`. Returns 0 when allowed, else the seconds until a token is available
   * (for `Retry-After`).
   */
  take(key: string): number {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key); // re-insert: Map order is least recently used first
      const elapsed = Math.max(0, now - bucket.updated) / 1000;
      bucket.tokens = Math.min(this.options.capacity, bucket.tokens + elapsed * this.options.refillPerSecond);
      bucket.updated = now;
    } else {
      bucket = { tokens: this.options.capacity, updated: now };
      while (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, bucket);
    this.ensureTimer();
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return (1 - bucket.tokens) / this.options.refillPerSecond;
  }

  /** Forgets every bucket that has refilled to full (it would behave exactly as a new one). */
  sweep(): void {
    const now = this.now();
    const { capacity, refillPerSecond } = this.options;
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (Math.max(0, now - bucket.updated) / 1000) * refillPerSecond >= capacity) {
        this.buckets.delete(key);
      }
    }
    if (this.buckets.size === 0) this.sweeper.stop();
  }

  /** Stops the sweep timer and forgets every bucket. */
  close(): void {
    this.buckets.clear();
    this.sweeper.stop();
  }

  /** Keys currently tracked. */
  get size(): number {
    return this.buckets.size;
  }

  private ensureTimer(): void {
    // Sweep about twice per refill period, between 1 s and 60 s.
    const every = Math.min(60_000, Math.max(1000, Math.floor(this.refillMs / 2)));
    this.sweeper.start(every);
  }
}
