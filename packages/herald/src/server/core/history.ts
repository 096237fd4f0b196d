/**
 * History: a page of one channel's log, newest last, read in one consistent cut with the log's
 * head. What `herald.history` returns and `GET …/history` answers. The page is built as text from
 * each stored event's JSON as it is (the poll envelope), so the route never parses payloads.
 */
import type { Broker, LatestRead } from "../../brokers/types.js";
import { decodeCursor, encodePosition, type Cursor } from "../../protocol/cursor.js";
import { partitionsOf } from "./partitions.js";
import type { EventEnvelope, GapReason } from "../../protocol/envelope.js";
import { HeraldError } from "../../protocol/errors.js";
import { assertChannelName } from "../../protocol/names.js";
import { pollEnvelope } from "./poll.js";

/** Events a history page holds by default. */
export const DEFAULT_HISTORY_LIMIT = 50;
/** Most events one history page holds. */
export const MAX_HISTORY_LIMIT = 1000;

/** Options of `herald.history`: how many events, and where (at most one of `before` and `after`). */
export interface HistoryOptions {
  /** Most events returned, 1 to 1,000 (default 50). */
  limit?: number | undefined;
  /** Only events before this position (an event's `id`, or a page's `cursor`): the page before. */
  before?: string | undefined;
  /** Only events after this position: the oldest `limit` events after it. */
  after?: string | undefined;
}

/** A page of a channel's history. */
export interface HistoryPage<T = unknown> {
  /** The channel read. */
  channel: string;
  /** The events, oldest first (newest last), in the envelope live subscribers get. */
  events: EventEnvelope<T>[];
  /**
   * The log's position at the read (`{epoch}-{seq}`): every event of the channel up to it is in
   * `events` or before them, or was trimmed (with `after` and `more`, up to the last event only). A live subscription that started before the read
   * delivers everything after it: merge by `id` and nothing is missing or twice.
   */
  cursor: string;
  /**
   * More events lie beyond the page: older ones (without `after`: ask again with `before` set to
   * the first event's `id`), or newer ones (with `after`: ask again from the last event's `id`).
   */
  more: boolean;
  /**
   * Set when the position given could not be honoured: `epoch` (the log restarted since; the page
   * is read as if no position was given) or `retention` (events after `after` were trimmed).
   */
  gap?: GapReason;
}

/** A page ready to send: its JSON text and what the route reports. */
export interface HistoryAnswer {
  readonly body: string;
  readonly events: number;
  readonly gap: GapReason | undefined;
}

/** Reads and checks the options (also from a query string); throws `invalid_request` or `invalid_cursor` (400). */
export function historyRequest(options: HistoryOptions): {
  limit: number;
  before: Cursor | null;
  after: Cursor | null;
} {
  const limit = options.limit ?? DEFAULT_HISTORY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_HISTORY_LIMIT) {
    throw new HeraldError("invalid_request", `\`limit\` is an integer from 1 to ${MAX_HISTORY_LIMIT}`, {
      details: { limit: MAX_HISTORY_LIMIT },
    });
  }
  if (options.before !== undefined && options.after !== undefined) {
    throw new HeraldError("invalid_request", "give `before` or `after`, not both");
  }
  const cursor = (text: string | undefined): Cursor | null => (text === undefined ? null : decodeCursor(text));
  return { limit, before: cursor(options.before), after: cursor(options.after) };
}

/** Reads a page of `channel`'s history from `broker` (see {@link HistoryPage}). */
export async function readHistory(broker: Broker, channel: string, options: HistoryOptions): Promise<HistoryAnswer> {
  assertChannelName(channel);
  const request = historyRequest(options);
  const { limit } = request;
  // Positions in the channel's partition (a cursor without one there counts as of another epoch).
  const partition = partitionsOf(broker)(channel);
  const missing = { partition, epoch: "", seq: 0 };
  const after = request.after && (request.after.get(partition) ?? missing);
  const before = request.before && (request.before.get(partition) ?? missing);
  let read: LatestRead;
  let gap: GapReason | undefined;
  if (after) {
    // One more than asked tells whether more follow; a retention gap is a trim the page did not cause.
    const snap = await broker.snapshot([channel], after.seq, limit + 1);
    if (snap.epoch !== after.epoch) {
      gap = "epoch";
      read = await latest(broker, channel, Infinity, limit);
    } else {
      const more = snap.events.length > limit;
      if (snap.trimmed.includes(channel) && !more) gap = "retention";
      read = { epoch: snap.epoch, head: snap.head, events: snap.events.slice(0, limit), more };
    }
  } else {
    read = await latest(broker, channel, before?.seq ?? Infinity, limit);
    if (before && read.epoch !== before.epoch) {
      gap = "epoch";
      read = await latest(broker, channel, Infinity, limit);
    }
  }
  const events = read.events.map((event) => pollEnvelope(read.epoch, event, partition)).join(",");
  const cursor = encodePosition(read.epoch, read.head, partition);
  const body = `{"channel":"${channel}","events":[${events}],"cursor":"${cursor}","more":${read.more}${gap ? `,"gap":"${gap}"` : ""}}`;
  return { body, events: read.events.length, gap };
}

/** The broker's `latest`, or (for a broker without it) the channel's whole retained log, cut. */
async function latest(broker: Broker, channel: string, before: number, limit: number): Promise<LatestRead> {
  if (broker.latest) return broker.latest(channel, before, limit);
  const snap = await broker.snapshot([channel], 0, Number.MAX_SAFE_INTEGER);
  const older = snap.events.filter((event) => event.seq < before);
  const events = older.slice(Math.max(0, older.length - limit));
  return { epoch: snap.epoch, head: snap.head, events, more: older.length > events.length };
}
