/**
 * Who is signed in, kept in memory (one process), newest first. This is also the server-side
 * session store: a cookie is honoured only while its session id is listed here, so signing out (or
 * being evicted) ends the session for every request, whatever the cookie says.
 *
 * The list is bounded: at most `DEMO_MAX_USERS` (default 100) sessions. A sign-in into a full list
 * evicts the oldest idle session (no open realtime connection, not seen for `DEMO_USER_GRACE_MS`,
 * default 30 s); when every session is in use it is refused with a clear message. Sessions idle for
 * `DEMO_USER_IDLE_MS` (default 30 minutes) are dropped on the next sign-in or listing.
 *
 * With `HERALD_REDIS_URL` set, the list is shared by every demo process on that Redis (so a cookie
 * issued by one process is honoured by the others, and everyone sees the same people): each
 * process keeps its in-memory copy (lookups stay synchronous), writes sign-ins and sign-outs to the
 * hash `herald-demo:users` and announces them on the Redis channel `herald-demo:users`, which every
 * process listens to. The cookie's signing secret must then be shared too (`DEMO_SESSION_SECRET`).
 * Idle expiry and eviction are decided by the process a session was signed in on (or loaded by at
 * start); the others drop it when told.
 */
import { Redis } from "ioredis";
import { activity, herald } from "./herald";
import { skeleton } from "./confusables";
import type { Session } from "./session";

/** A signed-in user as others see them. */
export interface DemoUser {
  id: string;
  name: string;
  /** When they signed in, ms since the epoch. */
  since: number;
}

interface Entry extends DemoUser {
  /** Last request seen with this session (page, action or token), ms since the epoch. */
  lastSeen: number;
  /** Signed in on another process (shared through Redis): that process expires or evicts it. */
  remote?: boolean;
}

const envNumber = (name: string, fallback: number): number => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};
/** Most sessions kept at once. */
export const MAX_USERS = envNumber("DEMO_MAX_USERS", 100);
const GRACE_MS = envNumber("DEMO_USER_GRACE_MS", 30_000);
const IDLE_MS = envNumber("DEMO_USER_IDLE_MS", 30 * 60_000);

const store = globalThis as {
  __heraldDemoUsers?: Map<string, Entry>;
  __heraldDemoUsersShared?: SharedUsers | null;
};
const users = (store.__heraldDemoUsers ??= new Map());

// --- sharing the list through Redis (HERALD_REDIS_URL) -------------------------------------------
const SHARED_KEY = "herald-demo:users";

/** Writes this process's changes to Redis and applies the other processes' changes here. */
interface SharedUsers {
  added(entry: Entry): void;
  removed(id: string): void;
}

type Change = { op: "add"; entry: DemoUser } | { op: "remove"; id: string };

function shareThroughRedis(url: string): SharedUsers {
  const writer = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
  const listener = new Redis(url, { lazyConnect: false, enableReadyCheck: false });
  const ignore = (): void => undefined;
  writer.on("error", ignore);
  listener.on("error", ignore);
  const apply = (change: Change): void => {
    if (change.op === "remove") {
      users.delete(change.id);
    } else if (!users.has(change.entry.id)) {
      const { id, name, since } = change.entry;
      users.set(id, { id, name, since, lastSeen: Date.now(), remote: true });
    }
  };
  // Listen first, then load what is already there: a change between the two is not missed.
  listener.on("message", (_channel: string, message: string) => {
    try {
      apply(JSON.parse(message) as Change);
    } catch {
      // not ours
    }
  });
  void listener
    .subscribe(SHARED_KEY)
    .then(() => writer.hgetall(SHARED_KEY))
    .then((all) => {
      for (const json of Object.values(all)) {
        try {
          const { id, name, since } = JSON.parse(json) as DemoUser;
          if (!users.has(id)) users.set(id, { id, name, since, lastSeen: Date.now() });
        } catch {
          // skip a damaged entry
        }
      }
    })
    .catch(ignore);
  const send = (change: Change): void => {
    void writer.publish(SHARED_KEY, JSON.stringify(change)).catch(ignore);
  };
  return {
    added(entry) {
      const user: DemoUser = { id: entry.id, name: entry.name, since: entry.since };
      void writer.hset(SHARED_KEY, entry.id, JSON.stringify(user)).catch(ignore);
      send({ op: "add", entry: user });
    },
    removed(id) {
      void writer.hdel(SHARED_KEY, id).catch(ignore);
      send({ op: "remove", id });
    },
  };
}

