/**
 * What travels on the wire, whatever the transport. App events are sent as SSE `message` events
 * whose data is an {@link EventEnvelope}; Herald's own control events have `herald:` names.
 */

/** One app event as a subscriber receives it. */
export interface EventEnvelope<T = unknown> {
  /** Channel the event was published on. */
  channel: string;
  /** Event name given to `publish()`. */
  event: string;
  /** The JSON payload given to `publish()`. */
  data: T;
  /** Cursor of this event (`{epoch}-{seq}`); also sent as the SSE `id:`. */
  id: string;
  /** Publish time, milliseconds since the epoch. */
  ts: number;
  /**
   * The sender's user id, on client events (`client-*`): the signed-in user who sent it through
   * `POST …/publish`, or the presence member who sent it on a WebSocket. Set by the server, never
   * by the sender; every transport carries it.
   */
  userId?: string;
  /**
   * On client events: the id of the client or connection that sent it. Herald's client drops its
   * own events by it (client events are never echoed to their sender).
   */
  senderId?: string;
}

/** Names of Herald's control events (SSE `event:` field). */
export const CONTROL = {
  /** First event on every stream: `{ connectionId, cursor, channels, retry, heartbeat }`. */
  connected: "herald:connected",
  /** The cursor could not be honoured for a channel: `{ channel, reason, cursor }`. */
  gap: "herald:gap",
  /** The server is about to close the stream: `{ code, message }`. */
  error: "herald:error",
  /** The server ends the stream on purpose (rotation); reconnect from the cursor: `{ reason }`. */
  rotate: "herald:rotate",
  /**
   * The server's heartbeat, every `heartbeat` ms on an idle stream (data `{}`, ignored). A named
   * event, not a comment, so that every EventSource implementation lets the client see it.
   */
  heartbeat: "herald:heartbeat",
  /**
   * Presence on a `presence-*` channel (WebSocket transport only): the members when the
   * subscription succeeds, then each user who joins or leaves ({@link PresencePayload}).
   */
  presence: "herald:presence",
} as const;

/** Payload of `herald:connected`. */
export interface ConnectedPayload {
  connectionId: string;
  cursor: string;
  channels: string[];
  retry: number;
  /**
   * Interval of the server's heartbeats (`herald:heartbeat` events), in ms: a connection on which nothing arrives for
   * about two intervals is dead, whatever the socket says.
   */
  heartbeat: number;
}

/** Why a cursor could not be honoured: the log restarted, or the position was trimmed. */
export type GapReason = "epoch" | "retention";

/** Payload of `herald:gap`. */
export interface GapPayload {
  channel: string;
  reason: GapReason;
  /** The cursor the client sent. */
  cursor: string;
}

/** Payload of `herald:error` and of JSON error bodies' `error` member. */
export interface ErrorPayload {
  code: string;
  message: string;
  [detail: string]: unknown;
}

/** One member of a presence channel: one per user, whatever their number of connections. */
export interface PresenceMember {
  /** The user id the app's auth endpoint signed (`channel_data.user_id`). */
  id: string;
  /** Its `user_info` (null when none). */
  info: unknown;
}

/** Payload of `herald:presence`. */
export interface PresencePayload {
  channel: string;
  /** `members`: the whole list (on subscribing); `added` / `removed`: one user came or left. */
  type: "members" | "added" | "removed";
  /** With `members`: every member, one per user. */
  members?: PresenceMember[];
  /** With `added` / `removed`: that user (`info` is null on `removed`). */
  member?: PresenceMember;
  /** With `members`: the user id this connection joined as (null if unknown). */
  me?: string | null;
}

/**
 * What a poll answers (its JSON body). Built as text from each stored event's JSON as it is
 * (server/core/poll.ts): `data` is never parsed and re-serialized on the server. The browser's poll
 * source reads it.
 */
export interface PollReply {
  /** Events after the cursor, oldest first, in the SSE envelope. */
  events: EventEnvelope[];
  /** Send it back as `lastEventId` next time. */
  cursor: string;
  /** Suggested wait before the next poll, in ms. */
  retryMs: number;
  /** Channels whose events after the cursor could not all be answered (as SSE's `herald:gap`). */
  gaps: GapPayload[];
  /** The single-use token for the next poll, when this one was made with a token. */
  token?: string;
  /**
   * For a signed-in poller that sent `pid`: the member lists of its presence channels that changed
   * since its last answer (by channel), with the user id it is present as.
   */
  presence?: Record<string, { members: PresenceMember[]; me: string }>;
}
