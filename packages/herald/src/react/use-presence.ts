/** `usePresence`: who is on a presence channel (SSE, long-polling and WebSocket). */
import { useCallback, useEffect, useSyncExternalStore } from "react";
import type { PresenceState } from "../client/index.js";
import { useHerald } from "./provider.js";

/** No one (yet): before the subscription succeeded, without a client, or for an anonymous stream. */
export const NO_PRESENCE: PresenceState = Object.freeze({ members: [], me: null, count: 0 }) as PresenceState;

/**
 * Follows the presence channel `channel` (`presence-*`) and returns its members, one per user
 * whatever their number of tabs, this client's own member (`me`) and `count`. Re-renders when
 * someone joins or leaves. On SSE, long-polling (changes arrive with the next answer) and
 * WebSocket, for a signed-in user the server's `authorizePrivate` lets in. Pass `null` to follow nothing.
 *
 * @example
 * ```tsx
 * const { members, me, count } = usePresence("presence-room-1");
 * return <p>{count} online: {members.map((m) => (m.id === me?.id ? "you" : m.id)).join(", ")}</p>;
 * ```
 */
export function usePresence(channel: string | null | undefined): PresenceState {
  const { client } = useHerald();
  useEffect(() => {
    if (!client || !channel) return;
    return client.subscribe(channel, () => undefined);
  }, [client, channel]);
  const subscribe = useCallback(
    (onChange: () => void) => {
      if (!client || !channel) return () => undefined;
      const off = client.on("presence", (p) => {
        if (p.channel === channel) onChange();
      });
      // Leaving the channel (or closing) drops its members: re-read on state changes too.
      const offState = client.on("state", onChange);
      return () => {
        off();
        offState();
      };
    },
    [client, channel],
  );
  const read = useCallback(
    () => (client && channel ? (client.presence?.(channel) ?? NO_PRESENCE) : NO_PRESENCE),
    [client, channel],
  );
  return useSyncExternalStore(subscribe, read, () => NO_PRESENCE);
}
