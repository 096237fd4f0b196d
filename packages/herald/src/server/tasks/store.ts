/** Where task state is kept: the `TaskStore` contract and its in-memory implementation. */
import { isFinished, type TaskSnapshot } from "./types.js";
import { Sweeper } from "../../timers/sweeper.js";

/**
 * Storage for task state. Shaped so a Redis store maps onto it: `put` → `SET task:{id} … [PX ttl]`
 * plus `SADD owner:{ownerId} id`, `get` → `GET`, `delete` → `DEL` + `SREM`, `list` → `SMEMBERS` then
 * `MGET` (dropping members that expired).
 */
export interface TaskStore {
  /** The task's state, or null when unknown or expired. */
  get(id: string): Promise<TaskSnapshot | null>;
  /** Stores the state; with `ttlMs` it expires that long from now, without it it is kept. */
  put(state: TaskSnapshot, ttlMs?: number): Promise<void>;
  /** Forgets a task. */
  delete(id: string): Promise<void>;
  /** Every live task of one owner, newest first. */
  list(ownerId: string): Promise<TaskSnapshot[]>;
}

/** Options for {@link MemoryTaskStore}. */
export interface MemoryTaskStoreOptions {
  /**
   * Most tasks held (default 10,000). Past it, expired tasks are swept, then the oldest finished
   * ones are dropped; unfinished tasks are never dropped.
   */
  maxTasks?: number;
  /**
   * How often expired (finished, past their TTL) tasks are swept, in ms (default 30,000), on an
   * unref'd timer that runs only while a task with a TTL is held.
   */
  sweepIntervalMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

interface Entry {
  state: TaskSnapshot;
  until: number;
}

/**
 * The in-process {@link TaskStore}: fine for one server process. Expired tasks are swept on a timer
 * (unref'd, stopped when no task with a TTL is held, or on `close()`) and whenever they are read.
 */
export class MemoryTaskStore implements TaskStore {
  private readonly entries = new Map<string, Entry>();
  private readonly max: number;
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private readonly sweeper = new Sweeper(() => this.sweep());

  constructor(options: MemoryTaskStoreOptions = {}) {
    this.max = options.maxTasks ?? 10_000;
    this.now = options.now ?? Date.now;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 30_000;
  }

  /** Drops every expired task now (the timer does this on its own). */
  sweep(): void {
    const now = this.now();
    let expiring = 0;
    for (const [id, entry] of this.entries) {
      if (entry.until <= now) this.entries.delete(id);
      else if (entry.until !== Infinity) expiring++;
    }
    if (expiring === 0) this.sweeper.stop();
  }

  /** Stops the sweep timer (the tasks held are kept). */
  close(): void {
    this.sweeper.stop();
  }

  /** Tasks held (expired ones not yet swept included). */
  get size(): number {
    return this.entries.size;
  }

  get(id: string): Promise<TaskSnapshot | null> {
    const entry = this.live(id);
    return Promise.resolve(entry ? structuredClone(entry.state) : null);
  }

  put(state: TaskSnapshot, ttlMs?: number): Promise<void> {
    const existing = this.entries.get(state.id);
    if (!existing && this.entries.size >= this.max) this.makeRoom();
    this.entries.set(state.id, {
      state: structuredClone(state),
      until: ttlMs === undefined ? Infinity : this.now() + ttlMs,
    });
    if (ttlMs !== undefined) this.sweeper.start(this.sweepIntervalMs);
    return Promise.resolve();
  }

  delete(id: string): Promise<void> {
    this.entries.delete(id);
    return Promise.resolve();
  }

  list(ownerId: string): Promise<TaskSnapshot[]> {
    const out: TaskSnapshot[] = [];
    for (const id of [...this.entries.keys()]) {
      const entry = this.live(id);
      if (entry && entry.state.ownerId === ownerId) out.push(structuredClone(entry.state));
    }
    out.sort((a, b) => b.createdAt - a.createdAt);
    return Promise.resolve(out);
  }

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry && entry.until <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry;
  }

  private makeRoom(): void {
    const now = this.now();
    for (const [id, entry] of this.entries) if (entry.until <= now) this.entries.delete(id);
    for (const [id, entry] of this.entries) {
      if (this.entries.size < this.max) return;
      if (isFinished(entry.state.status)) this.entries.delete(id);
    }
  }
}
