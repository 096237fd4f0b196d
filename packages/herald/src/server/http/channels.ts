/**
 * `POST …/channels`: changes the channel set of an open SSE stream of this process without
 * reconnecting. Body (JSON): `{ connectionId, channels, lastEventId?, token? }`, `channels` the
 * stream's complete new set and `connectionId` the one its `herald:connected` announced. Admitted
 * as the stream is (http/admit.ts: origin policy, per-address and per-user attempt rates, the token
 * and the app's authentication, every channel's rule, the channel cap; the body is capped at the
 * stream's URL length), and by the same user as the stream (anonymous only for an anonymous one).
 * Answers `{ connectionId, channels }` once the added channels' catch-up is on the stream and they
 * are live (core/channel-change.ts); a refusal changes nothing. A stream of another process
 * (another instance, a serverless invocation) is `unknown_connection` (404): the client then
 * reconnects with its new set instead.
 */
import { decodeCursor, type Cursor } from "../../protocol/cursor.js";
import { HeraldError } from "../../protocol/errors.js";
import { authenticateAndAuthorize, originHeaders, type IncomingRequest } from "./admit.js";
import { preflightHeaders } from "./cors.js";
import type { HeraldCore } from "./edge.js";
import { jsonObject, parseChannels } from "./request.js";
import { errorParts } from "./responses.js";
import type { JsonReply, JsonRequest } from "./routes.js";

/** A parsed change request. */
export interface ChannelChangeRequest {
  connectionId: string;
  channels: string[];
  cursor: Cursor | null;
  cursorText: string | null;
  token: string | null;
}

/** Longest connection id looked at (ours are UUIDs). */
const MAX_CONNECTION_ID = 64;

/** Serves `POST …/channels` (and its CORS preflight); every refusal is a JSON error reply. */
export async function serveChannels(core: HeraldCore, request: JsonRequest, preflight: boolean): Promise<JsonReply> {
  const incoming: IncomingRequest = {
    url: request.url,
    rawUrl: request.url.href,
    header: request.header,
    ip: request.ip,
  };
  let cors: Record<string, string> = {};
  try {
    if (preflight) {
      const headers = preflightHeaders(
        core.options.cors,
        request.header("origin"),
        request.header("host"),
        request.url,
      );
      return { status: 204, headers, body: "" };
    }
    cors = originHeaders(core.options, incoming);
    core.limits.checkUrl(incoming.rawUrl);
    core.limits.attemptFromIp(incoming.ip);
    const type = request.header("content-type") ?? "";
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      throw new HeraldError("invalid_request", "send the change as Content-Type: application/json");
    }
    const change = parseChange(await request.body(core.limits.maxUrlLength), core.options.maxChannelsPerConnection);
    const principal = await authenticateAndAuthorize(
      core.options,
      core.limits,
      incoming,
      change.channels,
      change.token,
    );
    const sub = core.stream(change.connectionId);
    if (!sub) throw new HeraldError("unknown_connection", "no open stream with this connectionId on this server");
    if ((principal?.userId ?? null) !== (sub.principal?.userId ?? null)) {
      throw new HeraldError("connection_user_mismatch", "this stream belongs to another user");
    }
    await core.changeChannels(sub, { channels: change.channels, cursor: change.cursor, cursorText: change.cursorText });
    const body = JSON.stringify({ connectionId: sub.id, channels: [...sub.channels] });
    return {
      status: 200,
      headers: { ...cors, "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" },
      body,
    };
  } catch (error) {
    core.refused("channels", error);
    return errorParts(error, cors);
  }
}

/** Reads the body strictly: `invalid_request` (400) for anything but the documented shape. */
export function parseChange(text: string, maxChannels: number): ChannelChangeRequest {
  const body = jsonObject(text, "invalid_request", "the body is not JSON", "the body is a JSON object");
  const { connectionId, channels, lastEventId, token } = body;
  if (typeof connectionId !== "string" || connectionId.length === 0 || connectionId.length > MAX_CONNECTION_ID) {
    throw new HeraldError("invalid_request", "`connectionId` is the id `herald:connected` announced");
  }
  if (!Array.isArray(channels) || channels.length === 0) {
    throw new HeraldError("invalid_request", "`channels` is the stream's new set: a non-empty array of names");
  }
  if (lastEventId !== undefined && lastEventId !== null && typeof lastEventId !== "string") {
    throw new HeraldError("invalid_request", "`lastEventId` is a string or null");
  }
  if (token !== undefined && token !== null && typeof token !== "string") {
    throw new HeraldError("invalid_request", "`token` is a string or null");
  }
  const cursorText = lastEventId || null;
  return {
    connectionId,
    channels: parseChannels(channels, maxChannels),
    cursor: cursorText === null ? null : decodeCursor(cursorText),
    cursorText,
    token: token || null,
  };
}
