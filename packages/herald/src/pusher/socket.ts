/**
 * One Pusher connection: the messages of protocol 7 (ping, subscribe, unsubscribe, sign-in, client
 * events) over a `ws` socket, with the checks the protocol asks for and Herald's own rules (see
 * `admission.ts`): channel rules on public channels, a channel cap, a message rate, client events
 * validated like `POST …/publish`, and unsent bytes counted per frame, not per payload byte.
 */
import { Buffer } from "node:buffer";
import { randomInt } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { RawData, WebSocket } from "ws";
import { assertEventName } from "../protocol/names.js";
import { decodeCursor } from "../protocol/cursor.js";
import { isHeraldError } from "../protocol/errors.js";
import { firstAnswer, readPoll, type PollAnswer } from "../server/core/poll.js";
import { headsOf, readAfter } from "../server/core/partitions.js";
import { assertDepth } from "../server/core/publish.js";
import type { Principal } from "../server/core/subscriber.js";
import type { Herald } from "../server/herald.js";
import { admitSignin, countClientEvent, freeSlot, mayFollow, type SocketAdmission } from "./admission.js";
import {
  brokerChannel,
  brokerJsonOfPusherData,
  channelKind,
  isCacheChannel,
  needsAuth,
  userChannel,
} from "./channels.js";
import type { Fanout, FanoutTarget } from "./fanout.js";
import { encodeEvent } from "./fanout.js";
import type { PresenceMember, PresenceStore } from "./presence.js";
import { CODES, errorFrame, frame, parseClientFrame } from "./protocol.js";
import { verifySocketAuth } from "./signature.js";
import type { Webhooks } from "./webhooks.js";

/** Settings a connection needs, resolved once by the server. */
export interface SocketContext {
  readonly herald: Herald;
  readonly key: string;
  readonly secret: string;
  readonly fanout: Fanout;
  readonly presence: PresenceStore;
  readonly webhooks: Webhooks | undefined;
  readonly clientEvents: boolean;
  readonly clientEventsPerSecond: number;
  readonly maxEventBytes: number;
  readonly maxPresenceMembers: number;
  readonly maxUserInfoBytes: number;
  readonly maxBufferedBytes: number;
  /** Channels one connection may hold. */
  readonly maxChannels: number;
  /** Messages a connection may send: a burst, then a sustained rate per second. */
  readonly messageRate: { readonly capacity: number; readonly refillPerSecond: number };
  /** Deepest JSON nesting of a client event's data. */
  readonly maxDepth: number;
  /** How long a connection the server closed may take to go, in ms, before its socket is destroyed. */
  readonly closeGraceMs: number;
  /** Whether `herald:resume` is answered (and announced by `herald: 1`). */
  readonly resumeOverSocket: boolean;
  readonly isReserved: (channel: string) => boolean;
  readonly now: () => number;
  /** Counts shared by the server's sockets (for `herald.stats()`). */
  readonly counters: { dropped: number };
  /** Called once when the socket is gone, with why (a disconnect reason, as SSE and poll report theirs). */
  onClosed(socket: PusherSocket, reason: string): void;
}

/**
 * What few connections need (presence, client events, a backed-up socket, a sign-in, a withdrawn
 * subscription), made on first use: a connection that only follows channels carries none of it.
 */
interface Rare {
  /** Presence channels this connection is on, with the user id it joined each as. */
  presenceUsers?: Map<string, string>;
  /** Subscriptions the client withdrew while they were being set up. */
  cancelled?: Set<string>;
  /** Presence channels whose member list was sent (transitions go out at once). */
  presenceReady?: Set<string>;
  /** Presence transitions held until the member list is sent. */
  presenceHeld?: Map<string, Buffer[]>;
  /** The client-event window: when it started and how many it has seen. */
  windowStart?: number;
  windowCount?: number;
  /** Counts a queued frame out (made the first time the socket backs up). */
  flushed?: () => void;
  /** The signed-in user (after `pusher:signin`), and the release of the slot it took. */
  userId?: string;
  releaseSignin?: () => void;
  /** Frames handed to the socket and not yet flushed to the kernel, counted while it is backed up. */
  queuedFrames?: number;
}

