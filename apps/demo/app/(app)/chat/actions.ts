"use server";
/** The chat's Server Actions: posting a message (validated, published on the room's channel) and a room's history. */
import { requireSession } from "@/lib/auth";
import { checkMessage, historyOf, isRoom, MESSAGE_EVENT, remember, roomChannel, type ChatMessage } from "@/lib/chat";
import { herald } from "@/lib/herald";

/** What {@link postMessage} answers. */
export type PostResult = { ok: true; message: ChatMessage } | { ok: false; error: string };

const RATE = { windowMs: 10_000, max: 20 };
const shared = globalThis as { __heraldDemoChatRate?: Map<string, number[]> };
const sent: Map<string, number[]> = (shared.__heraldDemoChatRate ??= new Map());

/** Whether `userId` may post now (at most 20 messages in 10 seconds). */
function allowed(userId: string): boolean {
  const now = Date.now();
  const recent = (sent.get(userId) ?? []).filter((t) => now - t < RATE.windowMs);
  if (recent.length >= RATE.max) return false;
  recent.push(now);
  sent.set(userId, recent);
  return true;
}

/**
 * Posts `text` in `room`: published with `herald.publish` on the room's channel (so it is in
 * Herald's log, and reaches every transport), and kept in the room's history for later joiners.
 */
export async function postMessage(room: unknown, text: unknown): Promise<PostResult> {
  const session = await requireSession();
  if (!isRoom(room)) return { ok: false, error: "No such room." };
  const checked = checkMessage(text);
  if (!checked.ok) return checked;
  if (!allowed(session.id)) return { ok: false, error: "Slow down a little: too many messages at once." };
  const body: Omit<ChatMessage, "id"> = {
    room,
    text: checked.text,
    user: { id: session.id, name: session.name },
    at: Date.now(),
  };
  const id = await herald.publish(roomChannel(room), MESSAGE_EVENT, body);
  const message: ChatMessage = { id, ...body };
  remember(message);
  return { ok: true, message };
}

/** The room's last messages, oldest first (read again once the live connection is up). */
export async function roomHistory(room: unknown): Promise<ChatMessage[]> {
  await requireSession();
  return isRoom(room) ? historyOf(room) : [];
}
