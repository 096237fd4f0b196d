/** The last notifications each user received, in memory, so the inbox survives a reload. */

/** One notification as sent on `user-{id}`. */
export interface DemoNotification {
  id: string;
  from: { id: string; name: string };
  message: string;
  at: number;
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
