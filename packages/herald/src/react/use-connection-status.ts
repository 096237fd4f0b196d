/** `useConnectionStatus`: the shared connection's state, for indicators and reconnection UI. */
import { useCallback, useMemo, useSyncExternalStore } from "react";
import { IDLE_SNAPSHOT, type ConnectionSnapshot } from "./connection-store.js";
import { useHerald } from "./provider.js";

/** What {@link useConnectionStatus} returns. */
export interface ConnectionStatus extends ConnectionSnapshot {
  /** Reconnects now: after `failed`, or to skip the backoff wait. */
  retry(): void;
}

/**
 * The connection's `state` (`idle | connecting | connected | reconnecting | failed | closed`),
 * `attempt`, `nextRetryAt`, the `reason` of the last transition, the `transport` in use, and
 * `retry()`. Re-renders only when
 * one of them changes (`useSyncExternalStore`); renders `idle` on the server.
 *
 * @example
 * ```tsx
 * const { state, nextRetryAt, retry } = useConnectionStatus();
 * if (state === "failed") return <button onClick={retry}>Reconnect</button>;
 * ```
 */
export function useConnectionStatus(): ConnectionStatus {
  const { client, store } = useHerald();
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, getServerSnapshot);
  const retry = useCallback(() => client?.reconnect(), [client]);
  return useMemo(() => ({ ...snapshot, retry }), [snapshot, retry]);
}

function getServerSnapshot(): ConnectionSnapshot {
  return IDLE_SNAPSHOT;
}
