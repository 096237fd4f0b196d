/**
 * Every channel as a Durable Stream (the read side of the Durable Streams protocol):
 * `GET|HEAD …/streams/{channel}?offset=…[&live=long-poll|sse][&cursor=…]`, admitted exactly as a
 * stream is (origin, limits, the token, the channel's rule). The stream is in JSON mode
 * (`application/json`): each message is one event in the envelope live subscribers get. Offsets
 * are Herald positions written sortably (`{epoch}_{seq, 16 digits}`): the read after one resumes
 * after that position. `-1` is the oldest retained event, `now` the tail. An offset whose epoch is
 * gone, or whose events retention removed, is `410 Gone`.
 *
 * The write side maps onto Herald where that is sound (with `authorizePublish` set; `405` without):
 * `PUT` says "this stream exists" (channels exist implicitly) for a signed-in user who may publish
 * there, `POST` is an authorized client publish (`ClientPublisher.append`: the checks and limits of
 * `POST …/publish`), each message one event named `client-message` (or `?event=client-…`) whose
 * envelope carries the user's id. `DELETE` is refused (405): retention trims a channel's log.
 * What Herald cannot honour is refused, not ignored: per-stream TTL and expiry, closing, writer
 * sequences and idempotent producers (400), and a content type other than JSON (409).
 *
 * Cross-origin readers get what the stream's origin policy (`cors`) allows: an `OPTIONS` preflight
 * is answered (204, the methods, `Content-Type` and `If-None-Match`; 403 for an origin outside the
 * list), and answers to an allowed origin expose the protocol's headers (`Stream-Next-Offset`, …).
 * A channel that was never published to is an empty stream, not a 404: Herald's channels exist
 * implicitly (a room's first reader may come before its first event), and nothing records which
 * were "created".
 */
import { cursorOf, decodeCursor, encodeCursor, type Cursor, type Position } from "../../protocol/cursor.js";
import { partitionsOf } from "../core/partitions.js";
import { HeraldError } from "../../protocol/errors.js";
import { longPoll } from "../core/poll.js";
import { pollEnvelope } from "../core/poll.js";
import { admit, originHeaders, type Admitted, type IncomingRequest } from "./admit.js";
import type { HeraldCore } from "./edge.js";
import type { ClientPublisher } from "./client-publish.js";

/** Most events in one catch-up answer (`Stream-Up-To-Date` is absent when more remain). */
export const DURABLE_PAGE = 1000;
/** How long a long-poll waits for data before answering 204 (ms). */
export const DURABLE_LONG_POLL_MS = 20_000;
/**
 * How long an SSE response lasts before the server ends it (the protocol's ~60 s, for collapsing;
 * shorter with `rotateAfterMs`, which ends Herald's own streams too). The client reads on from its offset.
 */
export const DURABLE_SSE_MS = 55_000;
/** Cursors count 20 s intervals from 2024-10-09T00:00:00Z (the protocol's defaults). */
const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9);
const CURSOR_INTERVAL_MS = 20_000;

/** A Durable Streams answer: whole (`body`, none for HEAD and 204/304) or streamed (`stream`, SSE). */
export interface DurableReply {
  status: number;
  headers: Record<string, string>;
  body?: string;
  stream?: AsyncIterable<string>;
}

/** A request to a stream URL. */
export interface DurableRequest extends IncomingRequest {
  method: string;
  /** The channel, from the path. */
  channel: string;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
  /** Reads the body as text, refusing (413) more than `limit` bytes (writes only). */
  body?: (limit: number) => Promise<string>;
  /** The instance's client publisher (`authorizePublish`): writes are refused (405) without it. */
  publisher?: ClientPublisher | undefined;
}

/** The event an append publishes unless `?event=` names another (`client-…`). */
export const DURABLE_APPEND_EVENT = "client-message";
/** Largest write body read (the publisher's own cap, 16 KiB by default, applies after). */
const WRITE_BODY_LIMIT = 64 * 1024;
/** Protocol headers asking for what a Herald channel does not have; refused rather than ignored. */
const UNSUPPORTED: Record<string, string> = {
  "stream-ttl": "retention is the server's (per channel pattern), not set per stream",
  "stream-expires-at": "retention is the server's (per channel pattern), not set per stream",
  "stream-closed": "a Herald channel is never closed",
  "stream-seq": "writer sequences are not supported: Herald does not order or deduplicate appends by them",
  "producer-id": "idempotent producers are not supported: Herald does not deduplicate appends",
  "producer-epoch": "idempotent producers are not supported: Herald does not deduplicate appends",
  "producer-seq": "idempotent producers are not supported: Herald does not deduplicate appends",
};

