/**
 * The checks every subscription request passes before a stream opens, cheapest first: origin, URL
 * length, per-IP attempt rate, parsing, authentication, per-user attempt rate, channel
 * authorization (every channel, every (re)connect), concurrent connections per user and per IP.
 */
import { HeraldError } from "../../protocol/errors.js";
import { corsHeaders } from "./cors.js";
import type { Limits } from "./limits/limits.js";
import type { RequestContext } from "../auth/request-context.js";
import type { EdgeOptions } from "./edge.js";
import { parseSubscription, type SubscriptionRequest } from "./request.js";
import type { Principal } from "../core/subscriber.js";

/** A request that passed every check. */
export interface Admitted extends SubscriptionRequest {
  principal: Principal | null;
  /** Releases the connection slot reserved for the principal (idempotent). */
  release: () => void;
}

/** The request as the handlers see it. */
export interface IncomingRequest {
  url: URL;
  /** The raw URL as received (its length is limited). */
  rawUrl: string;
  header(name: string): string | null;
  ip: string | undefined;
}

/** Origin check alone (handlers need its headers for error responses too). Throws 403. */
export function originHeaders(options: Pick<EdgeOptions, "cors">, request: IncomingRequest): Record<string, string> {
  return corsHeaders(options.cors, request.header("origin"), request.header("host"), request.url);
}

/**
 * Runs the checks. Throws `HeraldError`: 400/414 for malformed input, 429 with `retryAfter` past a
 * limit, the authenticator's code (401) when it rejects, 403 naming the first channel the
 * principal may not follow.
 */
export async function admit(options: EdgeOptions, limits: Limits, request: IncomingRequest): Promise<Admitted> {
  limits.checkUrl(request.rawUrl);
  limits.attemptFromIp(request.ip);
  const parsed = parseSubscription(request.url, request.header("last-event-id"), options.maxChannelsPerConnection);
  const principal = await authenticateAndAuthorize(options, limits, request, parsed.channels, parsed.token);
  const release = limits.acquire(principal?.userId ?? null, request.ip);
  return { ...parsed, principal, release };
}

/**
 * The part of admission after parsing, which a channel change of an open stream passes too
 * (http/channels.ts): authentication (with `token`), the per-user attempt rate, and every channel's
 * rule. Resolves to the principal (null: anonymous); throws as {@link admit}.
 */
export async function authenticateAndAuthorize(
  options: EdgeOptions,
  limits: Limits,
  request: IncomingRequest,
  channels: readonly string[],
  token: string | null,
): Promise<Principal | null> {
  const context: RequestContext = { url: request.url, header: request.header, ip: request.ip, channels, token };
  const principal = options.authenticate ? await options.authenticate(context) : null;
  if (principal) limits.attemptByUser(principal.userId);
  if (options.authorize) {
    for (const channel of channels) {
      if (!(await options.authorize(principal, channel, context))) {
        throw new HeraldError("forbidden", `not allowed to subscribe to "${channel}"`, { details: { channel } });
      }
    }
  }
  return principal;
}
