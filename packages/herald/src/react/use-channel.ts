/** `useChannel`: a channel's recent events and whether it is live. */
import { useCallback, useEffect, useState, useSyncExternalStore } from "react";
import type { EventEnvelope } from "../client/index.js";
import type { ConnectionStore } from "./connection-store.js";
import { useHerald } from "./provider.js";
import { useLatest } from "./use-latest.js";
import { receiver, type ReceiveValidation } from "./validate.js";

/**
 * Where a channel subscription stands: `idle` (no channel, or no client yet), `connecting` (asked
 * for, the stream that serves it is not open yet), `live`, `reconnecting`, `failed` (the client
 * gave up; see `useConnectionStatus().retry`), `closed`.
 */
export type ChannelStatus = "idle" | "connecting" | "live" | "reconnecting" | "failed" | "closed";

/** Options of {@link useChannel}. */
export interface UseChannelOptions {
  /** Most events kept, oldest dropped first (default 50). */
  limit?: number;
  /** Validation of what is received (set by `createHeraldHooks(channels, { validate: true })`). */
  validate?: ReceiveValidation | undefined;
}

/** What {@link useChannel} returns. */
export interface ChannelState<T = unknown> {
  /** See {@link ChannelStatus}. */
  status: ChannelStatus;
  /** Events received since mount (or since `channel` changed), oldest first, at most `limit`. */
  events: EventEnvelope<T>[];
  /** Forgets the events received so far. */
  clear(): void;
}

/** The status of `channel` in `store`. */
export function channelStatus(
  store: ConnectionStore,
  channel: string | null | undefined,
  hasClient: boolean,
): ChannelStatus {
  if (!channel || !hasClient) return "idle";
  const { state } = store.getSnapshot();
  if (state === "failed" || state === "closed") return state;
  if (store.isLive(channel)) return "live";
  return state === "reconnecting" ? "reconnecting" : "connecting";
}

/**
 * Follows `channel` and keeps its most recent events. Re-renders on every event and on status
 * changes. Pass `null` to follow nothing.
 *
 * @example
 * ```tsx
 * const { status, events } = useChannel<{ text: string }>("chat-lobby", { limit: 100 });
 * ```
 */
export function useChannel<T = unknown>(
  channel: string | null | undefined,
  options: UseChannelOptions = {},
): ChannelState<T> {
  const limit = Math.max(1, options.limit ?? 50);
  const { client, store } = useHerald();
  const [events, setEvents] = useState<EventEnvelope<T>[]>([]);
  const status = useSyncExternalStore(
    store.subscribe,
    () => channelStatus(store, channel, client !== null),
    () => "idle" as const,
  );

  const validate = useLatest(options.validate);

  useEffect(() => {
    setEvents([]);
    if (!client || !channel) return;
    return client.subscribe<T>(
      channel,
      receiver<T>(validate.current, (envelope) => {
        setEvents((prev) => {
          const next = prev.length >= limit ? prev.slice(prev.length - limit + 1) : prev.slice();
          next.push(envelope);
          return next;
        });
      }),
    );
  }, [client, channel, limit, validate]);

  const clear = useCallback(() => setEvents([]), []);
  return { status, events, clear };
}
