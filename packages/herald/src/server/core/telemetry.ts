/**
 * The one place that counts what happens to an instance beyond the hub's own counts: connections
 * opened and closed, requests refused (by route and code), tokens issued, publishes by result,
 * resumes by result, tasks started and finished, bytes delivered by poll. It also tells whoever
 * listens (the logger, the metrics' histograms) about each lifecycle event as it happens.
 * `herald.stats().counters` reads it; the Prometheus metrics read `herald.stats()`. Nothing here
 * carries a channel name, a user id, a token or a payload. Dependency-free: it is core.
 */
import type { HeraldErrorCode } from "../../protocol/errors.js";

/** A lifecycle event, as {@link Telemetry} counts it and tells its listeners. */
export type LifecycleEvent =
  /** A connection (SSE stream, long-poll request, WebSocket) passed admission and opened. */
  | { readonly type: "connection.open"; readonly transport: string; readonly channels: number }
  /** A connection ended: `reason` is a bounded code (`client_closed`, `slow_consumer`, `rotate`, an error code…). */
  | {
      readonly type: "connection.close";
      readonly transport: string;
      readonly reason: string;
      readonly durationMs: number;
      readonly channels: number;
    }
  /** A request refused before it was served (`route`: `sse`, `poll`, `token`, `websocket`…). */
  | { readonly type: "refused"; readonly route: string; readonly code: HeraldErrorCode }
  /** A subscription token was issued. */
  | { readonly type: "token.issued" }
  /** A publish finished: `ok`, `rejected` (invalid input) or `error` (the broker failed). */
  | {
      readonly type: "publish";
      readonly result: "ok" | "rejected" | "error";
      readonly durationMs: number;
      readonly code?: HeraldErrorCode | undefined;
    }
  /** A connection resumed from a cursor: `recovered` (every missed event replayed) or `gap`. */
  | { readonly type: "resume"; readonly transport: string; readonly result: "recovered" | "gap" }
  /** Gaps told to one resuming client, one per channel. */
  | { readonly type: "gap"; readonly transport: string; readonly channels: number; readonly reason: string }
  /** A subscriber dropped for not reading fast enough. */
  | { readonly type: "slow_consumer"; readonly transport: string }
  /** The broker's log restarted (a new epoch) under live subscribers, who reconnect and get a gap. */
  | { readonly type: "epoch.changed"; readonly subscribers: number }
  /** A task's job started on this process. */
  | { readonly type: "task.start"; readonly taskId: string }
  /** A task ended: `succeeded`, `failed` or `canceled`. */
  | { readonly type: "task.end"; readonly taskId: string; readonly status: string; readonly durationMs: number }
  /** The instance began shutting down: it refuses new connections and ends the open ones. */
  | { readonly type: "draining" }
  /** The shared state's connection (Redis) changed state, or failed. */
  | { readonly type: "redis"; readonly state: string; readonly error?: string | undefined };

/** What {@link Telemetry.counters} returns: totals since start. */
export interface TelemetryCounters {
  /** Connections opened, by transport. */
  readonly opened: Readonly<Record<string, number>>;
  /** Connections closed, by transport, then reason. */
  readonly closed: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Requests refused, by route, then error code. */
  readonly refused: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Subscription tokens issued. */
  readonly tokensIssued: number;
  /** Publishes, by result (`ok`, `rejected`, `error`). */
  readonly publishes: Readonly<Record<string, number>>;
  /** Resumes from a cursor, by transport, then result (`recovered`, `gap`). */
  readonly resumes: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Bytes of answers written by transports the hub does not write for (`poll`), by transport. */
  readonly deliveredBytes: Readonly<Record<string, number>>;
  /** Tasks whose job started on this process. */
  readonly tasksStarted: number;
  /** Tasks ended, by status. */
  readonly tasksFinished: Readonly<Record<string, number>>;
  /** Errors of the shared state's connection (Redis). */
  readonly redisErrors: number;
}

type Counts = Record<string, number>;

