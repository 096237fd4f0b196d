/**
 * One external store per client: the connection's state for `useSyncExternalStore`, and which
 * channels the current stream serves (from `herald:connected`), so hooks can tell "subscribed" from
 * "live".
 */
import type { ConnectionState, HeraldClient } from "../client/index.js";

/** What {@link useConnectionStatus} reads: a new object on every change, the same one otherwise. */
export interface ConnectionSnapshot {
  /** The client's state. */
  readonly state: ConnectionState;
  /** Consecutive failed attempts since the last stable connection. */
  readonly attempt: number;
  /** When the next reconnect attempt is due (ms since the epoch), or null. */
  readonly nextRetryAt: number | null;
  /** Why the last transition happened (`open`, `error`, `max_attempts`, ...), or null before any. */
  readonly reason: string | null;
  /** The client's `maxAttempts`, or null when it retries forever. */
  readonly maxAttempts: number | null;
  /** The transport of the current (or next) connection: `"sse"`, `"poll"`... */
  readonly transport: HeraldClient["transport"];
}

/** The store behind the hooks of one provider. */
export interface ConnectionStore {
  /** Adds a change listener; returns a function that removes it. */
  subscribe(listener: () => void): () => void;
  /** The current snapshot (stable between changes). */
  getSnapshot(): ConnectionSnapshot;
  /** True when the open stream serves `channel` (its events reach handlers from now on). */
  isLive(channel: string): boolean;
  /** Stops listening to the client. */
  dispose(): void;
}

/** The snapshot used when there is no client yet (server rendering, first render). */
export const IDLE_SNAPSHOT: ConnectionSnapshot = Object.freeze({
  state: "idle",
  attempt: 0,
  nextRetryAt: null,
  reason: null,
  maxAttempts: null,
  transport: "sse",
});

/** Creates the store for `client`. */
export function createConnectionStore(client: HeraldClient, maxAttempts: number | null = null): ConnectionStore {
  const listeners = new Set<() => void>();
  let live: ReadonlySet<string> = new Set();
  let snapshot: ConnectionSnapshot = {
    state: client.state,
    attempt: client.attempt,
    nextRetryAt: client.nextRetryAt,
    reason: null,
    maxAttempts,
    transport: client.transport,
  };
  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };
  const offState = client.on("state", (t) => {
    if (t.next !== "connected") live = new Set();
    snapshot = {
      state: t.next,
      attempt: client.attempt,
      nextRetryAt: client.nextRetryAt,
      reason: t.reason,
      maxAttempts,
      transport: client.transport,
    };
    notify();
  });
  const offTransport = client.on("transport", () => {
    snapshot = { ...snapshot, transport: client.transport };
    notify();
  });
  const offConnected = client.on("connected", (payload) => {
    live = new Set(payload.channels);
    notify();
  });
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    getSnapshot: () => snapshot,
    isLive: (channel) => live.has(channel),
    dispose() {
      offState();
      offConnected();
      offTransport();
      listeners.clear();
    },
  };
}

/** A store for "no client": always idle. */
export const IDLE_STORE: ConnectionStore = {
  subscribe: () => () => undefined,
  getSnapshot: () => IDLE_SNAPSHOT,
  isLive: () => false,
  dispose: () => undefined,
};
