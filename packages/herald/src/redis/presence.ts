/** Presence members in Redis: `RedisPresenceStore`, for `createPusherServer({ presence })`. */
import { randomBytes } from "node:crypto";
import type { RedisConnection } from "../brokers/redis.js";
import type { PresenceChange, PresenceJoin, PresenceMember, PresenceStore } from "../server/core/presence-store.js";

/** Options for {@link RedisPresenceStore}. */
export interface RedisPresenceStoreOptions {
  /** Key prefix (default `herald`). */
  prefix?: string;
  /**
   * How long a connection stays a member without its process renewing it (default 30,000 ms; renewed
   * every third of it). A crashed process' members disappear within this time.
   */
  ttlMs?: number;
  /** Receives Redis errors of the renewal. */
  onError?: (error: unknown) => void;
}

interface ScriptedPresence {
  heraldPresenceJoin(...args: (string | number)[]): Promise<number>;
  heraldPresenceLeave(...args: (string | number)[]): Promise<number>;
  heraldPresenceMembers(...args: (string | number)[]): Promise<string[]>;
  heraldPresenceRenew(...args: (string | number)[]): Promise<number>;
}

/*
 * Per channel: `{prefix}:presence:{channel}` a sorted set of connections (`{user}\n{process}\n{socket}`
 * scored by when they expire) and `{prefix}:presence-info:{channel}` a hash user → user_info (the first
 * connection's; one field per present user). `{prefix}:presence-channels` a sorted set of channels
 * scored by their latest expiry. Every script first drops expired connections, so a member is there
 * exactly while one of its connections is live. Every transition (a user added, a user gone: left
 * or expired) is PUBLISHed on `{prefix}:presence-events` by the script that made it, so each is told
 * once, whichever process's script it was: `{c: channel, t: "a"|"r", u: user, i: info json, o:
 * process that ran the script, s: socket that joined or left}`. The keys share the `{prefix}` hash
 * tag (one slot on a Cluster).
 *
 * KEYS of every script: connections, info, channels, events. ARGV[1]: channel, ARGV[2]: the process
 * running the script.
 */
const PURGE = `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function userOf(entry) return string.match(entry, '^([^\\n]*)') end
local function socketOf(entry) return string.match(entry, '([^\\n]*)$') end
local function hasUser(key, user)
  for _, entry in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if userOf(entry) == user then return true end
  end
  return false
end
local function announce(kind, user, info, socket)
  redis.call('PUBLISH', KEYS[4], cjson.encode({ c = ARGV[1], t = kind, u = user, i = info, o = ARGV[2], s = socket }))
end
-- Drops expired connections, and the users left with none (announced as gone); returns the live entries.
local function purge(now)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
  if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
    for _, entry in ipairs(expired) do
      local user = userOf(entry)
      if not hasUser(KEYS[1], user) and redis.call('HDEL', KEYS[2], user) == 1 then
        announce('r', user, 'null', '')
      end
    end
  end
  local live = redis.call('ZRANGE', KEYS[1], 0, -1)
  if #live == 0 then
    redis.call('DEL', KEYS[1], KEYS[2])
    redis.call('ZREM', KEYS[3], ARGV[1])
  end
  return live
end
`;

/**
 * ARGV: channel, process, entry, user, info json, ttl ms, max members (0: no cap). Returns 1 when
 * the user is new, 0 when present, -1 when the channel is full (nothing added).
 */
const JOIN = `${PURGE}
local now = nowMs()
purge(now)
local first = not hasUser(KEYS[1], ARGV[4])
local cap = tonumber(ARGV[7])
if first and cap > 0 and redis.call('HLEN', KEYS[2]) >= cap then return -1 end
local expires = now + tonumber(ARGV[6])
redis.call('ZADD', KEYS[1], expires, ARGV[3])
if first then
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
  announce('a', ARGV[4], ARGV[5], socketOf(ARGV[3]))
end
redis.call('ZADD', KEYS[3], 'GT', expires, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return first and 1 or 0
`;

