/** `createHeraldHooks`: the hooks, typed by a channel map. */
import type { EventEnvelope, PresenceMember, PresenceState } from "../client/index.js";
import type {
  ChannelEnvelope,
  ChannelEvents,
  ChannelMap,
  Channels,
  EventData,
  EventInput,
  EventName,
  StandardSchemaV1,
} from "../protocol/channels.js";
import { useChannel, type ChannelState, type UseChannelOptions } from "./use-channel.js";
import { useEvent } from "./use-event.js";
import { useClientEvent } from "./use-client-event.js";
import { useHistory, type HistoryState, type UseHistoryOptions } from "./use-history.js";
import { usePresence } from "./use-presence.js";
import type { ReceiveValidation } from "./validate.js";

/** The map of a `Channels` object, or the map itself. */
type MapOf<X> = X extends Channels<infer M> ? M : X extends ChannelMap ? X : never;

/**
 * What presence members carry (`info`: the server's `presence.userInfo`, or `user_info` as the app's
 * auth endpoint signs it), per channel name or pattern with one `*`, resolved as channel maps are
 * (the exact name, then the most specific pattern): `{ "presence-room-*": { name: string } }`.
 * A type only: nothing checks it at run time (the server vouches for members, not the map).
 */
export type PresenceInfoMap = { readonly [channel: string]: unknown };

/** The member info type of presence channel `C` in `P` (`unknown` when `P` does not declare it). */
export type PresenceInfo<P extends PresenceInfoMap, C extends string> =
  ChannelEvents<{ [K in keyof P]: { info: StandardSchemaV1<P[K]> } }, C> extends { info: StandardSchemaV1<infer I> }
    ? I
    : unknown;

/** A presence member whose `info` is typed. */
export interface TypedPresenceMember<I = unknown> extends PresenceMember {
  info: I;
}

/** What the typed `usePresence` returns: `usePresence`'s state, with `info` typed. */
export interface TypedPresenceState<I = unknown> extends Omit<PresenceState, "members" | "me"> {
  members: TypedPresenceMember<I>[];
  me: TypedPresenceMember<I> | null;
}

/** The hooks {@link createHeraldHooks} returns: Herald's, with event names and data inferred from the map. */
export interface TypedHooks<M extends ChannelMap, P extends PresenceInfoMap = Record<never, never>> {
  /** `useEvent`, typed: `event` is one of the channel's events (or `"*"`), `data` that event's schema output. */
  useEvent<C extends string, E extends EventName<M, C> | "*">(
    channel: C | null | undefined,
    event: E,
    handler: (data: EventData<M, C, E>, envelope: EventEnvelope<EventData<M, C, E>>) => void,
  ): void;
  /** `useChannel`, typed: each event's envelope narrows by its `event`. */
  useChannel<C extends string>(
    channel: C | null | undefined,
    options?: Omit<UseChannelOptions, "validate">,
  ): Omit<ChannelState, "events"> & { events: ChannelEnvelope<M, C>[] };
  /** `useClientEvent`, typed: `send` takes the event's schema input, `onEvent` gets its output. */
  useClientEvent<C extends string, E extends EventName<M, C>>(
    channel: C | null | undefined,
    event: E,
    onEvent?: (data: EventData<M, C, E>, envelope: EventEnvelope<EventData<M, C, E>>) => void,
  ): (data: EventInput<M, C, E>) => boolean;
  /** `useHistory`, typed: each event's envelope narrows by its `event`. */
  useHistory<C extends string>(
    channel: C | null | undefined,
    options?: Omit<UseHistoryOptions, "validate">,
  ): HistoryState<ChannelEnvelope<M, C>>;
  /** `usePresence`, typed: each member's `info` is the type `P` declares for the channel (else `unknown`). */
  usePresence<C extends string>(channel: C | null | undefined): TypedPresenceState<PresenceInfo<P, C>>;
}

/** Options of {@link createHeraldHooks}. */
export interface HeraldHooksOptions {
  /**
   * Validate what the hooks receive (live and from history) with the map's schemas; an event they
   * refuse is dropped (default false: the server validated it on publish). Needs the map as a value.
   */
  validate?: boolean;
  /** Called for each event dropped by `validate`. */
  onInvalid?: ReceiveValidation["onInvalid"];
}

/**
 * Herald's hooks typed by a channel map (`defineChannels`): event names and data are checked and
 * inferred per channel, patterns included. Pass the map as a value to validate on receive, or
 * only its type (`createHeraldHooks<typeof channels>()`) to keep its schemas out of the bundle.
 * A second type argument, a {@link PresenceInfoMap}, types what `usePresence`'s members carry.
 * Tasks keep their own generic (`useTask<Result>(id)`): task channels carry Herald's events,
 * which a channel map does not declare and the server does not validate.
 *
 * @example
 * ```tsx
 * // lib/hooks.ts
 * "use client";
 * import { createHeraldHooks } from "herald/react";
 * import type { channels } from "./channels";
 *
 * export const { useEvent, useChannel, useHistory, usePresence } = createHeraldHooks<
 *   typeof channels,
 *   { "presence-room-*": { name: string } }
 * >();
 * ```
 */
export function createHeraldHooks<
  X extends ChannelMap | Channels = ChannelMap,
  P extends PresenceInfoMap = Record<never, never>,
>(channels?: Channels<MapOf<X>>, options: HeraldHooksOptions = {}): TypedHooks<MapOf<X>, P> {
  if (options.validate && !channels) throw new TypeError("createHeraldHooks: `validate` needs the channel map");
  const validate: ReceiveValidation | undefined =
    options.validate && channels ? { channels, onInvalid: options.onInvalid } : undefined;
  return {
    useEvent: (channel, event, handler) => useEvent(channel, event, handler as never, { validate }),
    useChannel: (channel, hookOptions) => useChannel(channel, { ...hookOptions, validate }) as never,
    useHistory: (channel, hookOptions) => useHistory(channel, { ...hookOptions, validate }) as never,
    useClientEvent: (channel, event, onEvent) => useClientEvent(channel, event, onEvent as never),
    usePresence: (channel) => usePresence(channel) as never,
  };
}
