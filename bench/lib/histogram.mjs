/**
 * A fixed-resolution latency histogram: 0.05 ms buckets up to 60 s (one overflow bucket past it).
 * Recording is one array increment, so the load generator stays cheap with millions of samples.
 */
const RESOLUTION_MS = 0.05;
const MAX_MS = 60_000;
const BUCKETS = Math.ceil(MAX_MS / RESOLUTION_MS) + 1;

export class Histogram {
  constructor() {
    this.counts = new Uint32Array(BUCKETS);
    this.reset();
  }

  reset() {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
    this.negative = 0;
  }

  /** Records one latency in ms (negative values, from clock granularity, count as 0). */
  record(ms) {
    if (ms < 0) {
      this.negative++;
      ms = 0;
    }
    const b = Math.min(BUCKETS - 1, Math.floor(ms / RESOLUTION_MS));
    this.counts[b]++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  /** The latency (ms, bucket upper edge) below which `q` of the samples fall. */
  quantile(q) {
    if (this.count === 0) return null;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b];
      if (seen >= rank) return Math.min(this.max, (b + 1) * RESOLUTION_MS);
    }
    return this.max;
  }

  /** The non-empty buckets and totals, small enough to send over IPC (see {@link Histogram#merge}). */
  toSparse() {
    const buckets = [];
    for (let b = 0; b < BUCKETS; b++) if (this.counts[b] !== 0) buckets.push(b, this.counts[b]);
    return { buckets, count: this.count, sum: this.sum, max: this.max, negative: this.negative };
  }

  /** Adds another histogram's {@link Histogram#toSparse} (the load generators of one row). */
  merge(sparse) {
    for (let i = 0; i < sparse.buckets.length; i += 2) this.counts[sparse.buckets[i]] += sparse.buckets[i + 1];
    this.count += sparse.count;
    this.sum += sparse.sum;
    this.max = Math.max(this.max, sparse.max);
    this.negative += sparse.negative;
    return this;
  }

  summary() {
    const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
    return {
      count: this.count,
      meanMs: this.count ? round(this.sum / this.count) : null,
      p50Ms: round(this.quantile(0.5)),
      p90Ms: round(this.quantile(0.9)),
      p99Ms: round(this.quantile(0.99)),
      maxMs: round(this.max),
      negativeSamples: this.negative,
    };
  }
}
