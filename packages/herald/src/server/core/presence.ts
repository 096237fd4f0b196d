/**
 * Presence over SSE: a stream that follows `presence-*` channels as a signed-in user joins them in
 * the process's {@link PresenceStore} (the one the Pusher WebSocket server shares, so a room holds
 * its SSE and WebSocket members together, once per user), gets each channel's member list as a
 * `herald:presence` event once it is live, and leaves when it closes. Every transition the store
 * tells (from this process or, on a shared store, any other) goes to the channel's other streams
 * as `herald:presence` `added` / `removed`.
 */
import { HeraldError } from "../../protocol/errors.js";
import type { PresenceMember as WireMember } from "../../protocol/envelope.js";
import { presenceFrame } from "./frames.js";
import type { Hub } from "./hub.js";
import type { PresenceMember, PresenceStore } from "./presence-store.js";
import type { Subscriber } from "./subscriber.js";

/** Settings of presence, as `createHerald({ presence })` takes them. */
export interface PresenceOptions {
  /** Where members are kept (default: in memory; with `redis`, the Redis store shared by every process). */
  store?: PresenceStore;
  /**
   * What others see of a member (`info`), e.g. `{ name }`: called once per join with the user id.
   * Default: null. Never put secrets here: every member of the room receives it.
   */
  userInfo?: (userId: string) => unknown;
  /** Most users per presence channel; one more is refused with `forbidden` (default 100). */
  maxMembers?: number;
  /**
   * How long a closed stream stays a member, in ms (default 2,000): a stream that reconnects at once
   * (a rotation, a reload, a network blip) rejoins before it left, and the others see nothing.
   */
  leaveGraceMs?: number;
}

const wire = (m: PresenceMember): WireMember => ({ id: m.user_id, info: m.user_info ?? null });

/** The join every transport makes: `key` as `userId` (with the app's info for them); a full channel is `forbidden`. */
async function joinOrRefuse(
  store: PresenceStore,
  options: PresenceOptions,
  channel: string,
  key: string,
  userId: string,
  info: unknown,
): Promise<void> {
  const max = options.maxMembers ?? 100;
  if ((await store.join(channel, key, { user_id: userId, user_info: info }, max)) === "full") {
    throw new HeraldError("forbidden", `${channel} is full (${max} members)`, { details: { channel } });
  }
}

/** What others see of `userId` (the app's `userInfo`, else null). */
async function infoOf(options: PresenceOptions, userId: string): Promise<unknown> {
  return options.userInfo ? ((await options.userInfo(userId)) ?? null) : null;
}

/** See the module comment. */
export class SsePresence {
  private readonly unwatch: () => void;
  /** This process's streams present on each channel as each user (`channel\nuser` → streams). */
  private readonly held = new Map<string, number>();
  /** The presence channels each stream is a member of. */
  private readonly joined = new WeakMap<Subscriber, Set<string>>();

  constructor(
    private readonly hub: Hub,
    readonly store: PresenceStore,
    private readonly options: PresenceOptions = {},
  ) {
    this.unwatch = store.watch((change) => {
      const type = change.type === "member_added" ? "added" : "removed";
      const frame = presenceFrame({ channel: change.channel, type, member: wire(change.member) });
      hub.sendToChannel(change.channel, frame, change.socketId);
    });
  }

  /**
   * Joins `sub`'s presence channels as its user and sends it each member list; its close leaves
   * them. Throws `forbidden` when a channel is full (the stream is then closed with that error).
   */
  async join(sub: Subscriber): Promise<void> {
    await this.announce(sub, await this.enter(sub, sub.channels));
  }

  /**
   * Joins the presence channels among `channels` as `sub`'s user: all of them, or none (throwing
   * `forbidden` when one is full). Returns the ones joined; the stream's close leaves them.
   */
  async enter(sub: Subscriber, channels: readonly string[]): Promise<string[]> {
    const userId = sub.principal?.userId;
    const wanted = channels.filter((c) => c.startsWith("presence-"));
    if (!userId || wanted.length === 0) return [];
    const info = await infoOf(this.options, userId);
    const done: string[] = [];
    try {
      for (const channel of wanted) {
        await joinOrRefuse(this.store, this.options, channel, sub.id, userId, info);
        done.push(channel);
      }
    } catch (error) {
      for (const channel of done) this.leaveNow(channel, sub.id, userId);
      throw error;
    }
    // The stream may have closed while the store answered: then leave at once.
    if (sub.state === "closed") {
      for (const channel of done) this.leaveNow(channel, sub.id, userId);
      return [];
    }
    let mine = this.joined.get(sub);
    if (!mine) {
      const set = (mine = new Set());
      this.joined.set(sub, set);
      sub.closeHandlers.push(() => {
        const grace = this.options.leaveGraceMs ?? 2000;
        for (const channel of set) {
          this.unhold(channel, userId);
          if (grace <= 0) this.leaveNow(channel, sub.id, userId);
          else setTimeout(() => this.leaveNow(channel, sub.id, userId), grace).unref?.();
        }
        set.clear();
      });
    }
    for (const channel of done) {
      mine.add(channel);
      const key = `${channel}\n${userId}`;
      this.held.set(key, (this.held.get(key) ?? 0) + 1);
    }
    return done;
  }

