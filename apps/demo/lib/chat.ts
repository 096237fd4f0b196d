/**
 * The chat page's rules: its rooms, each two channels (`presence-chat-{room}`: who is online and
 * who is typing; `private-chat-{room}`: the messages), and how long Herald's log keeps them. There
 * is no message store of the demo's own: a room's history is its message channel's log, read with
 * `useHistory`. Imports nothing of Next: server.ts uses it too.
 *
 * The Pusher app's credentials are in chat-credentials.ts (server only).
 */
import type { MemoryBrokerOptions } from "herald";
import { defineChannels, type StandardSchemaV1 } from "herald/protocol";
import { checkText } from "./confusables";

/** The rooms, in the order the page lists them. */
export const ROOMS = [
  { id: "general", title: "General", description: "Anything goes." },
  { id: "random", title: "Random", description: "Off-topic, memes, weekend plans." },
  { id: "help", title: "Help", description: "Questions about Herald." },
] as const;

export type RoomId = (typeof ROOMS)[number]["id"];

/** Whether `value` names one of the rooms (and nothing inherited). */
export function isRoom(value: unknown): value is RoomId {
  return typeof value === "string" && ROOMS.some((r) => r.id === value);
}

/** The room's presence channel: who is online, and typing indicators (client events). */
export function roomChannel(room: RoomId): `presence-chat-${RoomId}` {
  return `presence-chat-${room}`;
}

/**
 * The room's message channel: private (signed-in users, by `authorizePrivate` and the chat's auth
 * route), and nothing but messages in its log, so that the last 50 events are the last 50 messages
 * (typing indicators, many and short-lived, stay on the presence channel).
 */
export function messageChannel(room: RoomId): `private-chat-${RoomId}` {
  return `private-chat-${room}`;
}

/** The room of a chat channel (presence or messages), or null for any other channel. */
export function roomOfChannel(channel: string): RoomId | null {
  const prefix = ["presence-chat-", "private-chat-"].find((p) => channel.startsWith(p));
  const room = prefix ? channel.slice(prefix.length) : null;
  return isRoom(room) ? room : null;
}

/**
 * How long Herald's log keeps the chat's channels (the broker's `retention`, lib/herald.ts): each
 * room its last 500 messages for a week, typing indicators a minute. In memory (the default) the
 * log ends with the process; with HERALD_REDIS_URL it is in Redis and outlives restarts.
 */
export const CHAT_RETENTION: NonNullable<MemoryBrokerOptions["retention"]> = {
  "private-chat-*": { maxEvents: 500, maxAgeMs: 7 * 24 * 60 * 60_000 },
  "presence-chat-*": { maxEvents: 100, maxAgeMs: 60_000 },
};

/** The event a message is published as. */
export const MESSAGE_EVENT = "message";
/** The client event for typing indicators. */
export const TYPING_EVENT = "client-typing";
/** Longest message, in characters. */
export const MAX_MESSAGE_LENGTH = 500;
/** How many messages a room shows on join (and per "Earlier messages"). */
export const HISTORY_SIZE = 50;

/** What a message event carries (its `data`). */
export interface MessageData {
  room: RoomId;
  text: string;
  user: { id: string; name: string };
  /** ms since the epoch. */
  at: number;
}

/** One chat message: its data and Herald's event id (its position in the room's log). */
export interface ChatMessage extends MessageData {
  id: string;
}

/**
 * What a typing client event carries. Who sent it comes from the server (`userId`, the presence
 * member), and the name shown is that member's: the event carries none.
 */
export interface TypingEvent {
  typing: boolean;
  /** When it was sent: the catch-up after a reconnect may replay old ones, which are ignored. */
  at: number;
}

/** A message's text as it will be sent, or why it cannot be (1-500 characters, no control or bidi characters). */
export function checkMessage(raw: unknown): { ok: true; text: string } | { ok: false; error: string } {
  return checkText(raw, MAX_MESSAGE_LENGTH);
}

/** A Standard Schema (what `defineChannels` takes) from a check: the demo uses no schema library. */
function schema<T>(check: (value: unknown) => { value: T } | { issue: string }): StandardSchemaV1<T> {
  return {
    "~standard": {
      version: 1,
      vendor: "herald-demo",
      validate: (value) => {
        const result = check(value);
        return "issue" in result ? { issues: [{ message: result.issue }] } : { value: result.value };
      },
    },
  };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The chat's typed channels (`createHerald({ channels })` and the room's hooks): a message
 * channel carries `message` events only and a presence channel `client-typing` only, each checked
 * on every path that publishes (a Server Action's `herald.publish`, a WebSocket client event, `POST
 * …/publish`). A client event on the message channel (which WebSocket subscribers could otherwise
 * send on any private channel) is refused, so the room's log, and its history, is its messages.
 */
export const chatChannels = defineChannels({
  "private-chat-*": {
    [MESSAGE_EVENT]: schema<MessageData>((v) => {
      if (!isObject(v) || !isRoom(v.room) || typeof v.at !== "number") return { issue: "not a chat message" };
      const user = v.user;
      if (!isObject(user) || typeof user.id !== "string" || typeof user.name !== "string")
        return { issue: "a message names its user" };
      const text = checkMessage(v.text);
      if (!text.ok) return { issue: text.error };
      return { value: { room: v.room, text: text.text, user: { id: user.id, name: user.name }, at: v.at } };
    }),
  },
  "presence-chat-*": {
    [TYPING_EVENT]: schema<TypingEvent>((v) =>
      isObject(v) && typeof v.typing === "boolean" && typeof v.at === "number"
        ? { value: { typing: v.typing, at: v.at } }
        : { issue: "a typing event is { typing, at }" },
    ),
  },
});
