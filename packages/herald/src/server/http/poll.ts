/**
 * Polling and long-polling on the same cursor as SSE: `GET …/poll?channel=…&lastEventId=…&token=…
 * [&wait=seconds]` answers `{ events, cursor, retryMs, gaps }` — the events after the cursor across
 * the request's channels, in the SSE envelope, and the cursor to send next. Same admission as SSE
 * (origin, limits, token, channel rules). With `wait`, a request that finds nothing is held until
 * an event arrives on one of its channels (or `wait` seconds pass, or the client goes away).
 * `ETag` is the answer's cursor: `If-None-Match` with it answers 304 when nothing changed. With
 * `pid` (the poller's own id), a signed-in poller is a member of its presence channels while it
 * keeps polling (core/presence.ts, `PollPresence`).
 */
import { Buffer } from "node:buffer";
import { HeraldError } from "../../protocol/errors.js";
import { firstAnswer, longPoll, readPoll, withToken, type GoneSignal, type PollAnswer } from "../core/poll.js";
import { headsOf, readAfter } from "../core/partitions.js";
import { admit, originHeaders, type Admitted, type IncomingRequest } from "./admit.js";
import type { HeraldCore } from "./edge.js";
import type { JsonReply } from "./routes.js";
import { toHeraldError } from "./responses.js";

/** What a poller may name itself (`pid`). */
const POLL_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Longest `wait` honoured, in seconds (under the usual 30 s proxy and platform timeouts). */
export const MAX_WAIT_SECONDS = 25;

/** A poll request as the adapters see it. */
export interface PollRequest extends IncomingRequest {
  /** Aborts when the client goes away (an `AbortSignal`, or the Node adapter's flag). */
  signal: GoneSignal;
}

/** Serves one poll; rejections are JSON errors as everywhere. */
export async function servePoll(edge: HeraldCore, request: PollRequest): Promise<JsonReply> {
  let admitted: Admitted;
  let cors: Record<string, string>;
  try {
    cors = originHeaders(edge.options, request);
    admitted = await admit(edge.options, edge.limits, request);
  } catch (error) {
    edge.refused("poll", error);
    throw error;
  }
  const telemetry = edge.telemetry;
  const channels = admitted.channels.length;
  const openedAt = performance.now();
  telemetry.record({ type: "connection.open", transport: "poll", channels });
  let reason = "answered";
  try {
    const wait = parseWait(request.url.searchParams.get("wait"));
    // Presence: a signed-in poller that names itself (`pid`) is a member of its presence channels
    // while it keeps polling; the answer carries a channel's member list when it changed.
    const pid = request.url.searchParams.get("pid");
    const userId = admitted.principal?.userId;
    const present =
      userId && pid !== null && POLL_ID.test(pid) ? admitted.channels.filter((c) => c.startsWith("presence-")) : [];
    if (present.length > 0) await edge.pollPresence().touch(present, userId!, pid!, wait * 1000);
    const answer = await answerPoll(edge, admitted, wait, request.signal).catch((error: unknown) => {
      reason = toHeraldError(error).code;
      throw error;
    });
    if (answer.gaps > 0) edge.hub.countGaps(answer.gaps, "poll");
    const token = admitted.principal && admitted.token ? await edge.renewToken?.(admitted.principal) : undefined;
    const etag = `"${answer.cursor}"`;
    const headers: Record<string, string> = {
      ...cors,
      "Content-Type": "application/json; charset=utf-8",
      "Cache-Control": "no-store",
      ETag: etag,
    };
    const members = present.length > 0 ? await edge.pollPresence().changed(present, userId!, pid!) : undefined;
    if (answer.empty && !members && request.header("if-none-match") === etag) {
      return { status: 304, headers, body: "" };
    }
    let body = members ? `${answer.body.slice(0, -1)},"presence":${JSON.stringify(members)}}` : answer.body;
    if (token) body = withToken(body, token);
    // A known length: the answer goes out in one piece, without chunked framing.
    const length = Buffer.byteLength(body);
    headers["Content-Length"] = String(length);
    telemetry.addBytes("poll", length);
    return { status: 200, headers, body };
  } finally {
    admitted.release();
    const durationMs = performance.now() - openedAt;
    telemetry.record({ type: "connection.close", transport: "poll", reason, durationMs, channels });
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

/**
 * A first poll (no cursor) answers at once with where "now" is, as a fresh SSE connection starts;
 * a resumed one with `wait` is a long-poll on the hub (at most one log read, none when the hub
 * vouches for the cursor); one without `wait` reads the log once.
 */
function answerPoll(edge: HeraldCore, admitted: Admitted, wait: number, signal: GoneSignal): Promise<PollAnswer> {
  const { cursor, cursorText, channels } = admitted;
  if (cursor === null || cursorText === null) {
    return readAfter(edge.broker, channels, null, 0).then(async (parts) =>
      firstAnswer(await edge.hub.cursorWith(headsOf(parts))),
    );
  }
  if (wait > 0 && !signal.aborted) {
    return longPoll(edge.hub, edge.broker, channels, cursor, cursorText, wait * 1000, signal);
  }
  // A long-poller comes straight back (the server holds it); a short poller waits a little.
  return readPoll(edge.broker, channels, cursor, cursorText, wait > 0 ? 0 : edge.retryMs);
}
