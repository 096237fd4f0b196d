/**
 * Typed channels: a map from channel names (or patterns with one `*`, such as `room-*`) to the
 * events each carries and their schemas, in any library that implements Standard Schema (zod,
 * valibot, arktype, …). Declared once in a module that both server and client import: the server
 * checks and validates what is published, the React hooks infer what they receive. Herald depends
 * on no schema library: the interface below is the Standard Schema spec's, written out.
 */
import type { EventEnvelope } from "./envelope.js";
import { HeraldError } from "./errors.js";

/** The Standard Schema interface (v1): what zod 4, valibot 1, arktype 2 and others implement. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    /** The schema's input and output types (types only). */
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** A Standard Schema validation's outcome: the output `value`, or `issues`. */
export type StandardResult<Output> =
  { readonly value: Output; readonly issues?: undefined } | { readonly issues: ReadonlyArray<StandardIssue> };

/** One problem a Standard Schema found, with where (`path`). */
export interface StandardIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/** What a schema accepts. */
export type InferInput<S extends StandardSchemaV1> = NonNullable<S["~standard"]["types"]>["input"];
/** What a schema gives once validated. */
export type InferOutput<S extends StandardSchemaV1> = NonNullable<S["~standard"]["types"]>["output"];

/** A channel's events: event name → schema of its data. */
export type EventSchemas = { readonly [event: string]: StandardSchemaV1 };

/** A channel map: channel name or pattern (one `*`: any characters) → its events. */
export type ChannelMap = { readonly [channel: string]: EventSchemas };

/** The channel names a key stands for: `room-*` → `` `room-${string}` ``. */
export type ChannelPattern<K extends string> = K extends `${infer Head}*${infer Tail}` ? `${Head}${string}${Tail}` : K;

/** Keys of `M` whose pattern `C` matches (never: `C` is not declared). */
export type MatchingKeys<M extends ChannelMap, C extends string> = {
  [K in keyof M & string]: C extends ChannelPattern<K> ? K : never;
}[keyof M & string];

/** True when key `O`'s pattern covers strictly fewer names than `K`'s (`room-vip-*` than `room-*`). */
type Narrower<O extends string, K extends string> =
  ChannelPattern<O> extends ChannelPattern<K> ? (ChannelPattern<K> extends ChannelPattern<O> ? false : true) : false;

/** The keys of `Keys` that no other key of it narrows: the most specific patterns, as at run time. */
type MostSpecific<Keys extends string> = {
  [K in Keys]: true extends (Keys extends string ? Narrower<Keys, K> : never) ? never : K;
}[Keys];

/** The event schemas of channel `C`, or `undefined` when `C` is not declared (an untyped channel). */
export type ChannelEvents<M extends ChannelMap, C extends string> = [MatchingKeys<M, C>] extends [never]
  ? undefined
  : M[MostSpecific<MatchingKeys<M, C>>];

/** Event names of channel `C` (any string on an undeclared channel). */
export type EventName<M extends ChannelMap, C extends string> =
  ChannelEvents<M, C> extends EventSchemas ? keyof ChannelEvents<M, C> & string : string;

/** What `publish` accepts as the data of `event` on `C` (`unknown` on an undeclared channel). */
export type EventInput<M extends ChannelMap, C extends string, E extends string> =
  ChannelEvents<M, C> extends EventSchemas
    ? E extends keyof ChannelEvents<M, C>
      ? InferInput<ChannelEvents<M, C>[E]>
      : never
    : unknown;

/** What a subscriber receives as the data of `event` on `C` (`"*"`: any of its events). */
export type EventData<M extends ChannelMap, C extends string, E extends string> =
  ChannelEvents<M, C> extends EventSchemas
    ? E extends "*"
      ? { [K in keyof ChannelEvents<M, C>]: InferOutput<ChannelEvents<M, C>[K]> }[keyof ChannelEvents<M, C>]
      : E extends keyof ChannelEvents<M, C>
        ? InferOutput<ChannelEvents<M, C>[E]>
        : never
    : unknown;

/**
 * An event of channel `C` as subscribers receive it: on a declared channel, one envelope type per
 * event (switch on `event` and `data` narrows); on an undeclared one, `EventEnvelope<unknown>`.
 */
export type ChannelEnvelope<M extends ChannelMap, C extends string> =
  ChannelEvents<M, C> extends EventSchemas
    ? {
        [E in keyof ChannelEvents<M, C> & string]: EventEnvelope<InferOutput<ChannelEvents<M, C>[E]>> & {
          event: E;
        };
      }[keyof ChannelEvents<M, C> & string]
    : EventEnvelope;

