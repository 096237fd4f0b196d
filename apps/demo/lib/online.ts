/**
 * Who is online, for the notifications page's recipient list: a signed-in user is online while a
 * page of theirs holds a realtime connection (see `isOnline` in users.ts). A watcher, started by the
 * first page that needs it, looks once a second and publishes each change on the public `online`
 * channel (`status`, `{ id, online, at }`); a user counts as offline only after
 * `OFFLINE_AFTER_MS` (5 s) without a connection, so a reload or a stream rotation does not flicker.
 * Per process, like the rest of the demo's state: with several processes, a user signed in on
 * another one is listed as online (that process expires them when idle).
 */
import { herald } from "./herald";
import { ONLINE_CHANNEL, ONLINE_EVENT, type OnlineStatus, type Recipient } from "./online-shared";
import { isOnline, listUsers } from "./users";

/** How long without a connection before a user is shown offline. */
const OFFLINE_AFTER_MS = 5000;

interface Seen {
  online: boolean;
  /** Last time a connection was seen. */
  connectedAt: number;
}

const shared = globalThis as { __heraldDemoOnline?: Map<string, Seen> };

/** Looks at every signed-in user once; returns the users with their status. */
function look(seen: Map<string, Seen>, now: number, changed: (status: OnlineStatus) => void): Recipient[] {
  const users = listUsers();
  const listed = new Set(users.map((u) => u.id));
  for (const id of seen.keys()) if (!listed.has(id)) seen.delete(id);
  return users.map((user) => {
    const connected = isOnline(user.id);
    // First sight (just signed in, or this process just started): online until proven otherwise.
    const entry = seen.get(user.id) ?? { online: true, connectedAt: now };
    seen.set(user.id, entry);
    if (connected) entry.connectedAt = now;
    const online = connected || now - entry.connectedAt < OFFLINE_AFTER_MS;
    if (online !== entry.online) {
      entry.online = online;
      changed({ id: user.id, online, at: now });
    }
    return { ...user, online };
  });
}

const publish = (status: OnlineStatus): void =>
  void herald.publish(ONLINE_CHANNEL, ONLINE_EVENT, status).catch(() => undefined);

/** Starts the watcher once per process. */
function watcher(): Map<string, Seen> {
  if (shared.__heraldDemoOnline) return shared.__heraldDemoOnline;
  const seen = (shared.__heraldDemoOnline = new Map());
  const timer = setInterval(() => look(seen, Date.now(), publish), 1000);
  timer.unref?.();
  return seen;
}

/** Everyone signed in with their status (newest first); starts the watcher. */
export function recipients(): Recipient[] {
  return look(watcher(), Date.now(), publish);
}
