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
import { encodePosition } from "../../protocol/cursor.js";

/** One encoded event with its position, as queued for subscribers. */
export interface Frame {
  readonly seq: number;
  /** The partition of the log `seq` counts in. */
  readonly partition: number;
  /** The channel it was published on. */
  readonly channel: string;
  /** The incarnation of the partition's log `seq` belongs to. */
  readonly epoch: string;
  /** The SSE message, its `id:` the event's own position (what a subscriber of one partition resumes from). */
  readonly bytes: Buffer;
  /** The same after the `id:` line: a subscriber of several partitions writes its own cursor before it. */
  readonly body: Buffer;
}

const LINE_BREAK = /[\r\n]/;

/**
 * Encodes an app event as an SSE `message` whose data is the JSON envelope
 * `{channel, event, id, ts, data}`. Channel and event names are validated on publish to an
 * alphabet without quotes or backslashes, so they are written into the JSON as they are.
 */
export function encodeEventFrame(epoch: string, event: StoredEvent, partition = 0): Frame {
  const id = encodePosition(epoch, event.seq, partition);
  const data = envelope(id, event);
  // A line break is never produced by JSON.stringify; a foreign broker writer could: the full encoder then.
  const text = LINE_BREAK.test(data) ? encodeSse({ id, data }) : `id: ${id}\ndata: ${data}\n\n`;
  const bytes = Buffer.from(text);
  const body = bytes.subarray(5 + id.length); // after `id: {id}\n`
  return { seq: event.seq, partition, channel: event.channel, epoch, bytes, body };
}

/** The `id:` line of a subscriber of several partitions: its cursor, the event's own position first. */
export function idLine(cursor: string): Buffer {
  return Buffer.from(`id: ${cursor}\n`);
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
