/** `useClientEvent`: send client events (`client-*`) to a channel's other subscribers. */
import { useCallback, useEffect } from "react";
import type { EventEnvelope } from "../client/index.js";
import { useHerald } from "./provider.js";
import { useLatest } from "./use-latest.js";

/**
 * Follows `channel` (a `private-*` or `presence-*` channel) and returns `send(data)`, which sends
 * the client event `event` (a `client-*` name) to the channel's other subscribers, never back to
 * this client. `send` returns false when it could not send because the client is not connected
 * (a typing indicator can just skip that one), and throws on misuse: a name without `client-`, a
 * public channel. Over the socket on WebSocket; as `POST …/publish` on SSE and polling (the
 * server's `authorizePublish` decides, a refusal is the client's `error` event).
 *
 * Others' events arrive as any event does: pass `onEvent`, or use `useEvent(channel, event, …)`.
 * On presence channels the envelope's `userId` is the sender.
 *
 * @example
 * ```tsx
 * const sendTyping = useClientEvent("presence-room-1", "client-typing", (data, e) => showTyping(e.userId));
 * <input onInput={() => sendTyping({ typing: true })} />
 * ```
 */
export function useClientEvent<T = unknown>(
  channel: string | null | undefined,
  event: string,
  onEvent?: (data: T, envelope: EventEnvelope<T>) => void,
): (data: T) => boolean {
  const { client } = useHerald();
  const latest = useLatest(onEvent);
  useEffect(() => {
    if (!client || !channel) return;
    return client.subscribe<T>(channel, (envelope) => {
      if (envelope.event === event) latest.current?.(envelope.data, envelope);
    });
  }, [client, channel, event, latest]);
  return useCallback(
    (data: T) => {
      if (!client || !channel || client.state !== "connected") return false;
      if (!client.send) throw new Error("herald/react: this client cannot send client events");
      client.send(channel, event, data);
      return true;
    },
    [client, channel, event],
  );
}
