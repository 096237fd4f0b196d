/**
 * Polling and long-polling on the same cursor as SSE: `GET …/poll?channel=…&lastEventId=…&token=…
 * [&wait=seconds]` answers `{ events, cursor, retryMs, gaps }` — the events after the cursor across
 * the request's channels, in the SSE envelope, and the cursor to send next. Same admission as SSE
 * (origin, limits, token, channel rules). With `wait`, a request that finds nothing is held until
 * an event arrives on one of its channels (or `wait` seconds pass, or the client goes away).
 * `ETag` is the answer's cursor: `If-None-Match` with it answers 304 when nothing changed.
 */
import type { BrokerSubscription, Snapshot } from "../../brokers/types.js";
import { encodeCursor } from "../../protocol/cursor.js";
import type { EventEnvelope, GapPayload } from "../../protocol/envelope.js";
import { HeraldError } from "../../protocol/errors.js";
import { REPLAY_LIMIT } from "../core/session.js";
import { admit, originHeaders, type Admitted, type IncomingRequest } from "./admit.js";
import type { HeraldCore } from "./edge.js";
import type { JsonReply } from "./routes.js";

/** What a poll answers. */
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
}

/** Longest `wait` honoured, in seconds (under the usual 30 s proxy and platform timeouts). */
export const MAX_WAIT_SECONDS = 25;
/** Suggested delay after an answer with events: enough to batch a burst into the next answer. */
const BUSY_RETRY_MS = 250;

/** A poll request as the adapters see it. */
export interface PollRequest extends IncomingRequest {
  /** Aborts when the client goes away. */
  signal: AbortSignal;
}

/** Serves one poll; rejections are JSON errors as everywhere. */
export async function servePoll(edge: HeraldCore, request: PollRequest): Promise<JsonReply> {
  const cors = originHeaders(edge.options, request);
  const admitted = await admit(edge.options, edge.limits, request);
  try {
    const wait = parseWait(request.url.searchParams.get("wait"));
    let reply = await read(edge, admitted, wait > 0);
    // A first poll (no cursor) answers at once with where "now" is; only a resumed one is held.
    const resumed = admitted.cursor !== null;
    if (resumed && reply.events.length === 0 && reply.gaps.length === 0 && wait > 0 && !request.signal.aborted) {
      reply = await holdUntilEvent(edge, admitted, wait * 1000, request.signal);
    }
    const token = admitted.principal && admitted.token ? await edge.renewToken?.(admitted.principal) : undefined;
    if (token) reply.token = token;
    const etag = `"${reply.cursor}"`;
    const headers = {
      ...cors,
      "Content-Type": "application/json; charset=utf-8",
      "Cache-Control": "no-store",
      ETag: etag,
    };
    if (reply.events.length === 0 && reply.gaps.length === 0 && request.header("if-none-match") === etag) {
      return { status: 304, headers, body: "" };
    }
    return { status: 200, headers, body: JSON.stringify(reply) };
  } finally {
    admitted.release();
  }
}

function parseWait(text: string | null): number {
  if (text === null || text === "") return 0;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new HeraldError("invalid_request", "`wait` is a number of seconds");
  }
  return Math.min(seconds, MAX_WAIT_SECONDS);
}

/** One atomic read after the request's cursor. */
async function read(edge: HeraldCore, admitted: Admitted, waiting: boolean): Promise<PollReply> {
  const { cursor, cursorText, channels } = admitted;
  // A long-poller comes straight back (the server holds it); a short poller waits a little.
  const retryMs = waiting ? 0 : edge.retryMs;
  if (cursor === null || cursorText === null) {
    // A first poll: start from now, as a fresh SSE connection does, and come back at once.
    const { epoch, head } = await edge.broker.snapshot([], 0, 0);
    return { events: [], cursor: encodeCursor(epoch, head), retryMs: 0, gaps: [] };
  }
  const snapshot: Snapshot = await edge.broker.snapshot(channels, cursor.seq, REPLAY_LIMIT);
  if (snapshot.epoch !== cursor.epoch) {
    const gaps = channels.map((channel) => ({ channel, reason: "epoch" as const, cursor: cursorText }));
    return { events: [], cursor: encodeCursor(snapshot.epoch, snapshot.head), retryMs: 0, gaps };
  }
  const gaps = snapshot.trimmed.map((channel) => ({ channel, reason: "retention" as const, cursor: cursorText }));
  const events = snapshot.events.map((event) => {
    const id = encodeCursor(snapshot.epoch, event.seq);
    return { channel: event.channel, event: event.event, id, ts: event.ts, data: JSON.parse(event.json) as unknown };
  });
  // The cursor moves only past what was answered, so an unchanged answer keeps its ETag.
  const last = events.length > 0 ? snapshot.events[snapshot.events.length - 1]!.seq : cursor.seq;
  const next = gaps.length > 0 ? snapshot.head : last;
  return {
    events,
    cursor: encodeCursor(snapshot.epoch, next),
    retryMs: events.length > 0 ? BUSY_RETRY_MS : retryMs,
    gaps,
  };
}

/**
 * Waits for the next event on the request's channels, then reads again. Listens on the broker
 * directly (it keeps one upstream subscription per channel and fans out to every listener), and
 * reads once more after listening starts, so an event published in between is not missed.
 */
async function holdUntilEvent(
  edge: HeraldCore,
  admitted: Admitted,
  waitMs: number,
  signal: AbortSignal,
): Promise<PollReply> {
  let wake = (): void => {};
  const woken = new Promise<void>((resolve) => (wake = resolve));
  const subscriptions: BrokerSubscription[] = admitted.channels.map((channel) => edge.broker.subscribe(channel, wake));
  const timer = setTimeout(wake, waitMs);
  signal.addEventListener("abort", wake, { once: true });
  try {
    await Promise.all(subscriptions.map((s) => s.ready));
    const again = await read(edge, admitted, true);
    if (again.events.length > 0 || again.gaps.length > 0 || signal.aborted) return again;
    await woken;
    return await read(edge, admitted, true);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", wake);
    for (const subscription of subscriptions) subscription.unsubscribe();
  }
}