/** A Durable Streams offset for a Herald position. */
export function durableOffset(epoch: string, seq: number): string {
  return `${epoch}_${String(seq).padStart(16, "0")}`;
}

const OFFSET = /^([a-z0-9]{1,24})_(\d{16})$/;

/** Serves one request to a stream URL; refusals throw `HeraldError` (the adapters answer JSON errors). */
export async function serveDurable(edge: HeraldCore, request: DurableRequest): Promise<DurableReply> {
  if (request.method === "OPTIONS") return preflight(edge, request);
  if (request.method === "PUT" || request.method === "POST") return serveWrite(edge, request);
  if (request.method !== "GET" && request.method !== "HEAD") {
    const reason = "a channel's log is not deleted: retention trims it";
    throw new HeraldError("method_not_allowed", request.method === "DELETE" ? reason : "not a stream method", {
      details: { allow: request.publisher ? "GET, HEAD, PUT, POST" : "GET, HEAD" },
    });
  }
  let admitted: Admitted;
  let base: Record<string, string>;
  try {
    base = baseHeaders(edge, request);
    const url = new URL(request.url);
    url.searchParams.delete("channel");
    url.searchParams.set("channel", request.channel);
    admitted = await admit(edge.options, edge.limits, { ...request, url });
  } catch (error) {
    edge.refused("streams", error);
    throw error;
  }
  let streaming = false;
  try {
    const query = request.url.searchParams;
    const live = query.get("live");
    if (live !== null && live !== "long-poll" && live !== "sse") {
      throw new HeraldError("invalid_request", "`live` is long-poll or sse");
    }
    if (live !== null && query.get("offset") === null) {
      throw new HeraldError("invalid_request", "a live read needs an offset (-1 for the start, now for the tail)");
    }
    const channel = request.channel;
    const read = await catchUp(edge, channel, query.get("offset") ?? "-1");
    const headers = { ...base, "Content-Type": "application/json", "Cache-Control": "no-store" };
    if (request.method === "HEAD") {
      return { status: 200, headers: { ...headers, "Stream-Next-Offset": read.tail } };
    }
    const cursor = streamCursor(query.get("cursor"));
    if (live === "sse") {
      streaming = true;
      const sse = { ...base, "Content-Type": "text/event-stream", "Cache-Control": "no-store" };
      return { status: 200, headers: sse, stream: sseStream(edge, admitted, channel, read, cursor, request.signal) };
    }
    let answer = read;
    if (live === "long-poll" && answer.events === "" && !request.signal.aborted) {
      answer = await wait(edge, channel, answer.next, DURABLE_LONG_POLL_MS, request.signal);
      if (answer.events === "") {
        const idle = { ...headers, "Stream-Next-Offset": answer.next.text, "Stream-Up-To-Date": "true" };
        return { status: 204, headers: { ...idle, "Stream-Cursor": cursor } };
      }
    }
    const reply: Record<string, string> = { ...headers, "Stream-Next-Offset": answer.next.text };
    if (answer.upToDate) reply["Stream-Up-To-Date"] = "true";
    if (live !== null) reply["Stream-Cursor"] = cursor;
    if (query.get("offset") !== "now") {
      reply.ETag = `"${channel}:${answer.start}:${answer.next.text}"`;
      if (request.header("if-none-match") === reply.ETag) return { status: 304, headers: reply };
    }
    return { status: 200, headers: reply, body: `[${answer.events}]` };
  } finally {
    if (!streaming) admitted.release();
  }
}

/**
 * `PUT` (create: the stream exists, `201` while the channel's log holds nothing, else `200`; a
 * body is appended) and `POST` (append: `204` with the last message's offset). Admitted as a read
 * is, then signed in, then the publisher's checks; nothing is published on a refusal.
 */
