/**
 * Messages that browsers publish (chat, typing indicators, cursors): a JSON body
 * `{ channel, event, data, senderId? }` from a signed-in user (`senderId`: the sending client's id,
 * which the envelope carries so that client skips its own event). Checked strictly, because it is hostile input:
 * body size, JSON depth, a `client-` event prefix (so a browser can never forge a server event),
 * the app's `authorizePublish` (deny by default), and a per-user rate (429 with `Retry-After`).
 */
import { Buffer } from "node:buffer";
import { jsonObject } from "./request.js";
import { HeraldError } from "../../protocol/errors.js";
import { assertChannelName, assertEventName } from "../../protocol/names.js";
import { encodePosition, type Position } from "../../protocol/cursor.js";
import { assertDepth, DEFAULT_MAX_CLIENT_DEPTH, type Publisher } from "../core/publish.js";
import { TokenBuckets, type BucketOptions } from "./limits/token-bucket.js";

/** What a client may name itself in `senderId`. */
const SENDER_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Options for {@link createClientPublisher}. */
export interface ClientPublishOptions {
  /** May `userId` publish `event` on `channel`? Default: no one may. */
  authorizePublish?: (userId: string, channel: string, event: string) => boolean | Promise<boolean>;
  /** Per-user publish rate (default: burst 20, 10/s). */
  rate?: BucketOptions;
  /** Largest request body, in bytes (default 16 KiB). */
  maxBodyBytes?: number;
  /** Deepest JSON nesting accepted in `data` (default 16). */
  maxDepth?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

/** Accepts one client message; see the module comment. */
export interface ClientPublisher {
  (userId: string, body: string): Promise<{ id: string }>;
  /**
   * A Durable Streams append (`POST …/streams/{channel}`): `body` is one JSON value, or an array of
   * them (each one message), published as `event` on `channel` with the same checks as a message
   * (body size, one rate token per message, names, the `client-` prefix, depth, `authorizePublish`,
   * and the publisher's own `check`), all of them before anything is published. With `create`, an
   * empty body or `[]` publishes nothing (resolves to null) once the user may publish there.
   */
  append?(userId: string, channel: string, event: string, body: string, create?: boolean): Promise<Position | null>;
}

/** Creates the publisher behind `POST …/publish`. */
export function createClientPublisher(publisher: Publisher, options: ClientPublishOptions = {}): ClientPublisher {
  const buckets = new TokenBuckets(options.rate ?? { capacity: 20, refillPerSecond: 10 }, options.now);
  const maxBody = options.maxBodyBytes ?? 16 * 1024;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_CLIENT_DEPTH;
  const checkSize = (body: string): void => {
    if (Buffer.byteLength(body) > maxBody) {
      throw new HeraldError("payload_too_large", `request body is larger than ${maxBody} bytes`);
    }
  };
  const takeToken = (userId: string): void => {
    const wait = buckets.take(userId);
    if (wait > 0) throw new HeraldError("rate_limited", "publishing too fast", { retryAfter: Math.ceil(wait) });
  };
  const authorize = async (userId: string, channel: string, event: string): Promise<void> => {
    if (!options.authorizePublish || !(await options.authorizePublish(userId, channel, event))) {
      throw new HeraldError("forbidden", `not allowed to publish on "${channel}"`, { details: { channel } });
    }
  };
  const publish = async (userId: string, body: string): Promise<{ id: string }> => {
    checkSize(body);
    takeToken(userId);
    const message = jsonObject(
      body,
      "invalid_data",
      "body must be JSON: { channel, event, data }",
      "body must be a JSON object: { channel, event, data }",
    );
    const { channel, event, data, senderId } = message;
    if (senderId !== undefined && (typeof senderId !== "string" || !SENDER_ID.test(senderId))) {
      throw new HeraldError("invalid_data", "senderId is 1 to 64 letters, digits, '-' or '_'");
    }
    // Names are validated before anything else sees them: `authorizePublish` only ever gets
    // allow-listed channel and event names (no CR, LF, NUL or other bytes outside the alphabet).
    assertChannelName(channel);
    assertClientEvent(event);
    assertDepth(data, maxDepth);
    await authorize(userId, channel, event);
    // Who sent it travels with the event: subscribers see `userId`, set here, never by the sender;
    // `senderId` (the sending client's own id) lets that client skip its own event.
    const meta = typeof senderId === "string" ? { userId, exclude: senderId } : { userId };
    const at = await publisher.publishAt(channel, event, data, meta);
    return { id: encodePosition(at.epoch, at.seq, at.partition) };
  };
  const append = async (
    userId: string,
    channel: string,
    event: string,
    body: string,
    create = false,
  ): Promise<Position | null> => {
    checkSize(body);
    assertChannelName(channel);
    assertClientEvent(event);
    let items: unknown[] = [];
    if (!create || body.trim() !== "") {
      let value: unknown;
      try {
        value = JSON.parse(body);
      } catch {
        throw new HeraldError("invalid_data", "body must be JSON: one message, or an array of messages");
      }
      items = Array.isArray(value) ? value : [value];
      if (items.length === 0 && !create) throw new HeraldError("invalid_data", "an append of [] has no message");
    }
    for (const item of items) assertDepth(item, maxDepth);
    for (let i = 0; i < items.length; i++) takeToken(userId);
    await authorize(userId, channel, event);
    for (const item of items) await publisher.check?.(channel, event, item);
    let at: Position | null = null;
    for (const item of items) at = await publisher.publishAt(channel, event, item, { userId });
    return at;
  };
  return Object.assign(publish, { append });
}

/** Client events are named `client-…` (so a browser can never forge a server event). */
function assertClientEvent(event: unknown): asserts event is string {
  assertEventName(event);
  if (!event.startsWith("client-")) {
    throw new HeraldError("invalid_event", 'client events must be named "client-…"');
  }
}
