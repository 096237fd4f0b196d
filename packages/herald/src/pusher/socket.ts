/**
 * One Pusher connection: the messages of protocol 7 (ping, subscribe, unsubscribe, sign-in, client
 * events) over a `ws` socket, with the checks the protocol asks for and Herald's own rules (see
 * `admission.ts`): channel rules on public channels, a channel cap, a message rate, client events
 * validated like `POST …/publish`, and unsent bytes counted per frame, not per payload byte.
 */
import { Buffer } from "node:buffer";
import { randomInt } from "node:crypto";
import type { WebSocket } from "ws";
import { assertEventName } from "../protocol/names.js";
import { decodeCursor } from "../protocol/cursor.js";
import { isHeraldError } from "../protocol/errors.js";
import { firstAnswer, readPoll, type PollAnswer } from "../server/core/poll.js";
import { assertDepth } from "../server/core/publish.js";
import type { Principal } from "../server/core/subscriber.js";
import type { Herald } from "../server/herald.js";
import { admitSignin, countClientEvent, mayFollow, type SocketAdmission } from "./admission.js";
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

interface Subscription {
  /** The presence user id, on presence channels. */
  userId?: string;
}

/**
 * What one queued frame costs beyond its bytes (the socket's write request, the frame header and
 * their objects; measured at about 300 bytes of heap per small frame with `ws` 8), so a client
 * that reads nothing holds at most `maxBufferedBytes` whatever the size of what it is sent.
 */
export const FRAME_OVERHEAD_BYTES = 320;

const noop = (): void => {};

/** Makes a socket id as the protocol shows it (`^\d+\.\d+$`). */
export function newSocketId(): string {
  return `${randomInt(1, 2 ** 31)}.${randomInt(1, 2 ** 31)}`;
}

/** See the module comment. */
export class PusherSocket implements FanoutTarget {
  readonly socketId = newSocketId();
  /** The signed-in user (after `pusher:signin`). */
  userId: string | undefined;
  /** Last time anything arrived from the client. */
  lastSeen: number;
  /** When the server sent `pusher:ping` and is waiting for an answer. */
  pingSentAt: number | undefined;
  /** Silence from the client after which the server pings it, in ms (set by {@link established}). */
  quietMs = 0;
  private readonly subscriptions = new Map<string, Subscription>();
  /** Subscriptions still being set up (auth checked, waiting for the broker). */
  private readonly joining = new Set<string>();
  /** Subscriptions the client withdrew while they were being set up. */
  private cancelled: Set<string> | undefined;
  /** Presence channels whose member list was sent (transitions go out at once); made on first use. */
  private presenceReady: Set<string> | undefined;
  /** Presence transitions held until the member list is sent; made on first use. */
  private presenceHeld: Map<string, Buffer[]> | undefined;
  private windowStart = 0;
  private windowCount = 0;
  /** The message bucket: tokens left, and when it was last refilled. */
  private messageTokens: number;
  private messagesAt: number;
  /** Frames handed to the socket and not yet flushed to the kernel, counted while it is backed up. */
  private queuedFrames = 0;
  /** Counts a queued frame out; made the first time the socket backs up. */
  private flushed: (() => void) | undefined;
  /** The Herald principal: the session's user, or the user of `pusher:signin`. */
  private principal: Principal | null;
  private releaseSignin: () => void = noop;
  private closed = false;

  constructor(
    readonly ws: WebSocket,
    private readonly ctx: SocketContext,
    private readonly admission: SocketAdmission,
  ) {
    this.lastSeen = ctx.now();
    this.principal = admission.principal;
    this.messageTokens = ctx.messageRate.capacity;
    this.messagesAt = this.lastSeen;
    ws.on("message", (data, isBinary) => {
      if (this.closed) return;
      this.lastSeen = this.ctx.now();
      this.pingSentAt = undefined;
      if (!this.takeMessageToken()) {
        this.close(CODES.overCapacity, "Too many messages: reconnect after a pause", "rate_limited");
        return;
      }
      if (isBinary) return;
      void this.onMessage(data.toString()).catch(() => {
        /* a failure on one message (broker down) is reported where it happened */
      });
    });
    ws.on("close", () => {
      // The connection slots are held until the socket is really gone, as for SSE: a closed client
      // that does not read keeps its slot until the close grace destroys its socket.
      this.admission.release();
      this.releaseSignin();
      this.cleanup("client_closed");
    });
    // ws reports a client's protocol violation (bad frame, message over maxPayload) here, then closes.
    ws.on("error", () => this.cleanup("protocol_error"));
  }

