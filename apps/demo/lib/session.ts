/**
 * The demo's sign-in: a display name in a signed, httpOnly cookie. No external auth. The HMAC secret
 * comes from `DEMO_SESSION_SECRET`, or is generated once per process. A signed cookie is honoured
 * only while its session is listed server-side (lib/users.ts): signing out ends it at once, and a
 * restart signs everyone out. Used by the custom server (server.ts) and the Next app alike, so it
 * imports nothing of Next.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { seeSession } from "./users";

/** Name of the session cookie. */
export const SESSION_COOKIE = "herald_demo_session";
/** How long a session lasts, in seconds. */
export const SESSION_MAX_AGE = 60 * 60 * 24 * 7;

/** A signed-in user. */
export interface Session {
  /** Random, URL-safe; also the `user-{id}` channel's suffix. */
  id: string;
  /** Display name, as typed. */
  name: string;
}

const store = globalThis as { __heraldDemoSecret?: string };

function secret(): string {
  const fromEnv = process.env.DEMO_SESSION_SECRET;
  if (fromEnv && fromEnv.length >= 16) return fromEnv;
  store.__heraldDemoSecret ??= randomBytes(32).toString("base64url");
  return store.__heraldDemoSecret;
}

function sign(body: string): string {
  return createHmac("sha256", secret()).update(body).digest("base64url");
}

/** A new session for `name` (already checked with {@link checkName}). */
export function newSession(name: string): Session {
  return { id: randomBytes(9).toString("base64url"), name };
}

/** Normalizes a display name; empty when nothing usable is left. */
export function cleanName(name: string): string {
  return name.replace(/\s+/g, " ").trim().slice(0, 40);
}

/**
 * Control characters (NUL, escapes...), bidi embeddings, overrides and isolates (U+202A-U+202E,
 * U+2066-U+2069, the marks U+200E/U+200F) and invisible characters (zero-width spaces and joiners'
 * neighbours U+200B-U+200D, U+2060-U+2064, U+FEFF): none belongs in a display name, and each can
 * make one name look like another.
 */
const SPOOFING = /[\p{Cc}\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/u;

/** The display name to use, or why it cannot be used. */
export function checkName(raw: string): { ok: true; name: string } | { ok: false; error: string } {
  if (SPOOFING.test(raw)) {
    return { ok: false, error: "Names cannot contain control, invisible or text-direction characters." };
  }
  const name = cleanName(raw);
  if (name.length < 2) return { ok: false, error: "Pick a name of at least 2 characters." };
  return { ok: true, name };
}

/** The cookie value for `session`: `base64url(json).hmac`. */
export function encodeSession(session: Session): string {
  const body = Buffer.from(JSON.stringify({ id: session.id, name: session.name })).toString("base64url");
  return `${body}.${sign(body)}`;
}

/** The session in a cookie value, or null when it is missing, malformed or not signed by us. */
export function decodeSession(value: string | null | undefined): Session | null {
  if (!value || value.length > 1024) return null;
  const dot = value.lastIndexOf(".");
  if (dot <= 0) return null;
  const body = value.slice(0, dot);
  const expected = Buffer.from(sign(body));
  const actual = Buffer.from(value.slice(dot + 1));
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
  try {
    const parsed = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Partial<Session>;
    if (typeof parsed.id !== "string" || !/^[A-Za-z0-9_-]{1,32}$/.test(parsed.id)) return null;
    if (typeof parsed.name !== "string" || parsed.name.length === 0) return null;
    if (!seeSession(parsed.id)) return null; // signed out, evicted or from before a restart
    return { id: parsed.id, name: parsed.name };
  } catch {
    return null;
  }
}

/** The session in a `Cookie` request header. */
export function sessionFromCookieHeader(header: string | null | undefined): Session | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) {
      try {
        return decodeSession(decodeURIComponent(part.slice(eq + 1).trim()));
      } catch {
        return null;
      }
    }
  }
  return null;
}