async function serveWrite(edge: HeraldCore, request: DurableRequest): Promise<DurableReply> {
  const { publisher, channel } = request;
  try {
    const base = baseHeaders(edge, request);
    if (!publisher?.append || !request.body) {
      throw new HeraldError("method_not_allowed", "streams are read here: writes need authorizePublish", {
        details: { allow: "GET, HEAD" },
      });
    }
    for (const [header, reason] of Object.entries(UNSUPPORTED)) {
      if (request.header(header) !== null) throw new HeraldError("invalid_request", reason, { details: { header } });
    }
    const type = request.header("content-type")?.split(";")[0]!.trim().toLowerCase() ?? "";
    if (type === "" && request.method === "POST") {
      throw new HeraldError("invalid_request", "an append needs Content-Type: application/json");
    }
    if (type !== "" && type !== "application/json") {
      throw new HeraldError("conflict", "this stream is application/json: Herald events are JSON", {
        details: { contentType: "application/json" },
      });
    }
    const event = request.url.searchParams.get("event") ?? DURABLE_APPEND_EVENT;
    const url = new URL(request.url);
    url.searchParams.delete("channel");
    url.searchParams.delete("event");
    url.searchParams.set("channel", channel);
    // The route rates of `POST …/publish` (per address, then per user), then a read's admission.
    edge.limits.route("publish", null, request.ip);
    const admitted = await admit(edge.options, edge.limits, { ...request, url });
    admitted.release();
    const userId = admitted.principal?.userId;
    if (!userId) throw new HeraldError("unauthorized", "sign in to write to a stream");
    edge.limits.route("publish", userId, undefined);
    const body = await request.body(WRITE_BODY_LIMIT);
    const create = request.method === "PUT";
    const held = create && (await edge.broker.snapshot([channel], 0, 1)).events.length > 0;
    const at = (await publisher.append(userId, channel, event, body, create)) ?? (await position(edge, channel));
    const headers: Record<string, string> = {
      ...base,
      "Content-Type": "application/json",
      "Stream-Next-Offset": durableOffset(at.epoch, at.seq),
    };
    const status = create ? (held ? 200 : 201) : 204;
    // A create names the stream (the protocol's `Location` on 201): its path, without the query (the
    // token), the host being the client's own (the Node adapter does not trust `Host` to name it).
    if (status === 201) headers.Location = request.url.pathname;
    return { status, headers };
  } catch (error) {
    edge.refused("streams", error);
    throw error;
  }
}

/** The log's position now (what a write that published nothing answers as its offset). */
async function position(edge: HeraldCore, channel: string): Promise<Position> {
  const { epoch, head } = await edge.broker.snapshot([channel], 0, 0);
  return { partition: partitionsOf(edge.broker)(channel), epoch, seq: head };
}

/** Headers every answer carries (the protocol's browser security headers). */
const SECURITY_HEADERS = { "X-Content-Type-Options": "nosniff", "Cross-Origin-Resource-Policy": "cross-origin" };
/** The protocol's response headers a cross-origin reader must see (a browser hides the others). */
const EXPOSED = "Stream-Next-Offset, Stream-Up-To-Date, Stream-Cursor, ETag";

/**
 * An answer's own headers: the origin policy's (403 `origin_not_allowed` for an origin outside
 * `cors`), the security headers, and for an allowed cross-origin request the protocol's, exposed.
 */
function baseHeaders(edge: HeraldCore, request: DurableRequest): Record<string, string> {
  const headers: Record<string, string> = { ...originHeaders(edge.options, request), ...SECURITY_HEADERS };
  if ("Access-Control-Allow-Origin" in headers) headers["Access-Control-Expose-Headers"] = EXPOSED;
  return headers;
}

/**
 * A CORS preflight (`OPTIONS`): 204 with the stream's methods (writes only with
 * `authorizePublish`) and the request headers a reader or writer sends, for an origin `cors`
 * allows (and for a request without `Origin`); 403 `origin_not_allowed` for any other. It admits
 * nothing: the request it announces passes admission (the token, the channel's rule) itself.
 */
function preflight(edge: HeraldCore, request: DurableRequest): DurableReply {
  try {
    edge.limits.checkUrl(request.rawUrl);
    const methods = request.publisher ? "GET, HEAD, PUT, POST, OPTIONS" : "GET, HEAD, OPTIONS";
    const headers = {
      ...baseHeaders(edge, request),
      "Access-Control-Allow-Methods": methods,
      "Access-Control-Allow-Headers": "Content-Type, If-None-Match",
      "Access-Control-Max-Age": "600",
      Allow: methods,
    };
    return { status: 204, headers };
  } catch (error) {
    edge.refused("streams", error);
    throw error;
  }
}

/** A position in the channel's log: the cursor, and its offset text. */
interface Offset {
  cursor: Cursor;
  text: string;
}

/** What one read found: the events (envelopes joined by commas), where the next read starts, the tail. */
interface Read {
  start: string;
  events: string;
  next: Offset;
  upToDate: boolean;
  tail: string;
}

