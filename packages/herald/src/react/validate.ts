/** Validation on receive, for the hooks of a typed channel map (`createHeraldHooks(channels, { validate: true })`). */
import type { EventEnvelope } from "../client/index.js";
import type { Channels } from "../protocol/channels.js";

/** What the hooks take to validate what they receive. */
export interface ReceiveValidation {
  /** The channel map whose schemas check each event's data. */
  channels: Channels;
  /**
   * Called for an event whose data the schema refuses (or that the channel does not declare);
   * the event is dropped. Default: nothing (the event is dropped silently).
   */
  onInvalid?: ((error: unknown, envelope: EventEnvelope) => void) | undefined;
}

/**
 * A function that hands each envelope to `deliver` once validated (data replaced by the schema's
 * output), in the order received even when a schema validates asynchronously; without
 * `validation`, at once and as it is.
 */
export function receiver<T>(
  validation: ReceiveValidation | undefined,
  deliver: (envelope: EventEnvelope<T>) => void,
): (envelope: EventEnvelope) => void {
  if (!validation) return deliver as (envelope: EventEnvelope) => void;
  let queue: Promise<void> | null = null;
  let pending = 0;
  /** Validates and delivers `envelope`; returns a promise only when the schema answered with one. */
  const settle = (envelope: EventEnvelope, check: () => unknown): Promise<void> | undefined => {
    const invalid = (error: unknown): void => void validation.onInvalid?.(error, envelope);
    let value: unknown;
    try {
      value = check();
    } catch (error) {
      invalid(error);
      return undefined;
    }
    if (value instanceof Promise) return value.then((data) => void deliver({ ...envelope, data: data as T }), invalid);
    deliver({ ...envelope, data: value as T });
    return undefined;
  };
  return (envelope) => {
    const check = (): unknown => validation.channels.validate(envelope.channel, envelope.event, envelope.data);
    if (pending === 0) {
      const done = settle(envelope, check);
      if (!done) return;
      pending++;
      queue = done.finally(() => void pending--);
      return;
    }
    pending++;
    queue = queue!.then(() => settle(envelope, check)).finally(() => void pending--);
  };
}

/** `envelopes` validated (data replaced by each schema's output), those refused dropped, in order. */
export async function validateAll<T>(
  validation: ReceiveValidation | undefined,
  envelopes: readonly EventEnvelope[],
): Promise<EventEnvelope<T>[]> {
  if (!validation) return envelopes as EventEnvelope<T>[];
  const checked = await Promise.all(
    envelopes.map(async (envelope) => {
      try {
        const data = await validation.channels.validate(envelope.channel, envelope.event, envelope.data);
        return { ...envelope, data: data as T };
      } catch (error) {
        validation.onInvalid?.(error, envelope);
        return null;
      }
    }),
  );
  return checked.filter((envelope) => envelope !== null);
}
