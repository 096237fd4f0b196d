/**
 * The Pusher HTTP API (rest-api) under `/apps/{app_id}`: events, batch events, channels, channel
 * info, presence users, terminate a user's connections. Every request is signed (see
 * `verifyApiRequest`); errors are answered the way Pusher answers them: a status and a text body.
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isHeraldError, type HeraldError } from "../protocol/errors.js";
import { assertEventName } from "../protocol/names.js";
import { brokerChannel, brokerJsonOfPusherData, channelKind, pusherDataOfBrokerJson } from "./channels.js";
import type { Fanout } from "./fanout.js";
import type { PresenceStore } from "./presence.js";
import { ReplayGuard, verifyApiRequest, verifyBodyMd5 } from "./signature.js";

/** What the HTTP API needs from the server. */
export interface HttpApiContext {
  readonly appId: string;
  readonly key: string;
  readonly secret: string;
  readonly fanout: Fanout;
  readonly presence: PresenceStore;
  readonly maxEventBytes: number;
  /** How far `auth_timestamp` may be from the clock, in seconds. */
  readonly maxSkewS: number;
  /** Signed POSTs already served. */
  readonly replays: ReplayGuard;
  readonly now: () => number;
  /** Herald's own (SSE) subscribers of a channel on this process, added to `subscription_count`. */
  heraldSubscribers(channel: string): number;
  /** Closes the connections signed in as `userId`; returns how many. */
  terminateUser(userId: string): number;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Largest request body read (ten 10 KB events plus their envelope). */
const MAX_BODY_BYTES = 256 * 1024;
const MAX_CHANNELS_PER_EVENT = 100;
const MAX_BATCH = 10;

/** Serves `/apps/…` requests; returns false for other paths. */
export function handleApiRequest(ctx: HttpApiContext, req: IncomingMessage, res: ServerResponse): boolean {
  const url = new URL(req.url ?? "/", "http://herald.invalid");
  if (!url.pathname.startsWith("/apps/")) return false;
  serve(ctx, req, url).then(
    (body) => reply(req, res, 200, JSON.stringify(body), "application/json"),
    (error: unknown) => {
      if (error instanceof ApiError) reply(req, res, error.status, `${error.message}\n`, "text/plain");
      else reply(req, res, 500, "Internal error\n", "text/plain");
    },
  );
  return true;
}

/** Answers; a request whose body was not read (refused before it) is not kept alive to read it. */
function reply(req: IncomingMessage, res: ServerResponse, status: number, body: string, type: string): void {
  if (res.writableEnded || res.destroyed) return;
  const headers: Record<string, string> = { "Content-Type": `${type}; charset=utf-8`, "Cache-Control": "no-store" };
  if (!req.complete) {
    headers.Connection = "close";
    res.shouldKeepAlive = false;
    res.once("finish", () => req.socket.destroy());
  }
  res.writeHead(status, headers);
  res.end(body);
}

async function serve(ctx: HttpApiContext, req: IncomingMessage, url: URL): Promise<unknown> {
  const parts = url.pathname.split("/").filter(Boolean).map(decodeSegment);
  // ["apps", id, ...rest]
  if (parts[1] !== ctx.appId) throw new ApiError(404, "Unknown app");
  const method = req.method ?? "GET";
  // The signature (which covers `body_md5`) is checked before a byte of the body is read.
  const auth = verifyApiRequest(method, url.pathname, url.searchParams, ctx, ctx.now(), ctx.maxSkewS);
  if (!auth.ok) throw new ApiError(401, auth.message);
  const body = method === "POST" ? await readBody(req) : "";
  const bodyError = verifyBodyMd5(url.searchParams, body);
  if (bodyError !== null) throw new ApiError(401, bodyError);
  if (method === "POST" && !ctx.replays.accept(auth.signature, auth.timestamp, ctx.now())) {
    throw new ApiError(401, "Replayed request: this signed request was already served");
  }
  const rest = parts.slice(2);
  const route = `${method} ${rest[0] ?? ""}${rest.length > 1 ? `/${rest.length}` : ""}`;
  switch (route) {
    case "POST events":
      return triggerOne(ctx, parseJson(body));
    case "POST batch_events":
      return triggerBatch(ctx, parseJson(body));
    case "GET channels":
      return listChannels(ctx, url.searchParams);
    case "GET channels/2":
      return channelInfo(ctx, rest[1]!, url.searchParams);
    case "GET channels/3":
      if (rest[2] !== "users") break;
      return presenceUsers(ctx, rest[1]!);
    case "POST users/3":
      if (rest[2] !== "terminate_connections") break;
      ctx.terminateUser(rest[1]!);
      return {};
  }
  throw new ApiError(404, "Not found");
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return "\u0000";
  }
}

