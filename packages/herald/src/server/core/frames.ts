/** Builds the SSE bytes Herald writes. Each event is encoded once and shared by every subscriber. */
import { Buffer } from "node:buffer";
import type { StoredEvent } from "../../brokers/types.js";
import { encodeComment, encodeRetry, encodeSse } from "../../protocol/sse.js";
import {
  CONTROL,
  type ConnectedPayload,
  type ErrorPayload,
  type GapPayload,
  type PresencePayload,
} from "../../protocol/envelope.js";
import { encodeCursor } from "../../protocol/cursor.js";

/** One encoded event with its position, as queued for subscribers. */
export interface Frame {
  readonly seq: number;
  /** The channel it was published on. */
  readonly channel: string;
  /** The log incarnation `seq` belongs to. */
  readonly epoch: string;
  readonly bytes: Buffer;
}

const LINE_BREAK = /[\r\n]/;

/**
 * Encodes an app event as an SSE `message` whose data is the JSON envelope
 * `{channel, event, id, ts, data}`. Channel and event names are validated on publish to an
 * alphabet without quotes or backslashes, so they are written into the JSON as they are.
 */
export function encodeEventFrame(epoch: string, event: StoredEvent): Frame {
  const id = encodeCursor(epoch, event.seq);
  let text: string;
  if (LINE_BREAK.test(event.json)) {
    // Never produced by JSON.stringify; a foreign broker writer could. Fall back to the full encoder.
    text = encodeSse({ id, data: envelope(id, event) });
  } else {
    text = `id: ${id}\ndata: ${envelope(id, event)}\n\n`;
  }
  return { seq: event.seq, channel: event.channel, epoch, bytes: Buffer.from(text) };
}

function envelope(id: string, event: StoredEvent): string {
  return `{"channel":"${event.channel}","event":"${event.event}","id":"${id}","ts":${event.ts}${senderFields(event)},"data":${event.json}}`;
}

/**
 * The envelope's sender fields of a client event (`,"userId":…,"senderId":…`), or `""`: who sent
 * it, and the id of the connection or client that sent it (which ignores its own event).
 */
export function senderFields(event: StoredEvent): string {
  const meta = event.meta;
  if (meta === undefined) return "";
  const user = meta.userId === undefined ? "" : `,"userId":${JSON.stringify(meta.userId)}`;
  return meta.exclude === undefined ? user : `${user},"senderId":${JSON.stringify(meta.exclude)}`;
}

/** First bytes of every stream: the reconnection delay and a comment, so headers flush at once. */
export function openingBytes(retryMs: number): Buffer {
  return Buffer.from(`${encodeRetry(retryMs)}${encodeComment("herald")}`);
}

/** `herald:connected`, carrying the cursor as its `id:` so native reconnects resume from it. */
export function connectedFrame(payload: ConnectedPayload): Buffer {
  return Buffer.from(encodeSse({ id: payload.cursor, event: CONTROL.connected, data: JSON.stringify(payload) }));
}

/** `herald:gap` for one channel. */
export function gapFrame(payload: GapPayload): Buffer {
  return Buffer.from(encodeSse({ event: CONTROL.gap, data: JSON.stringify(payload) }));
}

/** `herald:presence`: a presence channel's members, or one user who came or left. */
export function presenceFrame(payload: PresencePayload): Buffer {
  return Buffer.from(encodeSse({ event: CONTROL.presence, data: JSON.stringify(payload) }));
}

/** `herald:error`, written just before the server closes a stream. */
export function errorFrame(payload: ErrorPayload): Buffer {
  return Buffer.from(encodeSse({ event: CONTROL.error, data: JSON.stringify(payload) }));
}

/** `retry:` then `herald:rotate`: the stream ends on purpose and the client resumes at once. */
export function rotateFrame(retryMs: number): Buffer {
  return Buffer.from(encodeSse({ retry: retryMs, event: CONTROL.rotate, data: JSON.stringify({ reason: "rotate" }) }));
}

/**
 * The shared heartbeat: a named event rather than a comment, so that EventSource implementations
 * that hide comment lines (the browser's, the `eventsource` package) let the client see it too and
 * tell a silent, dead connection from a quiet one.
 */
export const HEARTBEAT = Buffer.from(encodeSse({ event: CONTROL.heartbeat, data: "{}" }));