/** ARGV: channel, process, entry, user. Returns 1 when it was the user's last connection. */
const LEAVE = `${PURGE}
local removed = redis.call('ZREM', KEYS[1], ARGV[3])
local last = 0
-- A user whose other connections have expired but are not purged yet is announced by the purge.
if removed == 1 and not hasUser(KEYS[1], ARGV[4]) and redis.call('HDEL', KEYS[2], ARGV[4]) == 1 then
  announce('r', ARGV[4], 'null', socketOf(ARGV[3]))
  last = 1
end
purge(nowMs())
return last
`;

/** ARGV: channel, process. Returns user, info, user, info, … (first joined first). */
const MEMBERS = `${PURGE}
local live = purge(nowMs())
local seen = {}
local out = {}
for _, entry in ipairs(live) do
  local user = userOf(entry)
  if not seen[user] then
    seen[user] = true
    out[#out + 1] = user
    out[#out + 1] = redis.call('HGET', KEYS[2], user) or 'null'
  end
end
return out
`;

/**
 * ARGV: channel, process, ttl ms, entries… Renews this process' live entries (and, through the
 * purge, announces the users whose connections expired: a dead process' members).
 */
const RENEW = `${PURGE}
local now = nowMs()
purge(now)
local expires = now + tonumber(ARGV[3])
local renewed = 0
for i = 4, #ARGV do
  if redis.call('ZADD', KEYS[1], 'XX', 'CH', expires, ARGV[i]) == 1 then renewed = renewed + 1 end
end
if renewed > 0 then
  redis.call('ZADD', KEYS[3], 'GT', expires, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return renewed
`;

/**
 * The `herald/pusher` {@link PresenceStore} on Redis: every process sees the same members, counted
 * per user across processes, and every transition told once to every process (see {@link watch}).
 * Each process renews its own connections every `ttlMs / 3`; the connections of a process that
 * dies are dropped once `ttlMs` passes without renewal, and the first script to see them gone (a
 * surviving process's renewal, a join, a leave or a member list) announces `member_removed`.
 */
