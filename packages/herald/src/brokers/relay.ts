/**
 * Hosted relays for serverless deployments: a broker that forwards every event it publishes to
 * hosted Pusher (through the `pusher` SDK) and/or Ably (through the `ably` REST client), so
 * `herald.publish` (and tasks, and everything else that publishes through the Herald instance)
 * reaches browsers connected to those services.
 *
 * @example
 * ```ts
 * import Pusher from "pusher";
 * import { createHerald, MemoryBroker } from "herald";
 * import { relayBroker } from "herald/pusher";
 * const pusher = new Pusher({ appId, key, secret, cluster: "eu" });
 * export const herald = createHerald({ broker: relayBroker(new MemoryBroker(), { pusher }) });
 * ```
 */
import type {
  Broker,
  BrokerListener,
  BrokerSubscription,
  EventMeta,
  ReadResult,
  Snapshot,
  StoredEvent,
} from "./types.js";
import { encodePosition } from "../protocol/cursor.js";
import { partitionOf } from "../protocol/partition.js";
import { pusherDataOfBrokerJson } from "../protocol/pusher-data.js";

/** What the relay needs of the `pusher` SDK's client (a `new Pusher({...})`). */
export interface PusherRelayClient {
  trigger(channel: string | string[], event: string, data: unknown): Promise<unknown>;
  sendToUser?(userId: string, event: string, data: unknown): Promise<unknown>;
}

/** What the relay needs of the `ably` REST client (a `new Ably.Rest({...})`). */
export interface AblyRelayClient {
  channels: {
    get(name: string): { publish(message: { name: string; data: unknown; id?: string }): Promise<unknown> };
  };
}

/** One event as forwarded (for `onError`). */
export interface RelayedEvent {
  channel: string;
  event: string;
  /** Herald's id of the event (its position: `{epoch}-{seq}`, `{partition}:{epoch}-{seq}` past partition 0). */
  id: string;
}

/** Options of {@link relayBroker}. */
export interface RelayOptions {
  /** Forward to hosted Pusher through this `pusher` SDK client. */
  pusher?: PusherRelayClient;
  /** Forward to Ably through this `ably` REST client. */
  ably?: AblyRelayClient;
  /** Which channels to forward (default: all). */
  channels?: (channel: string) => boolean;
  /**
   * Wait for the relays before `publish` resolves (default true: a serverless function may be
   * frozen as soon as it answers, before a request left in the background is sent).
   */
  wait?: boolean;
  /** A relay failed (the event is still in Herald's own log). Default: `console.error`. */
  onError?: (error: unknown, target: "pusher" | "ably", event: RelayedEvent) => void;
}

const USER = /^user-(.+)$/;

/**
 * Wraps `inner` (the log and the local bus, as before) so that each published event is also sent
 * to the hosted services:
 * - Pusher: `data` as Herald's Pusher server sends it (JSON text, or the string itself); a
 *   `user-{id}` channel goes through `sendToUser(id, …)`, to the user signed in with pusher-js,
 *   like Herald's own Pusher server does; other channels through `trigger`.
 * - Ably: a message `{ name: event, data: <the parsed JSON>, id: <Herald's event id> }` on the
 *   channel of the same name (the id makes Ably's publishing idempotent, and lets a client resume).
 */
export function relayBroker(inner: Broker, options: RelayOptions): Broker {
  const report =
    options.onError ??
    ((error: unknown, target: string, event: RelayedEvent) =>
      console.error(`herald: relay to ${target} failed for ${event.channel}/${event.event}`, error));
  const forward = async (stored: StoredEvent & { epoch: string }): Promise<void> => {
    if (options.channels && !options.channels(stored.channel)) return;
    const event: RelayedEvent = {
      channel: stored.channel,
      event: stored.event,
      id: encodePosition(stored.epoch, stored.seq, partitionOf(stored.channel, inner.partitions ?? 1)),
    };
    const sends: Promise<unknown>[] = [];
    if (options.pusher) {
      const pusher = options.pusher;
      const data = pusherDataOfBrokerJson(stored.json);
      const user = USER.exec(stored.channel)?.[1];
      const sending =
        user !== undefined && pusher.sendToUser
          ? pusher.sendToUser(user, stored.event, data)
          : pusher.trigger(stored.channel, stored.event, data);
      sends.push(Promise.resolve(sending).catch((error: unknown) => report(error, "pusher", event)));
    }
    if (options.ably) {
      const ably = options.ably;
      const sending = (async () =>
        ably.channels
          .get(stored.channel)
          .publish({ name: stored.event, data: JSON.parse(stored.json), id: event.id }))();
      sends.push(sending.catch((error: unknown) => report(error, "ably", event)));
    }
    await Promise.all(sends);
  };
  return {
    partitions: inner.partitions,
    epoch: (partition?: number) => inner.epoch(partition),
    head: (partition?: number) => inner.head(partition),
    async publish(channel: string, event: string, json: string, meta?: EventMeta) {
      const stored = await inner.publish(channel, event, json, meta);
      const relayed = forward(stored);
      if (options.wait ?? true) await relayed;
      return stored;
    },
    subscribe: (channel: string, listener: BrokerListener): BrokerSubscription => inner.subscribe(channel, listener),
    snapshot: (channels: readonly string[], after: number, limit: number): Promise<Snapshot> =>
      inner.snapshot(channels, after, limit),
    read: (channel: string, after: number, limit: number): Promise<ReadResult> => inner.read(channel, after, limit),
    ...(inner.latest && { latest: inner.latest.bind(inner) }),
    close: () => inner.close(),
  };
}
