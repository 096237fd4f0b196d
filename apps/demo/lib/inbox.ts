/**
 * Notifications: what a message may be (checked on the server before it is sent) and the last ones
 * each user received, in memory, so the inbox survives a reload.
 */
import { checkText } from "./confusables";

/** One notification as sent on `user-{id}`. */
export interface DemoNotification {
  id: string;
  from: { id: string; name: string };
  message: string;
  at: number;
}

/** Longest notification, in characters. */
export const MAX_NOTIFICATION_LENGTH = 280;

/**
 * A notification's text as it will be sent, or why it cannot be: 1-280 characters, without
 * control or text-direction characters (the check chat messages and names get too: a
 * right-to-left override would make "invoice\u202Egpj.exe" read as "invoiceexe.jpg").
 */
export function checkNotification(raw: unknown): { ok: true; text: string } | { ok: false; error: string } {
  return checkText(raw, MAX_NOTIFICATION_LENGTH);
}

const KEEP = 30;
const store = globalThis as { __heraldDemoInbox?: Map<string, DemoNotification[]> };
const inboxes = (store.__heraldDemoInbox ??= new Map());

/** Records a notification for `userId` (newest first). */
export function addToInbox(userId: string, notification: DemoNotification): void {
  const list = inboxes.get(userId) ?? [];
  list.unshift(notification);
  if (list.length > KEEP) list.length = KEEP;
  inboxes.set(userId, list);
}

/** `userId`'s recent notifications, newest first. */
export function inboxOf(userId: string): DemoNotification[] {
  return [...(inboxes.get(userId) ?? [])];
}