export class RedisPresenceStore implements PresenceStore {
  private readonly tag: string;
  private readonly ttlMs: number;
  private readonly process = randomBytes(9).toString("base64url");
  /** This process' connections: channel → entries. */
  private readonly mine = new Map<string, Set<string>>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly onError: (error: unknown) => void;
  private readonly scripts: ScriptedPresence;
  private readonly watchers = new Set<(change: PresenceChange) => void>();
  private subscriber: RedisConnection | undefined;
  private subscribed: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: RedisConnection,
    options: RedisPresenceStoreOptions = {},
  ) {
    this.tag = `{${options.prefix ?? "herald"}}`;
    this.ttlMs = options.ttlMs ?? 30_000;
    this.onError = options.onError ?? (() => {});
    redis.defineCommand("heraldPresenceJoin", { numberOfKeys: 4, lua: JOIN });
    redis.defineCommand("heraldPresenceLeave", { numberOfKeys: 4, lua: LEAVE });
    redis.defineCommand("heraldPresenceMembers", { numberOfKeys: 4, lua: MEMBERS });
    redis.defineCommand("heraldPresenceRenew", { numberOfKeys: 4, lua: RENEW });
    this.scripts = redis as unknown as ScriptedPresence;
  }

  private keys(channel: string): [string, string, string, string] {
    return [
      `${this.tag}:presence:${channel}`,
      `${this.tag}:presence-info:${channel}`,
      `${this.tag}:presence-channels`,
      this.eventsChannel,
    ];
  }

  private get eventsChannel(): string {
    return `${this.tag}:presence-events`;
  }

  private entry(socketId: string, userId: string): string {
    return `${userId}\n${this.process}\n${socketId}`;
  }

  async join(channel: string, socketId: string, member: PresenceMember, maxMembers = Infinity): Promise<PresenceJoin> {
    const entry = this.entry(socketId, member.user_id);
    let entries = this.mine.get(channel);
    if (!entries) this.mine.set(channel, (entries = new Set()));
    entries.add(entry);
    this.ensureTimer();
    const info = JSON.stringify(member.user_info ?? null);
    const cap = Number.isFinite(maxMembers) ? Math.max(1, Math.floor(maxMembers)) : 0;
    const result = await this.scripts.heraldPresenceJoin(
      ...this.keys(channel),
      channel,
      this.process,
      entry,
      member.user_id,
      info,
      this.ttlMs,
      cap,
    );
    if (result === -1) {
      entries.delete(entry);
      if (entries.size === 0) this.mine.delete(channel);
      return "full";
    }
    return result === 1 ? "first" : "again";
  }

  async leave(channel: string, socketId: string, userId: string): Promise<boolean> {
    const entry = this.entry(socketId, userId);
    const entries = this.mine.get(channel);
    entries?.delete(entry);
    if (entries?.size === 0) this.mine.delete(channel);
    return (await this.scripts.heraldPresenceLeave(...this.keys(channel), channel, this.process, entry, userId)) === 1;
  }

  async members(channel: string): Promise<PresenceMember[]> {
    const flat = await this.scripts.heraldPresenceMembers(...this.keys(channel), channel, this.process);
    const out: PresenceMember[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      let info: unknown = null;
      try {
        info = JSON.parse(flat[i + 1]!);
      } catch {
        // stored by something else: shown as null
      }
      out.push({ user_id: flat[i]!, user_info: info });
    }
    return out;
  }

  async channels(): Promise<string[]> {
    const [, , key] = this.keys("");
    const [seconds, micros] = (await this.redis.time()) as unknown as [string | number, string | number];
    const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    await this.redis.zremrangebyscore(key, "-inf", nowMs);
    return this.redis.zrange(key, 0, "-1"); // a string: ioredis 6's types take no number there
  }

  /** Renews this process' connections now (the timer does this every `ttlMs / 3`). */
  async renew(): Promise<void> {
    await Promise.all(
      [...this.mine].map(([channel, entries]) =>
        this.scripts.heraldPresenceRenew(...this.keys(channel), channel, this.process, this.ttlMs, ...entries),
      ),
    );
  }

  /**
   * Tells `listener` of every transition on every process, through Redis pub/sub on a connection
   * of its own (opened with the first watcher, closed with the last).
   */
  watch(listener: (change: PresenceChange) => void): () => void {
    this.watchers.add(listener);
    if (!this.subscriber) {
      // Seen as one signature: ioredis 6's types make `duplicate` on `Redis | Cluster` uncallable.
      const subscriber = (this.subscriber = (this.redis as { duplicate(): RedisConnection }).duplicate());
      subscriber.on("error", this.onError);
      subscriber.on("message", (channel: string, message: string) => {
        if (channel === this.eventsChannel) this.onEvent(message);
      });
      this.subscribed = subscriber.subscribe(this.eventsChannel).then(
        () => undefined,
        (error: unknown) => this.onError(error),
      );
    }
    return () => {
      this.watchers.delete(listener);
      if (this.watchers.size === 0) this.stopWatching();
    };
  }

  /** Resolves once transitions flow to the watchers (after the first `watch`). */
  watching(): Promise<void> {
    return this.subscribed;
  }

  private onEvent(message: string): void {
    let m: { c: string; t: string; u: string; i: string; o: string; s: string };
    try {
      m = JSON.parse(message) as typeof m;
    } catch {
      return;
    }
    let info: unknown = null;
    try {
      info = JSON.parse(m.i);
    } catch {
      // stored by something else: shown as null
    }
    const local = m.o === this.process;
    const change: PresenceChange = {
      channel: m.c,
      type: m.t === "a" ? "member_added" : "member_removed",
      member: { user_id: m.u, user_info: info },
      ...(local && m.s ? { socketId: m.s } : {}),
      local,
    };
    for (const watcher of [...this.watchers]) watcher(change);
  }

  private stopWatching(): void {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber) void subscriber.quit().catch(() => subscriber.disconnect());
  }

  /** Stops renewing (this process' members then expire within `ttlMs`) and watching. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.watchers.clear();
    this.stopWatching();
  }

  private ensureTimer(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(
      () => {
        if (this.mine.size === 0) return this.close();
        this.renew().catch(this.onError);
      },
      Math.max(50, Math.floor(this.ttlMs / 3)),
    );
    this.timer.unref?.();
  }
}