  /**
   * Sends a frame unless the client is too far behind reading: past `maxBufferedBytes` of unsent
   * frames, each counted as its bytes plus {@link FRAME_OVERHEAD_BYTES}, it is closed with 4100.
   */
  send(data: Buffer | string): void {
    if (this.closed) return;
    const backlog = this.ws.bufferedAmount;
    if (backlog === 0) {
      this.ws.send(data, { binary: false });
      return;
    }
    if (backlog + (this.queuedFrames + 1) * FRAME_OVERHEAD_BYTES > this.ctx.maxBufferedBytes) {
      this.ctx.counters.dropped++;
      this.close(CODES.overCapacity, "client too slow: reconnect and catch up", "slow_consumer");
      return;
    }
    this.queuedFrames++;
    this.ws.send(data, { binary: false }, (this.flushed ??= () => void this.queuedFrames--));
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
    if (this.presenceReady?.has(channel)) this.send(data);
    else if (this.subscriptions.has(channel) || this.joining.has(channel)) {
      const held = (this.presenceHeld ??= new Map()).get(channel) ?? [];
      held.push(data);
      this.presenceHeld.set(channel, held);
    }
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
    return [...this.subscriptions.keys()];
  }

  /** This connection's presence memberships: `[channel, user id]` for each presence channel it is on. */
  *presence(): Generator<[string, string]> {
    for (const [channel, sub] of this.subscriptions) if (sub.userId !== undefined) yield [channel, sub.userId];
  }

  /** Takes one token of the message bucket; false when it is empty. */
  private takeMessageToken(): boolean {
    const { capacity, refillPerSecond } = this.ctx.messageRate;
    const now = this.lastSeen;
    const elapsed = Math.max(0, now - this.messagesAt) / 1000;
    this.messagesAt = now;
    this.messageTokens = Math.min(capacity, this.messageTokens + elapsed * refillPerSecond);
    if (this.messageTokens < 1) return false;
    this.messageTokens -= 1;
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
    if (this.subscriptions.has(channel) || this.joining.has(channel)) return;
    if (this.subscriptions.size + this.joining.size >= this.ctx.maxChannels) {
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
      this.joining.add(channel);
      let verdict;
      try {
        verdict = await mayFollow(this.ctx.herald, this.admission, this.principal, brokerChannel(channel)!);
      } catch {
        verdict = { ok: false as const, status: 500, message: "The app's channel rule failed" };
      } finally {
        this.joining.delete(channel);
      }
      if (this.closed || this.cancelled?.delete(channel)) return;
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
    this.joining.add(channel);
    try {
      const before = this.ctx.fanout.count(channel);
      try {
        await this.ctx.fanout.add(channel, this);
      } catch {
        this.ctx.fanout.remove(channel, this);
        this.subscriptionError(channel, 503, "The broker is unavailable; try again", "BrokerError");
        return;
      }
      if (this.closed || this.cancelled?.delete(channel)) {
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
      this.subscriptions.set(channel, member ? { userId: member.user_id } : {});
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
        (this.presenceReady ??= new Set()).add(channel);
        for (const held of this.presenceHeld?.get(channel) ?? []) this.send(held);
        this.presenceHeld?.delete(channel);
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
      this.joining.delete(channel);
      this.cancelled?.delete(channel);
    }
  }

  /** `pusher:unsubscribe {channel}` (no reply), also used when the socket closes. */
  private async unsubscribe(channel: string): Promise<void> {
    const sub = this.subscriptions.get(channel);
    if (!sub) {
      if (this.joining.has(channel)) (this.cancelled ??= new Set()).add(channel);
      return;
    }
    this.subscriptions.delete(channel);
    this.presenceReady?.delete(channel);
    this.presenceHeld?.delete(channel);
    // The store tells every process (this one included) when this was the user's last connection.
    if (sub.userId !== undefined) await this.ctx.presence.leave(channel, this.socketId, sub.userId);
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
      !names.every((name): name is string => typeof name === "string" && this.subscriptions.has(name))
    ) {
      this.send(errorFrame(null, "herald:resume needs channels this connection is subscribed to"));
      return;
    }
    const channels = names.map((name) => brokerChannel(name)!);
    const text = typeof data.cursor === "string" && data.cursor !== "" ? data.cursor : null;
    let answer: PollAnswer;
    try {
      if (text === null) {
        const { epoch, head } = await this.ctx.herald.broker.snapshot([], 0, 0);
        answer = firstAnswer(epoch, head);
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
        const release = admitSignin(this.ctx.herald, this.admission, id);
        this.releaseSignin();
        this.releaseSignin = release;
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
    this.userId = id;
    this.principal = { userId: id };
    this.send(frame("pusher:signin_success", { user_data: userData }));
  }

  /** `client-*` events: private and presence channels this socket is on, rate-limited, not echoed. */
  private async clientEvent(event: string, channel: string | undefined, data: unknown): Promise<void> {
    if (!this.ctx.clientEvents) {
      this.send(errorFrame(null, "Client events are disabled for this app"));
      return;
    }
    const now = this.ctx.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    if (++this.windowCount > this.ctx.clientEventsPerSecond) {
      this.send(
        errorFrame(
          CODES.clientEventRateLimit,
          `Client event rejected: more than ${this.ctx.clientEventsPerSecond} per second on this connection`,
        ),
      );
      return;
    }
    if (channel === undefined || !this.subscriptions.has(channel)) {
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
    const userId = this.subscriptions.get(channel)!.userId;
    try {
      countClientEvent(this.ctx.herald, this.admission, userId ?? this.principal?.userId ?? null);
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
    for (const channel of [...this.subscriptions.keys()]) void this.unsubscribe(channel).catch(() => {});
    this.ctx.onClosed(this, reason);
  }
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
