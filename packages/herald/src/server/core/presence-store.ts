/**
 * Presence: who is on each presence channel, counted per user (one user may hold several
 * connections, on any transport). One registry for the process, shared by SSE and the Pusher
 * WebSocket server, behind {@link PresenceStore} so a shared (Redis) store can replace the
 * in-memory one. The store also tells of every transition (a user's first connection joined, their
 * last one left or expired) once, to every process that watches: each transport turns them into
 * its own frames (`herald:presence`, `member_added` / `member_removed`) for its own connections.
 */

/** A member as the protocol shows it. */
export interface PresenceMember {
  readonly user_id: string;
  readonly user_info: unknown;
}

/**
 * What a join did: `"first"` when this is the user's first connection on the channel (then
 * `member_added` goes out), `"again"` for another connection of a present user, `"full"` when the
 * channel already held `maxMembers` other users (nothing was added).
 */
export type PresenceJoin = "first" | "again" | "full";

/** A user joined a presence channel (first connection) or left it (last connection gone or expired). */
export interface PresenceChange {
  readonly channel: string;
  readonly type: "member_added" | "member_removed";
  /** The member (`user_info` is null on removal). */
  readonly member: PresenceMember;
  /** The connection that joined or left, when it is on this process (it is not told of itself). */
  readonly socketId?: string;
  /** True on the one process that made the change (it sends the webhook). */
  readonly local: boolean;
}

/** The registry of presence members. */
export interface PresenceStore {
  /**
   * Adds connection `socketId` as `member` of `channel`, unless the user is new and the channel
   * already holds `maxMembers` users: the check and the add are one step, so concurrent joins
   * (from any process) never overshoot the cap.
   */
  join(channel: string, socketId: string, member: PresenceMember, maxMembers?: number): Promise<PresenceJoin>;
  /** Removes a connection. Resolves true when it was the user's last one (then `member_removed`). */
  leave(channel: string, socketId: string, userId: string): Promise<boolean>;
  /** The channel's members, one per user (the first connection's `user_info`). */
  members(channel: string): Promise<PresenceMember[]>;
  /** Channels with at least one member. */
  channels(): Promise<string[]>;
  /**
   * Calls `listener` once for every transition, on every process (a shared store carries them
   * between processes). Returns the function that stops it.
   */
  watch(listener: (change: PresenceChange) => void): () => void;
}

interface UserEntry {
  info: unknown;
  sockets: Set<string>;
}

/** The in-process {@link PresenceStore}. */
export class MemoryPresenceStore implements PresenceStore {
  private readonly byChannel = new Map<string, Map<string, UserEntry>>();
  private readonly watchers = new Set<(change: PresenceChange) => void>();

  watch(listener: (change: PresenceChange) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  private tell(change: PresenceChange): void {
    for (const watcher of [...this.watchers]) watcher(change);
  }

  join(channel: string, socketId: string, member: PresenceMember, maxMembers = Infinity): Promise<PresenceJoin> {
    const users = this.byChannel.get(channel) ?? new Map<string, UserEntry>();
    const entry = users.get(member.user_id);
    if (entry) {
      entry.sockets.add(socketId);
      return Promise.resolve("again");
    }
    if (users.size >= maxMembers) return Promise.resolve("full");
    users.set(member.user_id, { info: member.user_info, sockets: new Set([socketId]) });
    this.byChannel.set(channel, users);
    this.tell({ channel, type: "member_added", member, socketId, local: true });
    return Promise.resolve("first");
  }

  leave(channel: string, socketId: string, userId: string): Promise<boolean> {
    const users = this.byChannel.get(channel);
    const entry = users?.get(userId);
    if (!users || !entry || !entry.sockets.delete(socketId)) return Promise.resolve(false);
    if (entry.sockets.size > 0) return Promise.resolve(false);
    users.delete(userId);
    if (users.size === 0) this.byChannel.delete(channel);
    this.tell({ channel, type: "member_removed", member: { user_id: userId, user_info: null }, socketId, local: true });
    return Promise.resolve(true);
  }

  members(channel: string): Promise<PresenceMember[]> {
    const users = this.byChannel.get(channel);
    if (!users) return Promise.resolve([]);
    return Promise.resolve([...users].map(([user_id, entry]) => ({ user_id, user_info: entry.info })));
  }

  channels(): Promise<string[]> {
    return Promise.resolve([...this.byChannel.keys()]);
  }
}