function parseJson(body: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    /* below */
  }
  throw new ApiError(400, "The body must be a JSON object");
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners("data");
        req.resume();
        reject(new ApiError(413, `Request body is larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

interface Trigger {
  name: string;
  data: string;
  channels: string[];
  socketId: string | undefined;
  info: string[];
}

/** Validates one event of `events` or `batch_events` (all checks before anything is published). */
function parseTrigger(ctx: HttpApiContext, value: unknown): Trigger {
  if (typeof value !== "object" || value === null) throw new ApiError(400, "Each event must be an object");
  const { name, data, channels, channel, socket_id, info } = value as Record<string, unknown>;
  if (typeof name !== "string" || name.length === 0) throw new ApiError(400, "name is required");
  try {
    assertEventName(name);
  } catch {
    throw new ApiError(400, "Invalid event name: 1-200 characters of A-Z a-z 0-9 _ - = @ , . ; : (no pusher: prefix)");
  }
  if (typeof data !== "string") throw new ApiError(400, "data must be a string (JSON-encode objects)");
  if (Buffer.byteLength(data) > ctx.maxEventBytes) {
    throw new ApiError(413, `Payload too large: event data is limited to ${ctx.maxEventBytes} bytes`);
  }
  const list = channels !== undefined ? channels : channel !== undefined ? [channel] : undefined;
  if (!Array.isArray(list) || list.length === 0) throw new ApiError(400, "channels (or channel) is required");
  if (list.length > MAX_CHANNELS_PER_EVENT)
    throw new ApiError(400, `At most ${MAX_CHANNELS_PER_EVENT} channels per event`);
  for (const c of list) {
    if (typeof c !== "string" || brokerChannel(c) === null)
      throw new ApiError(400, `Invalid channel name: ${String(c).slice(0, 200)}`);
  }
  if (socket_id !== undefined && (typeof socket_id !== "string" || !/^\d+\.\d+$/.test(socket_id))) {
    throw new ApiError(400, "Invalid socket_id");
  }
  const infoList = typeof info === "string" && info !== "" ? info.split(",") : [];
  // Checked before anything is published, so a bad `info` never follows a published event.
  for (const field of infoList) {
    if (field === "user_count") {
      if (!(list as string[]).every((c) => channelKind(c) === "presence"))
        throw new ApiError(400, "user_count is only available for presence channels");
    } else if (field !== "subscription_count") {
      throw new ApiError(400, `Unknown info attribute: ${field.slice(0, 100)}`);
    }
  }
  return { name, data, channels: list as string[], socketId: socket_id as string | undefined, info: infoList };
}

async function publishTrigger(ctx: HttpApiContext, trigger: Trigger): Promise<void> {
  const json = brokerJsonOfPusherData(trigger.data);
  try {
    await Promise.all(
      trigger.channels.map((channel) => ctx.fanout.publish(channel, trigger.name, json, { exclude: trigger.socketId })),
    );
  } catch (error) {
    // Herald's own checks (its `maxPayloadBytes`, names) answer with their status, as Pusher would.
    if (isHeraldError(error)) throw new ApiError((error as HeraldError).status, (error as Error).message);
    throw error;
  }
}

async function triggerOne(ctx: HttpApiContext, body: Record<string, unknown>): Promise<unknown> {
  const trigger = parseTrigger(ctx, body);
  await publishTrigger(ctx, trigger);
  if (trigger.info.length === 0) return {};
  const channels: Record<string, unknown> = {};
  for (const channel of trigger.channels) channels[channel] = await attributes(ctx, channel, trigger.info);
  return { channels };
}

async function triggerBatch(ctx: HttpApiContext, body: Record<string, unknown>): Promise<unknown> {
  const batch = body.batch;
  if (!Array.isArray(batch)) throw new ApiError(400, "batch must be an array");
  if (batch.length > MAX_BATCH) throw new ApiError(400, `At most ${MAX_BATCH} events per batch`);
  const triggers = batch.map((event: unknown) => {
    const c = (event as { channel?: unknown } | null)?.channel;
    return parseTrigger(ctx, { ...(event as object), channels: undefined, channel: c });
  });
  for (const trigger of triggers) await publishTrigger(ctx, trigger);
  if (triggers.every((t) => t.info.length === 0)) return {};
  return {
    batch: await Promise.all(triggers.map((t) => (t.info.length ? attributes(ctx, t.channels[0]!, t.info) : {}))),
  };
}

/** `user_count` (presence only), `subscription_count` (WebSocket and Herald SSE subscribers on this process). */
async function attributes(ctx: HttpApiContext, channel: string, info: string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const field of info) {
    if (field === "user_count") {
      if (channelKind(channel) !== "presence")
        throw new ApiError(400, "user_count is only available for presence channels");
      out.user_count = (await ctx.presence.members(channel)).length;
    } else if (field === "subscription_count") {
      out.subscription_count = subscriptions(ctx, channel);
    } else if (field !== "cache") {
      throw new ApiError(400, `Unknown info attribute: ${field}`);
    }
  }
  return out;
}

function subscriptions(ctx: HttpApiContext, channel: string): number {
  const broker = brokerChannel(channel);
  return ctx.fanout.count(channel) + (broker && !channel.startsWith("#") ? ctx.heraldSubscribers(broker) : 0);
}

/** `GET /channels?filter_by_prefix=…&info=user_count`: occupied channels. */
async function listChannels(ctx: HttpApiContext, query: URLSearchParams): Promise<unknown> {
  const prefix = query.get("filter_by_prefix") ?? "";
  const info = (query.get("info") ?? "").split(",").filter(Boolean);
  for (const field of info) {
    if (field !== "user_count") throw new ApiError(400, `Unknown info attribute for the channel list: ${field}`);
    if (!prefix.startsWith("presence-")) throw new ApiError(400, "info=user_count needs filter_by_prefix=presence-");
  }
  const channels: Record<string, unknown> = {};
  for (const name of ctx.fanout.names().sort()) {
    if (!name.startsWith(prefix) || name.startsWith("#")) continue;
    channels[name] = info.length ? { user_count: (await ctx.presence.members(name)).length } : {};
  }
  return { channels };
}

/** `GET /channels/{name}?info=user_count,subscription_count,cache`. */
async function channelInfo(ctx: HttpApiContext, channel: string, query: URLSearchParams): Promise<unknown> {
  if (brokerChannel(channel) === null) throw new ApiError(400, "Invalid channel name");
  const info = (query.get("info") ?? "").split(",").filter(Boolean);
  const count = subscriptions(ctx, channel);
  const out: Record<string, unknown> = { occupied: count > 0, ...(await attributes(ctx, channel, info)) };
  if (info.includes("cache")) {
    const last = await ctx.fanout.lastEvent(channel);
    if (last) out.cache = { event: last.event, data: pusherDataOfBrokerJson(last.json) };
  }
  return out;
}

/** `GET /channels/{presence}/users`. */
async function presenceUsers(ctx: HttpApiContext, channel: string): Promise<unknown> {
  if (channelKind(channel) !== "presence") throw new ApiError(400, "Users can only be listed for presence channels");
  const members = await ctx.presence.members(channel);
  return { users: members.map((m) => ({ id: m.user_id })) };
}