  /** Sends `sub` the member list of each of `channels` it is a member of. */
  async announce(sub: Subscriber, channels: readonly string[]): Promise<void> {
    const userId = sub.principal?.userId;
    const mine = this.joined.get(sub);
    if (!userId || !mine) return;
    for (const channel of channels) {
      if (!mine.has(channel)) continue;
      const members = await this.store.members(channel);
      this.hub.sendTo(sub, presenceFrame({ channel, type: "members", members: members.map(wire), me: userId }));
    }
  }

  /**
   * Leaves `channels` for `sub` at once (a channel removed from an open stream: no grace, since the
   * stream, and so its member key, stays and may join again).
   */
  leave(sub: Subscriber, channels: readonly string[]): void {
    const userId = sub.principal?.userId;
    const mine = this.joined.get(sub);
    if (!userId || !mine) return;
    for (const channel of channels) {
      if (!mine.delete(channel)) continue;
      this.unhold(channel, userId);
      this.leaveNow(channel, sub.id, userId);
    }
  }

  private unhold(channel: string, userId: string): void {
    const key = `${channel}\n${userId}`;
    const left = (this.held.get(key) ?? 1) - 1;
    if (left <= 0) this.held.delete(key);
    else this.held.set(key, left);
  }

  private leaveNow(channel: string, key: string, userId: string): void {
    void this.store.leave(channel, key, userId).catch(() => undefined);
  }

  /** Presence members held by this process's streams: one per user per channel, however many tabs. */
  get members(): number {
    return this.held.size;
  }

  /** Stops following the store's transitions. */
  close(): void {
    this.unwatch();
  }
}

/** A poller's membership: it holds no connection, so it is a member while it keeps polling. */
interface PollMember {
  readonly channel: string;
  readonly key: string;
  readonly userId: string;
  expiresAt: number;
  /** The channel's version when its member list was last sent to this poller (-1: never). */
  sent: number;
}

/**
 * Presence over long-polling. A poller names itself with the poll id its client sends on every
 * request (`pid`); its first poll of a `presence-*` channel joins it as its user, each later one
 * keeps it a member, and one that stops polling leaves once its `wait` and a grace have passed.
 * An answer carries the channel's member list (`presence`) whenever it changed since that poller's
 * last answer: pollers see who comes and goes with their next answer, within one poll wait.
 */
export class PollPresence {
  private readonly members = new Map<string, PollMember>();
  /** Transitions seen per channel: a poller is sent the list again when this moved. */
  private readonly versions = new Map<string, number>();
  private readonly unwatch: () => void;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    readonly store: PresenceStore,
    private readonly options: PresenceOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.unwatch = store.watch((change) => {
      this.versions.set(change.channel, (this.versions.get(change.channel) ?? 0) + 1);
    });
    this.timer = setInterval(() => this.sweep(), 2000);
    this.timer.unref?.();
  }

  /**
   * Joins or keeps `userId` (as poller `pid`) on each presence channel of `channels` until `waitMs`
   * and a grace from now. Throws `forbidden` when a channel is full.
   */
  async touch(channels: readonly string[], userId: string, pid: string, waitMs: number): Promise<void> {
    const expiresAt = this.now() + waitMs + (this.options.leaveGraceMs ?? 2000) + 5000;
    // The app's userInfo only for a join, not on every poll of a member.
    let info: Promise<unknown> | undefined;
    for (const channel of channels) {
      if (!channel.startsWith("presence-")) continue;
      const key = `poll:${pid}`;
      const id = `${channel}\n${key}`;
      const known = this.members.get(id);
      if (known && known.userId === userId) {
        known.expiresAt = expiresAt;
        continue;
      }
      await joinOrRefuse(this.store, this.options, channel, key, userId, await (info ??= infoOf(this.options, userId)));
      this.members.set(id, { channel, key, userId, expiresAt, sent: -1 });
    }
  }

  /** The member lists this poller has not seen yet (by channel), or undefined when none changed. */
  async changed(
    channels: readonly string[],
    userId: string,
    pid: string,
  ): Promise<Record<string, { members: WireMember[]; me: string }> | undefined> {
    let out: Record<string, { members: WireMember[]; me: string }> | undefined;
    for (const channel of channels) {
      const member = this.members.get(`${channel}\npoll:${pid}`);
      if (!member || member.userId !== userId) continue;
      const version = this.versions.get(channel) ?? 0;
      if (member.sent === version) continue;
      const members = await this.store.members(channel);
      member.sent = version;
      (out ??= {})[channel] = { members: members.map(wire), me: userId };
    }
    return out;
  }

  /** Leaves for the pollers that stopped polling. */
  sweep(): void {
    const now = this.now();
    for (const [id, member] of this.members) {
      if (member.expiresAt > now) continue;
      this.members.delete(id);
      void this.store.leave(member.channel, member.key, member.userId).catch(() => undefined);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.unwatch();
  }
}
