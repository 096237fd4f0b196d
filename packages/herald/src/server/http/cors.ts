/**
 * Cross-origin policy for the SSE and poll endpoints: an allow-list of origins, credentials only
 * for allowed origins, never a wildcard with credentials.
 */
import { HeraldError } from "../../protocol/errors.js";

/** CORS settings. Default: same-origin only (cross-origin browser requests are refused). */
export interface CorsOptions {
  /** Origins allowed to subscribe (exact `scheme://host[:port]`), or `"*"` for any (then no credentials). */
  origins: readonly string[] | "*";
  /** Allow cookies on cross-origin requests (only with an explicit list of origins). */
  credentials?: boolean;
}

/** Validates a CORS configuration at startup. */
export function assertCorsOptions(cors: CorsOptions | undefined): void {
  if (cors?.origins === "*" && cors.credentials) {
    throw new HeraldError("invalid_request", 'cors: origins "*" cannot be combined with credentials');
  }
}

/**
 * Decides a request's `Origin`. Returns the CORS headers to add (empty for same-origin or
 * non-browser requests); throws 403 `origin_not_allowed` for an origin outside the allow-list.
 */
export function corsHeaders(
  cors: CorsOptions | undefined,
  origin: string | null,
  host: string | null,
  requestUrl: URL,
): Record<string, string> {
  if (origin === null) return {}; // not a cross-origin browser request
  if (isSameOrigin(origin, host ?? requestUrl.host)) return {};
  const allowed = cors && (cors.origins === "*" || cors.origins.includes(origin));
  if (!allowed) {
    throw new HeraldError("origin_not_allowed", "this origin may not subscribe", {
      details: { origin: origin.slice(0, 200) },
    });
  }
  if (cors.origins === "*") return { "Access-Control-Allow-Origin": "*" };
  const headers: Record<string, string> = { "Access-Control-Allow-Origin": origin, Vary: "Origin" };
  if (cors.credentials) headers["Access-Control-Allow-Credentials"] = "true";
  return headers;
}

/** Headers answering a CORS preflight (`OPTIONS`) for an allowed origin. */
export function preflightHeaders(
  cors: CorsOptions | undefined,
  origin: string | null,
  host: string | null,
  requestUrl: URL,
): Record<string, string> {
  const headers = corsHeaders(cors, origin, host, requestUrl);
  return {
    ...headers,
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Last-Event-ID, Content-Type",
    "Access-Control-Max-Age": "600",
  };
}

/** True when the `Origin` header names `host` (an unparsable origin is never the same). */
export function isSameOrigin(origin: string, host: string): boolean {
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
