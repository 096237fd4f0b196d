/** `useEvent`: run a handler for one channel's events. */
import { useEffect } from "react";
import type { EventEnvelope } from "../client/index.js";
import { useHerald } from "./provider.js";
import { useLatest } from "./use-latest.js";
import { receiver, type ReceiveValidation } from "./validate.js";

/** Handler of {@link useEvent}: the event's data, and the whole envelope (`event`, `id`, `ts`...). */
export type EventCallback<T = unknown> = (data: T, envelope: EventEnvelope<T>) => void;

/**
 * Calls `handler` for every `event` published on `channel` (`"*"`: every event of the channel)
 * while the component is mounted. The latest `handler` is always the one called, without
 * resubscribing when it changes; a new subscription is made only when `channel` or `event` change.
 * Pass `null` as the channel to subscribe to nothing (for example before sign-in). `options.validate`
 * checks each event's data first (set by `createHeraldHooks(channels, { validate: true })`).
 *
 * @example
 * ```tsx
 * useEvent<{ message: string }>(`user-${userId}`, "notification", (data) => toast(data.message));
 * ```
 */
export function useEvent<T = unknown>(
  channel: string | null | undefined,
  event: string,
  handler: EventCallback<T>,
  options: { validate?: ReceiveValidation | undefined } = {},
): void {
  const { client } = useHerald();
  const latest = useLatest(handler);
  const validate = useLatest(options.validate);
  useEffect(() => {
    if (!client || !channel) return;
    const deliver = receiver<T>(validate.current, (envelope) => latest.current(envelope.data, envelope));
    return client.subscribe<T>(channel, (envelope) => {
      if (event === "*" || envelope.event === event) deliver(envelope);
    });
  }, [client, channel, event, latest, validate]);
}