/** Reads the channel's log after `offset` (at most a page); `410` for a position the log lost. */
async function catchUp(edge: HeraldCore, channel: string, offset: string): Promise<Read> {
  const partition = partitionsOf(edge.broker)(channel);
  let after: { epoch: string; seq: number } | null = null;
  if (offset !== "-1" && offset !== "now") {
    const match = OFFSET.exec(offset);
    if (!match) throw new HeraldError("invalid_cursor", "offset must be -1, now, or an offset this server gave");
    after = { epoch: match[1]!, seq: Number(match[2]) };
    if (!Number.isSafeInteger(after.seq)) throw new HeraldError("invalid_cursor", "offset is out of range");
  }
  const snap = await edge.broker.snapshot(
    [channel],
    offset === "now" ? Number.MAX_SAFE_INTEGER : (after?.seq ?? 0),
    DURABLE_PAGE + 1,
  );
  const tail = durableOffset(snap.epoch, snap.head);
  if (offset === "now")
    return { start: tail, events: "", next: at(partition, snap.epoch, snap.head), upToDate: true, tail };
  const more = snap.events.length > DURABLE_PAGE;
  if (after && (after.epoch !== snap.epoch || (snap.trimmed.includes(channel) && !more))) {
    throw new HeraldError("offset_gone", "the log no longer holds this offset: read again from -1", {
      details: { offset },
    });
  }
  const events = snap.events.slice(0, DURABLE_PAGE);
  const last = more ? events[events.length - 1]!.seq : snap.head;
  const envelopes = events.map((event) => pollEnvelope(snap.epoch, event, partition)).join(",");
  const start = after ? offset : durableOffset(snap.epoch, 0);
  return { start, events: envelopes, next: at(partition, snap.epoch, last), upToDate: !more, tail };
}

function at(partition: number, epoch: string, seq: number): Offset {
  return { cursor: cursorOf({ partition, epoch, seq }), text: durableOffset(epoch, seq) };
}

/** Waits on the hub for the channel's next events after `from` (a long-poll); `410` when the log restarted. */
async function wait(edge: HeraldCore, channel: string, from: Offset, ms: number, signal: AbortSignal): Promise<Read> {
  const cursorText = encodeCursor(from.cursor);
  const answer = await longPoll(edge.hub, edge.broker, [channel], from.cursor, cursorText, ms, signal);
  const { events, cursor, gaps } = JSON.parse(answer.body) as { events: unknown[]; cursor: string; gaps: unknown[] };
  if (gaps.length > 0) throw new HeraldError("offset_gone", "the log restarted or was trimmed: read again from -1");
  const next = decodeCursor(cursor);
  const position = [...next.values()][0]!;
  const text = durableOffset(position.epoch, position.seq);
  const joined = events.map((event) => JSON.stringify(event)).join(",");
  return { start: from.text, events: joined, next: { cursor: next, text }, upToDate: true, tail: text };
}

/**
 * The protocol's cursor: the current 20 s interval, and strictly more than the client's (with
 * jitter) when the client is already there, so cached answers never cycle.
 */
function streamCursor(given: string | null): string {
  const interval = Math.floor((Date.now() - CURSOR_EPOCH_MS) / CURSOR_INTERVAL_MS);
  const client = given !== null && /^\d{1,15}$/.test(given) ? Number(given) : -1;
  if (client < interval) return String(interval);
  return String(client + 1 + Math.floor((Math.random() * 3600) / (CURSOR_INTERVAL_MS / 1000)));
}

/**
 * The SSE answer: the catch-up read, then whatever arrives, each batch as an `event: data` (a JSON
 * array) followed by an `event: control` with `streamNextOffset`, `streamCursor` (and `upToDate`
 * when caught up), until the client leaves or `DURABLE_SSE_MS` passes.
 */
async function* sseStream(
  edge: HeraldCore,
  admitted: Admitted,
  channel: string,
  first: Read,
  cursor: string,
  signal: AbortSignal,
): AsyncGenerator<string> {
  const end = Date.now() + Math.min(DURABLE_SSE_MS, edge.options.rotateAfterMs ?? Infinity);
  let read = first;
  try {
    for (;;) {
      if (read.events !== "") yield `event: data\ndata: [${read.events}]\n\n`;
      const control = {
        streamNextOffset: read.next.text,
        streamCursor: cursor,
        ...(read.upToDate && { upToDate: true }),
      };
      yield `event: control\ndata: ${JSON.stringify(control)}\n\n`;
      const left = end - Date.now();
      if (left <= 0 || signal.aborted) return;
      read = read.upToDate
        ? await wait(edge, channel, read.next, Math.min(left, DURABLE_LONG_POLL_MS), signal)
        : await catchUp(edge, channel, read.next.text);
    }
  } catch (error) {
    if (error instanceof HeraldError) yield `event: error\ndata: ${JSON.stringify(error.toJSON().error)}\n\n`;
  } finally {
    admitted.release();
  }
}
