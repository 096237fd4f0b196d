/**
 * Validation of channel and event names (shared by server and client so both fail the same way).
 * The alphabet matches Pusher's channel-name rules, so the same names work on every transport.
 */
import { HeraldError } from "./errors.js";

/** Longest channel name accepted (Pusher's limit). */
export const MAX_CHANNEL_LENGTH = 164;
/** Longest event name accepted. */
export const MAX_EVENT_LENGTH = 200;

const CHANNEL = /^[A-Za-z0-9_\-=@,.;]+$/;
const EVENT = /^[A-Za-z0-9_\-=@,.;:]+$/;

/** Throws `HeraldError("invalid_channel")` unless `name` is a valid channel name. */
export function assertChannelName(name: unknown): asserts name is string {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_CHANNEL_LENGTH || !CHANNEL.test(name)) {
    throw new HeraldError(
      "invalid_channel",
      `channel names are 1-${MAX_CHANNEL_LENGTH} characters of A-Z a-z 0-9 _ - = @ , . ;`,
      { details: { channel: typeof name === "string" ? name.slice(0, MAX_CHANNEL_LENGTH) : null } },
    );
  }
}

/**
 * Throws `HeraldError("invalid_event")` unless `name` is a valid event name.
 * Names starting with `herald:` or `pusher:` are reserved for the transports' own events.
 */
export function assertEventName(name: unknown): asserts name is string {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_EVENT_LENGTH || !EVENT.test(name)) {
    throw new HeraldError(
      "invalid_event",
      `event names are 1-${MAX_EVENT_LENGTH} characters of A-Z a-z 0-9 _ - = @ , . ; :`,
    );
  }
  if (/^(herald|pusher|pusher_internal):/.test(name)) {
    throw new HeraldError("invalid_event", `event name "${name}" uses a reserved prefix`);
  }
}

/** True when `name` is a valid channel name (see {@link assertChannelName}). */
export function isValidChannelName(name: unknown): name is string {
  return typeof name === "string" && name.length > 0 && name.length <= MAX_CHANNEL_LENGTH && CHANNEL.test(name);
}
