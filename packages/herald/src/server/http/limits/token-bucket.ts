/** A keyed token-bucket rate limiter with a bounded number of keys (so a flood of keys can't grow memory). */

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

/** See the module comment. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly options: BucketOptions,
    private readonly now: () => number = Date.now,
    /** Most keys tracked; the least recently used is forgotten first (it then starts full). */
    private readonly maxKeys = 100_000,
  ) {
    if (!(options.capacity >= 1) || !(options.refillPerSecond > 0)) {
      throw new RangeError("token bucket needs capacity >= 1 and refillPerSecond > 0");
    }
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
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return (1 - bucket.tokens) / this.options.refillPerSecond;
  }

  /** Keys currently tracked. */
  get size(): number {
    return this.buckets.size;
  }
}