/** Where a `ws` socket finds its connection: the listeners are shared by every socket (no closures per socket). */
const OWNER = Symbol("herald.pusherSocket");
type OwnedWebSocket = WebSocket & { [OWNER]?: PusherSocket };

/**
 * What one queued frame costs beyond its bytes (the socket's write request, the frame header and
 * their objects; measured at about 300 bytes of heap per small frame with `ws` 8), so a client
 * that reads nothing holds at most `maxBufferedBytes` whatever the size of what it is sent.
 */
export const FRAME_OVERHEAD_BYTES = 320;

/** `ws.send`'s options for every frame: one object for all sends (`ws` copies what it reads of it). */
const TEXT_FRAME = Object.freeze({ binary: false });

/**
 * The bound of each part of a socket id: below 2^31, so `| 0` makes each part a small integer to V8,
 * kept in the object (no string or number box per connection).
 */
const SOCKET_ID_PART = 2 ** 31;

/** See the module comment. */
export class PusherSocket implements FanoutTarget, SocketAdmission {
  /**
   * What the channel rules read of the upgrade (the admission's, see `SocketAdmission`), kept here
   * rather than in an object of its own: this is per connection.
   */
  readonly rawUrl: string;
  readonly headers: IncomingHttpHeaders;
  readonly ip: string | undefined;
  /** Who connected, from the session (null: anonymous); `pusher:signin` may sign in someone else. */
  readonly principal: Principal | null;
  /** Whether the connection slots the admission took were freed. */
  private released = false;
  /** The two numbers of the socket id (`{a}.{b}`, the protocol's `^\d+\.\d+$`), made into text when asked. */
  private readonly idA = randomInt(1, SOCKET_ID_PART) | 0;
  private readonly idB = randomInt(1, SOCKET_ID_PART) | 0;
  /** Last time anything arrived from the client. */
  lastSeen: number;
  /** When the server sent `pusher:ping` and is waiting for an answer. */
  pingSentAt: number | undefined;
  /** Silence from the client after which the server pings it, in ms (set by {@link established}). */
  quietMs = 0;
  /**
   * The channels this connection is subscribed to, in order: none, one name (most connections), or
   * a list (at most `maxChannels`, a few: a list costs a fraction of a Map).
   */
  private subscribed: string | string[] | undefined;
  /** Subscriptions still being set up (auth checked, waiting for the broker); none: undefined. */
  private joining: string[] | undefined;
  /**
   * The message bucket: thousandths of a token left (refilled from `lastSeen` to the next message),
   * an integer, so V8 keeps it in the object rather than in a number box of its own.
   */
  private messageMilli: number;
  private closed = false;
  /** See {@link Rare}. */
  private rare: Rare | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly ctx: SocketContext,
    admission: SocketAdmission,
  ) {
    this.rawUrl = admission.rawUrl;
    this.headers = admission.headers;
    this.ip = admission.ip;
    this.principal = admission.principal;
    this.lastSeen = ctx.now();
    this.messageMilli = Math.floor(ctx.messageRate.capacity * 1000);
    (ws as OwnedWebSocket)[OWNER] = this;
    ws.on("message", PusherSocket.onWsMessage);
    ws.on("close", PusherSocket.onWsClose);
    ws.on("error", PusherSocket.onWsError);
  }

  private static onWsMessage(this: OwnedWebSocket, data: RawData, isBinary: boolean): void {
    const socket = this[OWNER];
    if (!socket || socket.closed) return;
    if (!socket.takeMessageToken()) {
      socket.close(CODES.overCapacity, "Too many messages: reconnect after a pause", "rate_limited");
      return;
    }
    socket.pingSentAt = undefined;
    if (isBinary) return;
    void socket.onMessage(data.toString()).catch(() => {
      /* a failure on one message (broker down) is reported where it happened */
    });
  }

  private static onWsClose(this: OwnedWebSocket): void {
    const socket = this[OWNER];
    if (!socket) return;
    // The connection slots are held until the socket is really gone, as for SSE: a closed client
    // that does not read keeps its slot until the close grace destroys its socket.
    socket.release();
    socket.rare?.releaseSignin?.();
    socket.cleanup("client_closed");
  }

  /** ws reports a client's protocol violation (bad frame, message over maxPayload) here, then closes. */
  private static onWsError(this: OwnedWebSocket): void {
    this[OWNER]?.cleanup("protocol_error");
  }

  /**
   * Sends a frame unless the client is too far behind reading: past `maxBufferedBytes` of unsent
   * frames, each counted as its bytes plus {@link FRAME_OVERHEAD_BYTES}, it is closed with 4100.
   */
  send(data: Buffer | string): void {
    if (this.closed) return;
    const backlog = this.ws.bufferedAmount;
    if (backlog === 0) {
      this.ws.send(data, TEXT_FRAME);
      return;
    }
    const rare = (this.rare ??= {});
    const queued = rare.queuedFrames ?? 0;
    if (backlog + (queued + 1) * FRAME_OVERHEAD_BYTES > this.ctx.maxBufferedBytes) {
      this.ctx.counters.dropped++;
      this.close(CODES.overCapacity, "client too slow: reconnect and catch up", "slow_consumer");
      return;
    }
    rare.queuedFrames = queued + 1;
    this.ws.send(data, TEXT_FRAME, (rare.flushed ??= () => void rare.queuedFrames!--));
  }

  /**
   * Sends `pusher:error` and closes with `code`. A client that does not complete the closing
   * handshake within the close grace has its socket destroyed (it holds nothing after that).
   * `reason` is what the metrics and logs report (`server_closing`, `slow_consumer`, `rate_limited`…).
   */
  close(code: number, message: string, reason: string): void {
    if (this.closed) return;
    if (this.ws.readyState === this.ws.OPEN) {
      this.ws.send(errorFrame(code, message));
      this.ws.close(code, message);
      const ws = this.ws;
      const timer = setTimeout(() => ws.terminate(), this.ctx.closeGraceMs);
      timer.unref?.();
      ws.once("close", () => clearTimeout(timer));
    }
    this.cleanup(reason);
  }

  /**
   * Sends a presence transition frame (`member_added` / `member_removed`) on `channel`: at once when
   * the member list was sent, held until then while subscribing, dropped otherwise.
   */
  sendPresence(channel: string, data: Buffer): void {
    if (this.rare?.presenceReady?.has(channel)) this.send(data);
    else if (this.isSubscribed(channel) || this.isJoining(channel)) {
      const heldBy = ((this.rare ??= {}).presenceHeld ??= new Map());
      const held = heldBy.get(channel) ?? [];
      held.push(data);
      heldBy.set(channel, held);
    }
  }

  /**
   * Live events of `channel` were lost on the bus (Redis pub/sub missed them and retention removed
   * them before they could be read back): closes with 4200, so the client reconnects at once and
   * Herald's client resumes from its cursor, where it is told with a retention gap.
   */
  lost(channel: string): void {
    this.close(
      CODES.reconnect,
      `Events of ${channel} were lost on the bus: reconnect and resume`,
      "broker_unavailable",
    );
  }

  /**
   * Sends `pusher:connection_established`, with `herald: 1` (an extra field Pusher clients ignore)
   * when this server answers `herald:resume`: Herald's client then catches up over the socket.
   * With `heartbeatMs` (Herald's client), the server pings after that much silence instead of
   * `activity_timeout` and says so (`heartbeat`, ms), so the client can tell a stalled socket from a
   * quiet one within about two intervals.
   */
  established(activityTimeoutS: number, heartbeatMs?: number): void {
    this.quietMs = heartbeatMs ?? activityTimeoutS * 1000;
    const data: Record<string, unknown> = { socket_id: this.socketId, activity_timeout: activityTimeoutS };
    if (this.ctx.resumeOverSocket) data.herald = 1;
    if (heartbeatMs !== undefined) data.heartbeat = heartbeatMs;
    this.send(frame("pusher:connection_established", data));
  }

  /** The channels this connection is subscribed to. */
  channels(): string[] {
    const subscribed = this.subscribed;
    return subscribed === undefined ? [] : typeof subscribed === "string" ? [subscribed] : [...subscribed];
  }

  /** This connection's id, `{number}.{number}`. */
  get socketId(): string {
    return `${this.idA}.${this.idB}`;
  }

  /** The signed-in user (after `pusher:signin`). */
  get userId(): string | undefined {
    return this.rare?.userId;
  }

  /** The Herald principal the channel rules see: the user of `pusher:signin`, else the session's user. */
  private get actingPrincipal(): Principal | null {
    const userId = this.rare?.userId;
    return userId === undefined ? this.principal : { userId };
  }

  /** Frees the connection slots the admission took (idempotent; the socket holds them until it is gone). */
  release(): void {
    if (this.released) return;
    this.released = true;
    freeSlot(this.ctx.herald, this);
  }

  /** How many channels this connection is subscribed to. */
  channelCount(): number {
    const subscribed = this.subscribed;
    return subscribed === undefined ? 0 : typeof subscribed === "string" ? 1 : subscribed.length;
  }

  private isSubscribed(channel: string): boolean {
    const subscribed = this.subscribed;
    return subscribed === channel || (typeof subscribed === "object" && subscribed.includes(channel));
  }

  private addSubscribed(channel: string): void {
    const subscribed = this.subscribed;
    if (subscribed === undefined) this.subscribed = channel;
    else if (typeof subscribed === "string") this.subscribed = [subscribed, channel];
    else subscribed.push(channel);
  }

  /** Removes `channel` from the subscribed ones; false when it was not there. */
  private dropSubscribed(channel: string): boolean {
    const subscribed = this.subscribed;
    if (subscribed === channel) this.subscribed = undefined;
    else if (typeof subscribed !== "object" || !dropFrom(subscribed, channel)) return false;
    return true;
  }

  private isJoining(channel: string): boolean {
    return this.joining !== undefined && this.joining.includes(channel);
  }

  private startJoining(channel: string): void {
    if (this.joining) this.joining.push(channel);
    else this.joining = [channel]; // a literal of one: `push` on an empty array reserves 17 slots
  }

  private stopJoining(channel: string): void {
    if (this.joining && dropFrom(this.joining, channel) && this.joining.length === 0) this.joining = undefined;
  }

  /** This connection's presence memberships: `[channel, user id]` for each presence channel it is on. */
  *presence(): Generator<[string, string]> {
    const users = this.rare?.presenceUsers;
    if (users) for (const [channel, userId] of users) yield [channel, userId];
  }

  /**
   * A message arrived: takes one token of the message bucket, refilled for the time since the
   * previous message (`lastSeen`, which becomes now); false when it is empty.
   */
  private takeMessageToken(): boolean {
    const { capacity, refillPerSecond } = this.ctx.messageRate;
    const now = this.ctx.now();
    const elapsed = Math.max(0, now - this.lastSeen) / 1000;
    this.lastSeen = now;
    const milli = Math.min(
      Math.floor(capacity * 1000),
      this.messageMilli + Math.floor(elapsed * refillPerSecond * 1000),
    );
    if (milli < 1000) {
      this.messageMilli = milli;
      return false;
    }
    this.messageMilli = milli - 1000;
    return true;
  }

  private async onMessage(text: string): Promise<void> {
    const message = parseClientFrame(text);
    if (!message) {
      this.send(errorFrame(null, "Invalid message: JSON {event, data, channel?} expected"));
      return;
    }
    const data = (typeof message.data === "object" && message.data !== null ? message.data : {}) as Record<
      string,
      unknown
    >;
    switch (message.event) {
      case "pusher:ping":
        this.send(frame("pusher:pong", {}));
        return;
      case "pusher:pong":
        return;
      case "pusher:subscribe":
        return this.subscribe(data);
      case "pusher:unsubscribe":
        if (typeof data.channel === "string") await this.unsubscribe(data.channel);
        return;
      case "pusher:signin":
        return this.signin(data);
      case "herald:resume":
        if (this.ctx.resumeOverSocket) return this.resume(data);
        return;
      default:
        if (message.event.startsWith("client-")) return this.clientEvent(message.event, message.channel, message.data);
    }
  }

  private subscriptionError(channel: string, status: number, error: string, type = "AuthError"): void {
    this.send(frame("pusher:subscription_error", { type, error, status }, channel));
  }

  /** `pusher:subscribe {channel, auth?, channel_data?}`. */
  private async subscribe(data: Record<string, unknown>): Promise<void> {
    const channel = data.channel;
    if (typeof channel !== "string" || brokerChannel(channel) === null) {
      this.send(errorFrame(null, "Invalid channel name"));
      return;
    }
    if (this.isSubscribed(channel) || this.isJoining(channel)) return;
    if (this.channelCount() + (this.joining?.length ?? 0) >= this.ctx.maxChannels) {
      this.subscriptionError(channel, 429, `At most ${this.ctx.maxChannels} channels per connection`, "LimitReached");
      return;
    }
    const kind = channelKind(channel);
    if (kind === "user") {
      if (this.userId === undefined || channel !== userChannel(this.userId)) {
        this.subscriptionError(channel, 403, "Only the signed-in user may subscribe to their own user channel");
        return;
      }
    } else if (kind === "public") {
      if (this.ctx.isReserved(channel)) {
        this.subscriptionError(channel, 403, "This channel is reserved for Herald's own channel rules");
        return;
      }
      this.startJoining(channel);
      let verdict;
      try {
        verdict = await mayFollow(this.ctx.herald, this, this.actingPrincipal, brokerChannel(channel)!);
      } catch {
        verdict = { ok: false as const, status: 500, message: "The app's channel rule failed" };
      } finally {
        this.stopJoining(channel);
      }
      if (this.closed || this.rare?.cancelled?.delete(channel)) return;
      if (!verdict.ok) {
        this.subscriptionError(channel, verdict.status, verdict.message);
        return;
      }
    }
    let member: PresenceMember | undefined;
    if (needsAuth(kind)) {
      const channelData = kind === "presence" ? data.channel_data : undefined;
      if (kind === "presence" && typeof channelData !== "string") {
        this.subscriptionError(channel, 400, "Presence channels need channel_data");
        return;
      }
      const signed = kind === "presence" ? `${this.socketId}:${channel}:${channelData}` : `${this.socketId}:${channel}`;
      if (!verifySocketAuth(data.auth, this.ctx.key, this.ctx.secret, signed)) {
        this.subscriptionError(channel, 401, "Invalid signature: the auth does not match this socket and channel");
        return;
      }
      if (kind === "presence") {
        const parsed = parsePresenceData(channelData as string, this.ctx.maxUserInfoBytes);
        if (typeof parsed === "string") {
          this.subscriptionError(channel, 400, parsed, "InvalidChannelData");
          return;
        }
        member = parsed;
      }
    }
    this.startJoining(channel);
    try {
      const before = this.ctx.fanout.count(channel);
      try {
        await this.ctx.fanout.add(channel, this);
      } catch {
        this.ctx.fanout.remove(channel, this);
        this.subscriptionError(channel, 503, "The broker is unavailable; try again", "BrokerError");
        return;
      }
      if (this.closed || this.rare?.cancelled?.delete(channel)) {
        this.removeFromFanout(channel);
        return;
      }
      // The member cap is checked and the member added in one step of the store (atomic on Redis).
      const joined = member
        ? await this.ctx.presence.join(channel, this.socketId, member, this.ctx.maxPresenceMembers)
        : undefined;
      if (joined === "full") {
        this.removeFromFanout(channel);
        this.subscriptionError(
          channel,
          403,
          `Presence channels hold at most ${this.ctx.maxPresenceMembers} members`,
          "LimitReached",
        );
        return;
      }
      if (this.closed) {
        if (member) await this.ctx.presence.leave(channel, this.socketId, member.user_id);
        this.removeFromFanout(channel);
        return;
      }
      this.addSubscribed(channel);
      if (member) ((this.rare ??= {}).presenceUsers ??= new Map()).set(channel, member.user_id);
      if (before === 0) this.ctx.webhooks?.emit({ name: "channel_occupied", channel });
      if (member) {
        const members = await this.ctx.presence.members(channel);
        const hash: Record<string, unknown> = {};
        for (const m of members) hash[m.user_id] = m.user_info ?? null;
        this.send(
          frame(
            "pusher_internal:subscription_succeeded",
            { presence: { ids: members.map((m) => m.user_id), hash, count: members.length } },
            channel,
          ),
        );
        // Transitions that arrived while the list was read follow it (adding or removing a member
        // twice is harmless to a client).
        const rare = (this.rare ??= {});
        (rare.presenceReady ??= new Set()).add(channel);
        for (const held of rare.presenceHeld?.get(channel) ?? []) this.send(held);
        rare.presenceHeld?.delete(channel);
      } else {
        this.send(frame("pusher_internal:subscription_succeeded", {}, channel));
      }
      if (isCacheChannel(channel)) {
        const last = await this.ctx.fanout.lastEvent(channel);
        if (last) this.send(encodeEvent(channel, last.event, last.json, last.id));
        else {
          this.send(frame("pusher:cache_miss", {}, channel));
          this.ctx.webhooks?.emit({ name: "cache_miss", channel });
        }
      }
    } finally {
      this.stopJoining(channel);
      this.rare?.cancelled?.delete(channel);
    }
  }

  /** `pusher:unsubscribe {channel}` (no reply), also used when the socket closes. */
  private async unsubscribe(channel: string): Promise<void> {
    if (!this.dropSubscribed(channel)) {
      if (this.isJoining(channel)) ((this.rare ??= {}).cancelled ??= new Set()).add(channel);
      return;
    }
    const rare = this.rare;
    const userId = rare?.presenceUsers?.get(channel);
    rare?.presenceUsers?.delete(channel);
    rare?.presenceReady?.delete(channel);
    rare?.presenceHeld?.delete(channel);
    // The store tells every process (this one included) when this was the user's last connection.
    if (userId !== undefined) await this.ctx.presence.leave(channel, this.socketId, userId);
    this.removeFromFanout(channel);
  }

  private removeFromFanout(channel: string): void {
    const left = this.ctx.fanout.remove(channel, this);
    if (left === 0) this.ctx.webhooks?.emit({ name: "channel_vacated", channel });
  }

  /**
   * `herald:resume {channels, cursor?}` (Herald's extension): what was published on channels this
   * socket is subscribed to after `cursor`, answered as `herald:catch_up` whose data is exactly a
   * poll answer (`{ events, cursor, gaps, retryMs }`, from the same read as the poll route). Without
   * a cursor it answers where the log is now. The client holds live frames until it has it.
   */
  private async resume(data: Record<string, unknown>): Promise<void> {
    const names = data.channels;
    if (
      !Array.isArray(names) ||
      names.length === 0 ||
      !names.every((name): name is string => typeof name === "string" && this.isSubscribed(name))
    ) {
      this.send(errorFrame(null, "herald:resume needs channels this connection is subscribed to"));
      return;
    }
    const channels = names.map((name) => brokerChannel(name)!);
    const text = typeof data.cursor === "string" && data.cursor !== "" ? data.cursor : null;
    let answer: PollAnswer;
    try {
      if (text === null) {
        const parts = await readAfter(this.ctx.herald.broker, channels, null, 0);
        answer = firstAnswer(await this.ctx.herald.core.hub.cursorWith(headsOf(parts)));
      } else {
        answer = await readPoll(this.ctx.herald.broker, channels, decodeCursor(text), text, 0);
      }
    } catch (error) {
      const message = isHeraldError(error) ? (error as Error).message : "The log could not be read; try again";
      this.send(errorFrame(null, `herald:resume refused: ${message}`));
      return;
    }
    this.send(frame("herald:catch_up", answer.body));
  }

  /** `pusher:signin {auth, user_data}`: signature over `socket_id::user::user_data`, `id` required. */
  private signin(data: Record<string, unknown>): void {
    const userData = data.user_data;
    if (
      typeof userData !== "string" ||
      !verifySocketAuth(data.auth, this.ctx.key, this.ctx.secret, `${this.socketId}::user::${userData}`)
    ) {
      this.close(
        CODES.unauthorized,
        "Invalid sign-in: the auth does not match this socket and user_data",
        "unauthorized",
      );
      return;
    }
    let id: unknown;
    try {
      id = (JSON.parse(userData) as { id?: unknown }).id;
    } catch {
      id = undefined;
    }
    if (typeof id !== "string" || id.length === 0 || brokerChannel(userChannel(id)) === null) {
      this.close(
        CODES.unauthorized,
        "Invalid sign-in: user_data needs a string id of channel-name characters",
        "unauthorized",
      );
      return;
    }
    if (this.userId !== id) {
      try {
        const release = admitSignin(this.ctx.herald, this, id);
        const rare = (this.rare ??= {});
        rare.releaseSignin?.();
        rare.releaseSignin = release;
      } catch (error) {
        const reason = isHeraldError(error) ? error.code : "too_many_connections";
        this.close(
          CODES.overCapacity,
          error instanceof Error ? error.message : "Too many connections for this user",
          reason,
        );
        return;
      }
    }
    (this.rare ??= {}).userId = id;
    this.send(frame("pusher:signin_success", { user_data: userData }));
  }

  /** `client-*` events: private and presence channels this socket is on, rate-limited, not echoed. */
  private async clientEvent(event: string, channel: string | undefined, data: unknown): Promise<void> {
    if (!this.ctx.clientEvents) {
      this.send(errorFrame(null, "Client events are disabled for this app"));
      return;
    }
    const now = this.ctx.now();
    const rare = (this.rare ??= {});
    if (rare.windowStart === undefined || now - rare.windowStart >= 1000) {
      rare.windowStart = now;
      rare.windowCount = 0;
    }
    rare.windowCount = (rare.windowCount ?? 0) + 1;
    if (rare.windowCount > this.ctx.clientEventsPerSecond) {
      this.send(
        errorFrame(
          CODES.clientEventRateLimit,
          `Client event rejected: more than ${this.ctx.clientEventsPerSecond} per second on this connection`,
        ),
      );
      return;
    }
    if (channel === undefined || !this.isSubscribed(channel)) {
      this.send(errorFrame(null, "Client event rejected: you must be subscribed to the channel"));
      return;
    }
    const kind = channelKind(channel);
    if (kind !== "private" && kind !== "presence") {
      this.send(errorFrame(null, "Client event rejected: only private and presence channels accept client events"));
      return;
    }
    try {
      assertEventName(event);
    } catch {
      this.send(errorFrame(null, "Client event rejected: invalid event name"));
      return;
    }
    const userId = rare.presenceUsers?.get(channel);
    try {
      countClientEvent(this.ctx.herald, this, userId ?? this.actingPrincipal?.userId ?? null);
    } catch {
      this.send(errorFrame(CODES.clientEventRateLimit, "Client event rejected: too many from this user or address"));
      return;
    }
    // The checks of `POST …/publish`: nesting (before anything serializes it: the frame is at most
    // `ws`'s `maxPayload`), then size.
    try {
      assertDepth(typeof data === "string" ? parsedOrText(data) : data, this.ctx.maxDepth);
    } catch {
      this.send(errorFrame(null, `Client event rejected: data is nested deeper than ${this.ctx.maxDepth} levels`));
      return;
    }
    const text = typeof data === "string" ? data : JSON.stringify(data ?? null);
    if (Buffer.byteLength(text) > this.ctx.maxEventBytes) {
      this.send(errorFrame(null, `Client event rejected: data is larger than ${this.ctx.maxEventBytes} bytes`));
      return;
    }
    const json = typeof data === "string" ? brokerJsonOfPusherData(data) : text;
    await this.ctx.fanout.publish(channel, event, json, { exclude: this.socketId, userId });
    this.ctx.webhooks?.emit({
      name: "client_event",
      channel,
      event,
      data: text,
      socket_id: this.socketId,
      ...(userId !== undefined ? { user_id: userId } : {}),
    });
  }

  private cleanup(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const channel of this.channels()) void this.unsubscribe(channel).catch(() => {});
    this.ctx.onClosed(this, reason);
  }
}

/** Removes `item` from `list`; false when it was not there. */
function dropFrom(list: string[], item: string): boolean {
  const at = list.indexOf(item);
  if (at < 0) return false;
  list.splice(at, 1);
  return true;
}

/** A string's JSON value, or the string itself when it is not JSON. */
function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Parses presence `channel_data`; returns a message when it is not acceptable. */
function parsePresenceData(text: string, maxInfoBytes: number): PresenceMember | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "channel_data is not JSON";
  }
  if (typeof value !== "object" || value === null) return "channel_data must be an object";
  const { user_id, user_info } = value as { user_id?: unknown; user_info?: unknown };
  const id = typeof user_id === "number" && Number.isFinite(user_id) ? String(user_id) : user_id;
  if (typeof id !== "string" || id.length === 0 || id.length > 128)
    return "channel_data.user_id must be 1-128 characters";
  if (user_info !== undefined && Buffer.byteLength(JSON.stringify(user_info)) > maxInfoBytes) {
    return `channel_data.user_info is larger than ${maxInfoBytes} bytes`;
  }
  return { user_id: id, user_info: user_info ?? null };
}
