"use server";
/** The chat's Server Action: posting a message (validated, published on the room's message channel). */
import { requireSession } from "@/lib/auth";
import { checkMessage, isRoom, MESSAGE_EVENT, messageChannel, type ChatMessage, type MessageData } from "@/lib/chat";
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
 * Posts `text` in `room`: published with `herald.publish` on the room's message channel, which is
 * all the keeping there is: Herald's log holds it (retention in lib/chat.ts), every transport
 * delivers it, and whoever opens the room later reads it with `useHistory`. The channel map
 * (`chatChannels`) types this call and validates the message once more before it is stored.
 */
export async function postMessage(room: unknown, text: unknown): Promise<PostResult> {
  const session = await requireSession();
  if (!isRoom(room)) return { ok: false, error: "No such room." };
  const checked = checkMessage(text);
  if (!checked.ok) return checked;
  if (!allowed(session.id)) return { ok: false, error: "Slow down a little: too many messages at once." };
  const data: MessageData = {
    room,
    text: checked.text,
    user: { id: session.id, name: session.name },
    at: Date.now(),
  };
  const id = await herald.publish(messageChannel(room), MESSAGE_EVENT, data);
  return { ok: true, message: { id, ...data } };
}
