/**
 * Pusher's signatures (pusher.com/docs/channels/library_auth_reference/auth-signatures): HMAC-SHA256
 * in hex, compared in constant time.
 */
import { Buffer } from "node:buffer";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** Hex HMAC-SHA256 of `data` under `secret`. */
export function hmacHex(secret: string, data: string): string {
  return createHmac("sha256", secret).update(data, "utf8").digest("hex");
}

/** Hex MD5 of a request body (the HTTP API's `body_md5`). */
export function md5Hex(body: string): string {
  return createHash("md5").update(body, "utf8").digest("hex");
}

/** Constant-time string equality (false for different lengths, without comparing). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Checks a socket auth string `"<key>:<hex signature>"` over `signed` (private:
 * `socket_id:channel`; presence: `socket_id:channel:channel_data`; sign-in:
 * `socket_id::user::user_data`), exactly as the client sent it (never re-serialized).
 */
export function verifySocketAuth(auth: unknown, key: string, secret: string, signed: string): boolean {
  if (typeof auth !== "string") return false;
  const colon = auth.indexOf(":");
  if (colon < 0 || !safeEqual(auth.slice(0, colon), key)) return false;
  return safeEqual(auth.slice(colon + 1), hmacHex(secret, signed));
}

/** Signs a socket auth string (`"<key>:<hex>"`), the way the server SDKs do. */
export function signSocketAuth(key: string, secret: string, signed: string): string {
  return `${key}:${hmacHex(secret, signed)}`;
}

/** What {@link verifyApiRequest} decides. */
export type ApiAuthResult = { ok: true; signature: string; timestamp: number } | { ok: false; message: string };

/**
 * Verifies an HTTP API request's query (auth-signatures, "Generating the signature"): `auth_key`,
 * `auth_timestamp` (decimal seconds) within `maxSkewS` seconds, `auth_version=1.0`, and
 * `auth_signature` = HMAC-SHA256 of `METHOD\nPATH\nk=v&…` (keys lowercased and sorted, values
 * unescaped, `auth_signature` left out). The signature covers `body_md5`, so this runs before the
 * body is read; {@link verifyBodyMd5} then checks the body against it.
 */
export function verifyApiRequest(
  method: string,
  path: string,
  query: URLSearchParams,
  credentials: { key: string; secret: string },
  nowMs: number,
  maxSkewS = 600,
): ApiAuthResult {
  const get = (name: string) => query.get(name);
  const key = get("auth_key");
  if (key === null || !safeEqual(key, credentials.key)) return { ok: false, message: "Unknown auth_key" };
  const stamp = get("auth_timestamp") ?? "";
  // Decimal seconds only: `0x…`, `1e9`, signs, fractions and padding are refused.
  if (!/^[1-9][0-9]{0,11}$/.test(stamp)) return { ok: false, message: "Missing or invalid auth_timestamp" };
  const timestamp = Number(stamp);
  if (Math.abs(nowMs / 1000 - timestamp) > maxSkewS) {
    return {
      ok: false,
      message: `Timestamp expired: Given timestamp (${timestamp}) not within ${maxSkewS}s of server time`,
    };
  }
  if (get("auth_version") !== "1.0") return { ok: false, message: "auth_version must be 1.0" };
  const signature = get("auth_signature");
  if (signature === null) return { ok: false, message: "Missing auth_signature" };
  const pairs: [string, string][] = [];
  for (const [k, v] of query) if (k !== "auth_signature") pairs.push([k.toLowerCase(), v]);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const signed = `${method.toUpperCase()}\n${path}\n${pairs.map(([k, v]) => `${k}=${v}`).join("&")}`;
  const expected = hmacHex(credentials.secret, signed);
  if (!safeEqual(signature.toLowerCase(), expected)) {
    return {
      ok: false,
      message: `Invalid signature: you should have sent HmacSHA256Hex(${JSON.stringify(signed)}, your_secret_key)`,
    };
  }
  return { ok: true, signature: expected, timestamp };
}

/** Checks a request body against the signed `body_md5` (required when there is a body); returns why not, or null. */
export function verifyBodyMd5(query: URLSearchParams, body: string): string | null {
  if (body.length === 0) return null;
  const md5 = query.get("body_md5");
  if (md5 === null || !safeEqual(md5.toLowerCase(), md5Hex(body))) return "body_md5 does not match the body";
  return null;
}

/**
 * Refuses a signed request seen before. A signature is remembered until its timestamp leaves the
 * accepted window; a repeat is refused, except within `repeatSeconds` of its own timestamp: the
 * protocol has no nonce, so an SDK that sends the same event twice in one second signs both
 * identically, and that cannot be told apart from a replay. At most `maxEntries` signatures are
 * kept (the oldest is forgotten first).
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly maxSkewS: number,
    private readonly repeatSeconds = 2,
    private readonly maxEntries = 100_000,
  ) {}

  /** True when the request may be served; remembers it. */
  accept(signature: string, timestamp: number, nowMs: number): boolean {
    for (const [known, until] of this.seen) {
      if (until > nowMs) break;
      this.seen.delete(known);
    }
    if (this.seen.has(signature)) return Math.abs(nowMs / 1000 - timestamp) <= this.repeatSeconds;
    while (this.seen.size >= this.maxEntries) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(signature, (timestamp + this.maxSkewS) * 1000);
    return true;
  }

  /** Signatures remembered. */
  get size(): number {
    return this.seen.size;
  }
}