/** A channel map as {@link defineChannels} returns it: the map, and its lookups. */
export interface Channels<M extends ChannelMap = ChannelMap> {
  /** The map as declared. */
  readonly map: M;
  /** The events of `channel` (exact name first, then the pattern with the longest fixed part), or null when undeclared. */
  eventsOf(channel: string): EventSchemas | null;
  /**
   * Validates `data` for `event` on `channel`: returns the schema's output (a promise of it when
   * the schema validates asynchronously; errors then reject rather than throw). On an undeclared
   * channel, `data` is returned as it is. Throws `HeraldError` `invalid_event` (an event the
   * channel does not declare) or `invalid_event_data` (the schema's issues in `details.issues`).
   */
  validate(channel: string, event: string, data: unknown): unknown;
}

/**
 * Declares typed channels, in a module both server and client import. Keys are channel names or
 * patterns with one `*` (any characters); values map each event to its schema, from any Standard
 * Schema library. Pass the result to `createHerald({ channels })` and `createHeraldHooks(channels)`.
 *
 * @example
 * ```ts
 * // lib/channels.ts
 * import { defineChannels } from "herald/protocol";
 * import { z } from "zod";
 *
 * export const channels = defineChannels({
 *   "room-*": { message: z.object({ text: z.string().max(2000) }), typing: z.object({ user: z.string() }) },
 * });
 * ```
 */
export function defineChannels<const M extends ChannelMap>(map: M): Channels<M> {
  for (const [key, events] of Object.entries(map)) {
    for (const [event, schema] of Object.entries(events)) {
      if (typeof (schema as Partial<StandardSchemaV1>)?.["~standard"]?.validate !== "function")
        throw new TypeError(`defineChannels: ${key} → ${event} is not a Standard Schema`);
    }
  }
  const lookup = patternLookup(map, "defineChannels");
  const eventsOf = (channel: string): EventSchemas | null => lookup(channel) ?? null;
  return {
    map,
    eventsOf,
    validate(channel, event, data) {
      const events = eventsOf(channel);
      if (!events) return data;
      const schema = Object.hasOwn(events, event) ? events[event] : undefined;
      if (!schema) {
        throw new HeraldError("invalid_event", `"${event}" is not an event of channel "${channel}"`, {
          details: { channel, event },
        });
      }
      const result = schema["~standard"].validate(data);
      return result instanceof Promise
        ? result.then((r) => outcome(r, channel, event))
        : outcome(result, channel, event);
    },
  };
}

/**
 * A lookup of the value whose key matches `name`: keys are names or patterns with one `*` (any
 * characters); the exact name wins, then the pattern with the longest fixed part. What channel maps
 * and per-pattern retention (the brokers' `retention` option) resolve channels with. Throws
 * `TypeError` (naming `owner`) for a key with more than one `*`.
 */
export function patternLookup<V>(
  entries: { readonly [key: string]: V },
  owner: string,
): (name: string) => V | undefined {
  const exact = new Map<string, V>();
  const patterns: { head: string; tail: string; value: V }[] = [];
  for (const [key, value] of Object.entries(entries)) {
    const star = key.indexOf("*");
    if (star < 0) exact.set(key, value);
    else if (key.indexOf("*", star + 1) >= 0) throw new TypeError(`${owner}: "${key}" has more than one "*"`);
    else patterns.push({ head: key.slice(0, star), tail: key.slice(star + 1), value });
  }
  patterns.sort((a, b) => b.head.length + b.tail.length - (a.head.length + a.tail.length));
  return (name) =>
    exact.get(name) ??
    patterns.find(
      (p) => name.length >= p.head.length + p.tail.length && name.startsWith(p.head) && name.endsWith(p.tail),
    )?.value;
}

/** The output of a validation, or the `invalid_event_data` error with its issues. */
function outcome(result: StandardResult<unknown>, channel: string, event: string): unknown {
  if (!result.issues) return result.value;
  const issues = result.issues.map((issue) => ({
    message: issue.message,
    path: (issue.path ?? []).map((segment) =>
      String(typeof segment === "object" && segment !== null ? segment.key : segment),
    ),
  }));
  const first = issues[0];
  const where = first && first.path.length > 0 ? ` at ${first.path.join(".")}` : "";
  throw new HeraldError(
    "invalid_event_data",
    `invalid data for "${event}" on "${channel}"${first ? `: ${first.message}${where}` : ""}`,
    { details: { channel, event, issues } },
  );
}
