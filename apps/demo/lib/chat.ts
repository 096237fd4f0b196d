/**
 * The chat page's rules and state: its rooms (each a `presence-chat-{room}` channel on Herald's
 * Pusher-compatible WebSocket server) and each room's last messages (a small bounded buffer per room,
 * shared per process like the rest of the demo's state) for history on join. Imports nothing of
 * Next: server.ts uses it too.
 *
 * The Pusher app's credentials are in chat-credentials.ts (server only).
 */
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

/** The room's channel: presence, so members, client events and auth come with it. */
export function roomChannel(room: RoomId): string {
  return `presence-chat-${room}`;
}

/** The room of a chat channel, or null for any other channel. */
export function roomOfChannel(channel: string): RoomId | null {
  const room = channel.startsWith("presence-chat-") ? channel.slice("presence-chat-".length) : null;
  return isRoom(room) ? room : null;
}

/** The event a message is published as. */
export const MESSAGE_EVENT = "message";
/** The client event for typing indicators. */
export const TYPING_EVENT = "client-typing";
/** Longest message, in characters. */
export const MAX_MESSAGE_LENGTH = 500;
/** How many messages each room keeps for people who join later. */
export const HISTORY_SIZE = 50;

/** One chat message as published and kept. */
export interface ChatMessage {
  /** Herald's event id (set once published). */
  id: string;
  room: RoomId;
  text: string;
  user: { id: string; name: string };
  /** ms since the epoch. */
  at: number;
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

const shared = globalThis as { __heraldDemoChat?: Map<RoomId, ChatMessage[]> };
const rooms: Map<RoomId, ChatMessage[]> = (shared.__heraldDemoChat ??= new Map());

/** Keeps a published message in its room's history (the last {@link HISTORY_SIZE}). */
export function remember(message: ChatMessage): void {
  const list = rooms.get(message.room) ?? [];
  if (list.some((m) => m.id === message.id)) return;
  list.push(message);
  if (list.length > HISTORY_SIZE) list.splice(0, list.length - HISTORY_SIZE);
  rooms.set(message.room, list);
}

/** The room's last messages, oldest first. */
export function historyOf(room: RoomId): ChatMessage[] {
  return [...(rooms.get(room) ?? [])];
}

/** A message's text as it will be sent, or why it cannot be (1-500 characters, no control or bidi characters). */
export function checkMessage(raw: unknown): { ok: true; text: string } | { ok: false; error: string } {
  return checkText(raw, MAX_MESSAGE_LENGTH);
}
