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
  /**
   * A publish finished: `ok`, `rejected` (invalid input) or `error` (the broker failed);
   * `namespace` is the channel's namespace label when the namespace label is on (never the name).
   */
  | {
      readonly type: "publish";
      readonly result: "ok" | "rejected" | "error";
      readonly durationMs: number;
      readonly code?: HeraldErrorCode | undefined;
      readonly namespace?: string | undefined;
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
  /** With the namespace label on: publishes by result, then namespace; deliveries by transport, then namespace. */
  readonly byNamespace?: {
    readonly publishes: Readonly<Record<string, Readonly<Record<string, number>>>>;
    readonly deliveries: Readonly<Record<string, Readonly<Record<string, number>>>>;
  };
}

/** The namespace of every channel whose name {@link channelNamespace} cannot vouch for, and past the cap. */
export const OTHER_NAMESPACE = "other";
/** Distinct namespaces an instance labels by default before the rest go to {@link OTHER_NAMESPACE}. */
export const MAX_NAMESPACES = 50;
/** Longest namespace label kept (a longer one is {@link OTHER_NAMESPACE}). */
const MAX_NAMESPACE_LENGTH = 48;
/** Pusher kinds a namespace keeps in front of the channel's first word. */
const KIND_PREFIX = /^(?:private-encrypted-|private-|presence-)?(?:cache-)?/;
/** What ends a channel name's first word. */
const SEPARATOR = /[-.;@,=]/;

/**
 * The default namespace of a channel: its Pusher kind prefix (`private-`, `presence-`,
 * `private-encrypted-`, `cache-`), if any, and its first word, up to the first `-`, `.`, `;`, `@`,
 * `,` or `=`: `user-42` → `user`, `private-user-42` → `private-user`, `presence-room.7` →
 * `presence-room`, `task-abc` → `task`. A name with no separator after its first word (`news`,
 * `private-alice`) could be an id: it is {@link OTHER_NAMESPACE}, never its own label.
 */
export function channelNamespace(channel: string): string {
  const kind = KIND_PREFIX.exec(channel)![0];
  const rest = channel.slice(kind.length);
  const at = rest.search(SEPARATOR);
  if (at <= 0 || at === rest.length - 1) return OTHER_NAMESPACE;
  return kind + rest.slice(0, at);
}

/**
 * Turns channel names into a bounded set of namespace labels: `label(channel)` (by default
 * {@link channelNamespace}), the first `max` distinct ones kept for the life of the instance, every
 * later one (and any that throws, is empty or is longer than 48 characters) {@link OTHER_NAMESPACE}.
 * So 10,000 channels, or a caller's function gone wrong, leave at most `max + 1` values.
 */
export class Namespaces {
  private readonly known = new Set<string>();

  constructor(
    private readonly label: (channel: string) => string = channelNamespace,
    private readonly max = MAX_NAMESPACES,
  ) {}

  /** The namespace label of `channel`. */
  of(channel: string): string {
    let value: unknown;
    try {
      value = this.label(channel);
    } catch {
      return OTHER_NAMESPACE;
    }
    if (typeof value !== "string" || value.length === 0 || value.length > MAX_NAMESPACE_LENGTH) return OTHER_NAMESPACE;
    if (this.known.has(value)) return value;
    if (this.known.size >= this.max) return OTHER_NAMESPACE;
    this.known.add(value);
    return value;
  }

  /** Sums `count(item)` by the namespace of `channel(item)`. */
  tally<T>(items: Iterable<T>, channel: (item: T) => string, count: (item: T) => number): Record<string, number> {
    const out: Counts = Object.create(null) as Counts;
    for (const item of items) bump(out, this.of(channel(item)), count(item));
    return out;
  }
}

type Counts = Record<string, number>;

function bump(counts: Counts, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

function bump2(counts: Record<string, Counts>, outer: string, inner: string, by = 1): void {
  bump((counts[outer] ??= Object.create(null) as Counts), inner, by);
}

function copy2(counts: Record<string, Counts>): Record<string, Counts> {
  const out: Record<string, Counts> = {};
  for (const [key, inner] of Object.entries(counts)) out[key] = { ...inner };
  return out;
}

/** See the module comment. One per instance (`herald.core.telemetry`). */
export class Telemetry {
  /** Present when the namespace label is on: the transports label their counts with it. */
  readonly namespaces: Namespaces | undefined;
  private readonly nsPublishes: Record<string, Counts> = Object.create(null) as Record<string, Counts>;
  private readonly nsDeliveries: Record<string, Counts> = Object.create(null) as Record<string, Counts>;
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

  constructor(namespaces?: Namespaces) {
    this.namespaces = namespaces;
  }

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
        if (event.namespace !== undefined) bump2(this.nsPublishes, event.result, event.namespace);
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

  /** Adds `count` deliveries by `transport` on a channel of `namespace` (only with the namespace label on). */
  addDeliveries(transport: string, namespace: string, count: number): void {
    bump2(this.nsDeliveries, transport, namespace, count);
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
      ...(this.namespaces && {
        byNamespace: { publishes: copy2(this.nsPublishes), deliveries: copy2(this.nsDeliveries) },
      }),
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
