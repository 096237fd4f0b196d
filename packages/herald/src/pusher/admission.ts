/**
 * The Herald rules a WebSocket connection passes, through the same pieces of the same instance as
 * an SSE or poll request (`server/http/admit.ts`): before the upgrade, the origin policy (`cors`:
 * same-origin by default), the URL length, the per-address attempt rate, who is connecting (the
 * session cookie, read by `getUserId`), the per-user attempt rate, and a connection slot per user
 * and per address; on each subscription to a public channel, `allowAnonymous` and the instance's
 * channel rules (`authorize`); on each client event, the `publish` route's rates per user and per
 * address. Refusals before the upgrade are plain HTTP answers with Herald's JSON error body.
 */
import { Buffer } from "node:buffer";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import type { RequestContext } from "../server/auth/request-context.js";
import type { Principal } from "../server/core/subscriber.js";
import type { Herald } from "../server/herald.js";
import { originHeaders, type IncomingRequest } from "../server/http/admit.js";
import { sessionOfNode } from "../server/http/node-adapter.js";
import { errorParts } from "../server/http/responses.js";
import { headerOf, nodeClientIp } from "../server/http/sse-node.js";

const BASE = "http://herald.invalid";
const NO_HEADERS: IncomingHttpHeaders = Object.freeze({});

/**
 * A connection that passed the checks before its upgrade. It keeps what the channel rules read of
 * the upgrade request (its URL, its headers, its address), not the request itself: a connection
 * lives long, and this is per connection.
 */
export interface SocketAdmission {
  /** The upgrade's URL as received (when the instance has an `authorize` callback to read it; else "/"). */
  readonly rawUrl: string;
  /** The upgrade's headers (when the instance has an `authorize` callback to read them). */
  readonly headers: IncomingHttpHeaders;
  /** The client's address (see `trustProxy`). */
  readonly ip: string | undefined;
  /** Who is connecting, from the session cookie (null: anonymous, or no `getUserId`). */
  readonly principal: Principal | null;
  /** Frees the connection slots (idempotent). */
  release(): void;
}

/** What a subscription to a public channel is told. */
export type ChannelVerdict = { ok: true } | { ok: false; status: 401 | 403; message: string };

/**
 * Runs the checks before a WebSocket upgrade. Throws `HeraldError`: 403 `origin_not_allowed`, 414,
 * 429 `rate_limited` / `too_many_connections`.
 */
export async function admitUpgrade(herald: Herald, req: IncomingMessage): Promise<SocketAdmission> {
  const core = herald.core;
  const request: IncomingRequest = {
    url: new URL(req.url ?? "/", BASE),
    rawUrl: req.url ?? "/",
    header: (name) => headerOf(req, name),
    ip: nodeClientIp(core, req),
  };
  originHeaders(core.options, request);
  core.limits.checkUrl(request.rawUrl);
  core.limits.attemptFromIp(request.ip);
  // A session lookup that cannot run here (no request scope) makes the socket anonymous.
  const userId = await herald.userId(sessionOfNode(req)).catch(() => null);
  if (userId !== null) core.limits.attemptByUser(userId);
  core.limits.takeSlot(userId, request.ip);
  // Only an `authorize` callback reads the URL and headers (later, per subscription): kept only when there is one.
  const keep = core.options.authorize !== undefined;
  return new Admitted(
    herald,
    keep ? request.rawUrl : "/",
    keep ? req.headers : NO_HEADERS,
    request.ip,
    userId === null ? null : { userId },
  );
}

/**
 * Frees the connection slots `admitUpgrade` took for `admission` (once: the holder keeps a flag).
 * The socket a connection becomes takes the admission's place and frees them itself.
 */
export function freeSlot(herald: Herald, admission: Pick<SocketAdmission, "principal" | "ip">): void {
  herald.core.limits.freeSlot(admission.principal?.userId ?? null, admission.ip);
}

/** A {@link SocketAdmission} holding its slots until the upgrade is refused or becomes a socket. */
class Admitted implements SocketAdmission {
  private released = false;

  constructor(
    private readonly herald: Herald,
    readonly rawUrl: string,
    readonly headers: IncomingHttpHeaders,
    readonly ip: string | undefined,
    readonly principal: Principal | null,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    freeSlot(this.herald, this);
  }
}

/**
 * Counts a `pusher:signin` as `userId` against the per-user attempt rate and connection cap (when
 * it is not the session's user, who was counted at the upgrade). Returns the slot's release.
 */
export function admitSignin(herald: Herald, admission: SocketAdmission, userId: string): () => void {
  if (admission.principal?.userId === userId) return () => {};
  herald.core.limits.attemptByUser(userId);
  return herald.core.limits.acquire(userId, undefined);
}

/**
 * Decides a subscription to a public channel (`brokerChannel`, the name on Herald's bus) by the
 * instance's rules: anonymous connections are refused when sessions are on and `allowAnonymous`
 * is false (401); then `authorize` decides (403), as for every SSE and poll (re)connect.
 */
export async function mayFollow(
  herald: Herald,
  admission: SocketAdmission,
  principal: Principal | null,
  brokerChannel: string,
): Promise<ChannelVerdict> {
  const options = herald.core.options;
  if (principal === null && options.getUserId !== undefined && !options.allowAnonymous) {
    return { ok: false, status: 401, message: "Sign in first: this app does not serve anonymous connections" };
  }
  if (!options.authorize) return { ok: true };
  const context: RequestContext = {
    url: new URL(admission.rawUrl, BASE),
    header: (name) => {
      const value = admission.headers[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
    },
    ip: admission.ip,
    channels: [brokerChannel],
    token: null,
  };
  const allowed = await options.authorize(principal, brokerChannel, context);
  return allowed ? { ok: true } : { ok: false, status: 403, message: `Not allowed to subscribe to ${brokerChannel}` };
}

/**
 * Counts a client event against the `publish` route's rates (per user when signed in, per
 * address). Throws 429 `rate_limited` past either.
 */
export function countClientEvent(herald: Herald, admission: SocketAdmission, userId: string | null): void {
  herald.core.limits.route("publish", userId, admission.ip);
}

/** Answers a refused upgrade on the raw socket (`{ error: { code, message } }`) and closes it. */
export function refuseUpgrade(socket: Duplex, error: unknown): void {
  if (socket.destroyed) return;
  const { status, headers, body } = errorParts(error);
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}`];
  for (const [name, value] of Object.entries({ ...headers, Connection: "close" })) lines.push(`${name}: ${value}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`, "", body);
  // Half-close and let the client read the answer; destroyed in any case shortly after.
  socket.end(lines.join("\r\n"));
  setTimeout(() => socket.destroy(), 1000).unref();
}
