/** Where issued tokens wait to be used: the `TokenStore` contract and its in-memory implementation. */
import { Sweeper } from "../../../timers/sweeper.js";

/** What is stored for one issued token. The secret itself is never stored, only its SHA-256. */
export interface TokenRecord {
  /** The user the token was issued to. */
  readonly userId: string;
  /** Channels the token is bound to, or null for any channel the authorizer allows. */
  readonly channels: readonly string[] | null;
  /** SHA-256 of the token's secret part, base64url. */
  readonly secretHash: string;
  /** When the token stops being accepted, ms since the epoch. */
  readonly expiresAt: number;
}

/**
 * Storage for tokens. Shaped so a Redis store maps onto it one call each:
 * `put` → `SET tok:{id} … PX ttl`, `take` → `GETDEL tok:{id}`, `markUsed` → `SET used:{id} 1 PX ttl`,
 * `wasUsed` → `EXISTS used:{id}`.
 */
export interface TokenStore {
  /** Stores `record` under `id` for `ttlMs`; after that the store may forget it. */
  put(id: string, record: TokenRecord, ttlMs: number): Promise<void>;
  /** Atomically reads and deletes the record under `id` (like `GETDEL`); null when there is none. */
  take(id: string): Promise<TokenRecord | null>;
  /** Remembers that `id` was consumed, for `ttlMs`, so a replay is told `token_used`. */
  markUsed(id: string, ttlMs: number): Promise<void>;
  /** True while `id` is remembered as consumed. */
  wasUsed(id: string): Promise<boolean>;
}

/** Options for {@link MemoryTokenStore}. */
export interface MemoryTokenStoreOptions {
  /** Most tokens held at once (default 100,000); past it the oldest is dropped. */
  maxTokens?: number;
  /** Most consumed-token tombstones held at once (default 100,000); past it the oldest is dropped. */
  maxTombstones?: number;
  /**
   * How often expired tokens and tombstones are swept, in ms (default 30,000), on an unref'd timer
   * that runs only while something is held: memory comes back without waiting for new tokens.
   */
  sweepIntervalMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

interface Entry<T> {
  value: T;
  until: number;
}

/** A bounded map whose entries expire; expired entries are swept as new ones come and by `sweepAll`. */
class ExpiringMap<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly max: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  set(key: string, value: T, ttlMs: number): void {
    this.entries.delete(key);
    this.sweep(8);
    if (this.entries.size >= this.max) this.sweep(Infinity);
    while (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    this.entries.set(key, { value, until: this.now() + ttlMs });
  }

  get(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Drops every expired entry. */
  sweepAll(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.until <= now) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Drops expired entries from the oldest end, looking at no more than `budget` live ones. */
  private sweep(budget: number): void {
    const now = this.now();
    let looked = 0;
    for (const [key, entry] of this.entries) {
      if (entry.until <= now) this.entries.delete(key);
      else if (++looked >= budget) break;
    }
  }
}

/**
 * The in-process {@link TokenStore}: fine for one server process. Bounded by count; expired tokens
 * and tombstones are swept as new ones are stored and on a timer (unref'd, stopped when the store
 * is empty or closed), so memory comes back after a burst. Use a shared store (Redis) when several
 * processes serve the same users, or a token issued by one is unknown to the others.
 */
export class MemoryTokenStore implements TokenStore {
  private readonly tokens: ExpiringMap<TokenRecord>;
  private readonly used: ExpiringMap<true>;
  private readonly sweepIntervalMs: number;
  private readonly sweeper = new Sweeper(() => this.sweep());

  constructor(options: MemoryTokenStoreOptions = {}) {
    const now = options.now ?? Date.now;
    this.tokens = new ExpiringMap(options.maxTokens ?? 100_000, now);
    this.used = new ExpiringMap(options.maxTombstones ?? 100_000, now);
    this.sweepIntervalMs = options.sweepIntervalMs ?? 30_000;
  }

  /** Tombstones currently held (expired ones not yet swept included). */
  get tombstones(): number {
    return this.used.size;
  }

  /** Drops every expired token and tombstone now (the timer does this on its own). */
  sweep(): void {
    this.tokens.sweepAll();
    this.used.sweepAll();
    if (this.tokens.size === 0 && this.used.size === 0) this.sweeper.stop();
  }

  /** Stops the sweep timer and forgets everything. */
  close(): void {
    this.sweeper.stop();
    this.tokens.clear();
    this.used.clear();
  }

  /** Tokens currently held (expired ones not yet swept included). */
  get size(): number {
    return this.tokens.size;
  }

  put(id: string, record: TokenRecord, ttlMs: number): Promise<void> {
    this.tokens.set(id, record, ttlMs);
    this.sweeper.start(this.sweepIntervalMs);
    return Promise.resolve();
  }

  take(id: string): Promise<TokenRecord | null> {
    const record = this.tokens.get(id) ?? null;
    this.tokens.delete(id);
    return Promise.resolve(record);
  }

  markUsed(id: string, ttlMs: number): Promise<void> {
    this.used.set(id, true, ttlMs);
    this.sweeper.start(this.sweepIntervalMs);
    return Promise.resolve();
  }

  wasUsed(id: string): Promise<boolean> {
    return Promise.resolve(this.used.get(id) === true);
  }
}