if (store.__heraldDemoUsersShared === undefined) {
  const url = process.env.HERALD_REDIS_URL;
  store.__heraldDemoUsersShared = url ? shareThroughRedis(url) : null;
}
const shared = store.__heraldDemoUsersShared;

/** True while `id` has an open realtime connection (every signed-in page subscribes to `user-{id}`). */
function connected(id: string): boolean {
  try {
    return herald.subscriberCount(`user-${id}`) > 0;
  } catch {
    return false;
  }
}

function idleFor(entry: Entry, ms: number, now: number): boolean {
  return !entry.remote && now - entry.lastSeen >= ms && !connected(entry.id);
}

/** Ends a session: forgets it and tells its open tabs (they move to the sign-in page). */
function end(entry: Entry, why: "signout" | "evicted" | "expired"): void {
  users.delete(entry.id);
  shared?.removed(entry.id);
  void herald
    .publish(`user-${entry.id}`, "session-ended", { reason: why })
    .catch(() => undefined);
  activity("signout", { user: { id: entry.id, name: entry.name } });
}

/** Drops sessions idle for longer than `DEMO_USER_IDLE_MS`. */
function sweep(now = Date.now()): void {
  for (const entry of users.values()) if (idleFor(entry, IDLE_MS, now)) end(entry, "expired");
}

/** A key for comparing display names: names that look alike (see `skeleton`) share it. */
function nameKey(name: string): string {
  return skeleton(name);
}

/**
 * Lists a new session, or says why not: the name is taken (or one that looks the same: case,
 * accents, look-alike letters of other scripts) or the demo is full
 * and nobody is idle.
 */
export function addUser(session: Session): { ok: true } | { ok: false; error: string } {
  const now = Date.now();
  sweep(now);
  const key = nameKey(session.name);
  for (const entry of users.values()) {
    if (nameKey(entry.name) === key) {
      return { ok: false, error: `Someone called “${entry.name}” is already signed in. Pick another name.` };
    }
  }
  if (users.size >= MAX_USERS) {
    // Oldest idle first: Map order is insertion order, so the first idle one is the oldest.
    let victim: Entry | null = null;
    for (const entry of users.values()) {
      if (idleFor(entry, GRACE_MS, now) && (victim === null || entry.lastSeen < victim.lastSeen)) victim = entry;
    }
    if (!victim) {
      return {
        ok: false,
        error: `The demo is full: ${MAX_USERS} people are signed in and active. Try again in a minute.`,
      };
    }
    end(victim, "evicted");
  }
  const entry: Entry = { id: session.id, name: session.name, since: now, lastSeen: now };
  users.set(session.id, entry);
  shared?.added(entry);
  return { ok: true };
}

/** True while the session `id` is signed in; marks it as seen. */
export function seeSession(id: string): boolean {
  const entry = users.get(id);
  if (!entry) return false;
  entry.lastSeen = Date.now();
  return true;
}

/** Ends the session `id` (sign-out). */
export function removeUser(id: string): void {
  const entry = users.get(id);
  if (entry) end(entry, "signout");
}

/** One user, or null. */
export function getUser(id: string): DemoUser | null {
  const entry = users.get(id);
  return entry ? { id: entry.id, name: entry.name, since: entry.since } : null;
}

/** Everyone signed in, newest first (at most `DEMO_MAX_USERS`). */
export function listUsers(): DemoUser[] {
  sweep();
  return [...users.values()].sort((a, b) => b.since - a.since).map(({ id, name, since }) => ({ id, name, since }));
}

/**
 * Whether `id` is online now: a realtime connection open on this process (every signed-in page
 * keeps one), or signed in on another process (which expires it when idle; not tracked here).
 */
export function isOnline(id: string): boolean {
  const entry = users.get(id);
  return entry !== undefined && (entry.remote === true || connected(entry.id));
}

/** How many are signed in. */
export function userCount(): number {
  return users.size;
}
