/**
 * Pusher channel names and how they map onto Herald's bus: kinds by prefix, the user channel
 * `#server-to-user-{id}` carried on Herald's `user-{id}`; event data between Pusher's JSON string
 * and the broker's JSON is `protocol/pusher-data.ts` (re-exported here).
 */
import { isValidChannelName } from "../protocol/names.js";

/** What a channel's prefix makes it. */
export type ChannelKind = "public" | "private" | "encrypted" | "presence" | "user";

const USER_PREFIX = "#server-to-user-";

/** The kind of a Pusher channel name. */
export function channelKind(name: string): ChannelKind {
  if (name.startsWith(USER_PREFIX)) return "user";
  if (name.startsWith("private-encrypted-")) return "encrypted";
  if (name.startsWith("private-")) return "private";
  if (name.startsWith("presence-")) return "presence";
  return "public";
}

/** True for cache channels (`cache-`, `private-cache-`, `private-encrypted-cache-`, `presence-cache-`). */
export function isCacheChannel(name: string): boolean {
  return /^(private-encrypted-|private-|presence-)?cache-/.test(name);
}

/** True when subscribing needs a signed `auth`. */
export function needsAuth(kind: ChannelKind): boolean {
  return kind === "private" || kind === "encrypted" || kind === "presence";
}

/**
 * The broker channel a Pusher channel travels on: the same name, except the user channel
 * `#server-to-user-{id}`, which is Herald's `user-{id}` (so `herald.publish("user-42", …)` reaches
 * user 42 signed in with pusher-js, and `sendToUser` reaches their SSE streams). Null when the name
 * is not a valid channel name (`[A-Za-z0-9_\-=@,.;]`, at most 164 characters).
 */
export function brokerChannel(name: string): string | null {
  const mapped = name.startsWith(USER_PREFIX) ? `user-${name.slice(USER_PREFIX.length)}` : name;
  return isValidChannelName(mapped) ? mapped : null;
}

/** The Pusher name of the user channel of `userId`. */
export function userChannel(userId: string): string {
  return `${USER_PREFIX}${userId}`;
}

export { brokerJsonOfPusherData, pusherDataOfBrokerJson } from "../protocol/pusher-data.js";