function bump(counts: Counts, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

function bump2(counts: Record<string, Counts>, outer: string, inner: string): void {
  bump((counts[outer] ??= Object.create(null) as Counts), inner);
}

function copy2(counts: Record<string, Counts>): Record<string, Counts> {
  const out: Record<string, Counts> = {};
  for (const [key, inner] of Object.entries(counts)) out[key] = { ...inner };
  return out;
}

/** See the module comment. One per instance (`herald.core.telemetry`). */
export class Telemetry {
  private readonly opened: Counts = Object.create(null) as Counts;
  private readonly closed: Record<string, Counts> = Object.create(null) as Record<string, Counts>;
  private readonly refused: Record<string, Counts> = Object.create(null) as Record<string, Counts>;
  private readonly publishes: Counts = Object.create(null) as Counts;
  private readonly resumes: Record<string, Counts> = Object.create(null) as Record<string, Counts>;
  private readonly bytes: Counts = Object.create(null) as Counts;
  private readonly finished: Counts = Object.create(null) as Counts;
  private tokensIssued = 0;
  private tasksStarted = 0;
  private redisErrors = 0;
  private listeners: ((event: LifecycleEvent) => void)[] = [];
  private lagListeners: ((seconds: number) => void)[] = [];

  /** True while a listener wants lifecycle events (callers skip measuring durations otherwise). */
  get observed(): boolean {
    return this.listeners.length > 0;
  }

  /** True while a listener wants the bus lag of each event received (see {@link Telemetry.lag}). */
  get lagObserved(): boolean {
    return this.lagListeners.length > 0;
  }

  /** Counts `event` and tells every listener. */
  record(event: LifecycleEvent): void {
    switch (event.type) {
      case "connection.open":
        bump(this.opened, event.transport);
        break;
      case "connection.close":
        bump2(this.closed, event.transport, event.reason);
        break;
      case "refused":
        bump2(this.refused, event.route, event.code);
        break;
      case "token.issued":
        this.tokensIssued++;
        break;
      case "publish":
        bump(this.publishes, event.result);
        break;
      case "resume":
        bump2(this.resumes, event.transport, event.result);
        break;
      case "task.start":
        this.tasksStarted++;
        break;
      case "task.end":
        bump(this.finished, event.status);
        break;
      case "redis":
        if (event.error !== undefined) this.redisErrors++;
        break;
      default:
        break;
    }
    for (const listener of this.listeners) listener(event);
  }

  /** Adds bytes written to clients by `transport` (only for transports the hub does not count). */
  addBytes(transport: string, bytes: number): void {
    bump(this.bytes, transport, bytes);
  }

  /** Tells the lag listeners how long an event took from its publish to its receipt here, in seconds. */
  lag(seconds: number): void {
    for (const listener of this.lagListeners) listener(seconds);
  }

  /** Calls `listener` with every lifecycle event from now on; returns the function that stops it. */
  listen(listener: (event: LifecycleEvent) => void): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** Calls `listener` with the bus lag of every event this process receives; returns the function that stops it. */
  listenLag(listener: (seconds: number) => void): () => void {
    this.lagListeners = [...this.lagListeners, listener];
    return () => {
      this.lagListeners = this.lagListeners.filter((l) => l !== listener);
    };
  }

  /** The totals since start (copies). */
  counters(): TelemetryCounters {
    return {
      opened: { ...this.opened },
      closed: copy2(this.closed),
      refused: copy2(this.refused),
      tokensIssued: this.tokensIssued,
      publishes: { ...this.publishes },
      resumes: copy2(this.resumes),
      deliveredBytes: { ...this.bytes },
      tasksStarted: this.tasksStarted,
      tasksFinished: { ...this.finished },
      redisErrors: this.redisErrors,
    };
  }
}

/**
 * Tracks open connections of one transport for {@link Telemetry}: `open` when one is accepted,
 * `close` when it ends (idempotent); the duration is measured between them.
 */
export class ConnectionTracker<K extends object> {
  private readonly openedAt = new WeakMap<K, number>();

  constructor(
    private readonly telemetry: Telemetry,
    private readonly transport: string,
  ) {}

  /** Records that `connection` opened with `channels` channels. */
  open(connection: K, channels: number): void {
    this.openedAt.set(connection, performance.now());
    this.telemetry.record({ type: "connection.open", transport: this.transport, channels });
  }

  /** Records that `connection` closed for `reason` (once; later calls do nothing). */
  close(connection: K, reason: string, channels: number): void {
    const at = this.openedAt.get(connection);
    if (at === undefined) return;
    this.openedAt.delete(connection);
    this.telemetry.record({
      type: "connection.close",
      transport: this.transport,
      reason,
      durationMs: performance.now() - at,
      channels,
    });
  }
}
