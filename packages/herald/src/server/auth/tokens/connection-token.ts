/**
 * Connection tokens for a Herald server that has no sessions of its own (`herald serve` beside a
 * serverless app): the app's server, which knows the user, signs a short-lived token naming the
 * user and the private channels they may follow, with a secret it shares with that server; the
 * browser connects to the server with it. The format is a JWT (HS256): `sub` the user id, `ch` the
 * channels, `iat`/`exp` in seconds, `jti` a random id. The server verifies it without any lookup
 * and takes each `jti` once (a replayed token is refused while it is still valid).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";
import { HeraldError } from "../../../protocol/errors.js";
import { assertChannelName } from "../../../protocol/names.js";
import type { RequestContext } from "../request-context.js";
import type { TokenPrincipal } from "./tokens.js";

/** What a connection token says. */
export interface ConnectionTokenClaims {
  /** The user id. */
  userId: string;
  /**
   * Private channels the user may follow besides public ones and their own `user-{userId}`
   * (`private-*`, `presence-*`, …). Default: none.
   */
  channels?: readonly string[];
}

/** Options of {@link signConnectionToken}. */
export interface SignOptions {
  /** Lifetime in seconds (default 60: long enough to connect, short enough not to matter if leaked). */
  ttlSeconds?: number;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
}

/** Shortest secret accepted, in characters. */
export const MIN_SECRET_LENGTH = 32;
/** Longest token looked at; anything longer is refused before any parsing or hashing. */
const MAX_LENGTH = 4096;
/** Most channels one token may name. */
const MAX_CHANNELS = 32;

const HEADER = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));

function base64url(text: string | Buffer): string {
  return Buffer.from(text).toString("base64url");
}

function assertSecret(secret: string): void {
  if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH) {
    throw new RangeError(`the connection token secret must be at least ${MIN_SECRET_LENGTH} characters`);
  }
}

function signature(secret: string, signed: string): Buffer {
  return createHmac("sha256", secret).update(signed).digest();
}

/**
 * Signs a connection token for `claims.userId` (server side only: the secret never reaches a
 * browser).
 *
 * @example
 * ```ts
 * // app/api/serve-token/route.ts: the browser asks its app for a token to connect to herald serve
 * export async function POST() {
 *   const userId = await currentUserId();
 *   if (!userId) return Response.json({ token: null });
 *   return Response.json({ token: signConnectionToken({ userId, channels: ["presence-lobby"] }, process.env.HERALD_TOKEN_SECRET!) });
 * }
 * ```
 */
export function signConnectionToken(claims: ConnectionTokenClaims, secret: string, options: SignOptions = {}): string {
  assertSecret(secret);
  if (typeof claims.userId !== "string" || claims.userId.length === 0 || claims.userId.length > 256) {
    throw new HeraldError("invalid_request", "userId must be a string of 1-256 characters");
  }
  const channels = [...(claims.channels ?? [])];
  if (channels.length > MAX_CHANNELS) throw new HeraldError("too_many_channels", `at most ${MAX_CHANNELS} channels`);
  for (const channel of channels) assertChannelName(channel);
  const iat = Math.floor((options.now ?? Date.now)() / 1000);
  const payload = {
    sub: claims.userId,
    ch: channels,
    iat,
    exp: iat + (options.ttlSeconds ?? 60),
    jti: randomBytes(12).toString("base64url"),
  };
  const signed = `${HEADER}.${base64url(JSON.stringify(payload))}`;
  return `${signed}.${signature(secret, signed).toString("base64url")}`;
}

interface Payload {
  sub: string;
  ch: string[];
  exp: number;
  jti: string;
}

/** Verifies a token's signature and lifetime; returns its claims. Throws the token error codes (401). */
export function verifyConnectionToken(token: string, secret: string, nowMs: number): Payload {
  if (token.length > MAX_LENGTH) throw new HeraldError("token_malformed", "token is malformed");
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== HEADER) throw new HeraldError("token_malformed", "token is malformed");
  const given = Buffer.from(parts[2]!, "base64url");
  const expected = signature(secret, `${parts[0]}.${parts[1]}`);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new HeraldError("token_invalid", "token is not valid");
  }
  let payload: Payload;
  try {
    payload = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as Payload;
  } catch {
    throw new HeraldError("token_malformed", "token is malformed");
  }
  const ok =
    typeof payload?.sub === "string" &&
    Array.isArray(payload.ch) &&
    payload.ch.every((c) => typeof c === "string") &&
    typeof payload.exp === "number" &&
    typeof payload.jti === "string";
  if (!ok) throw new HeraldError("token_malformed", "token is malformed");
  if (payload.exp * 1000 <= nowMs) throw new HeraldError("token_expired", "token has expired");
  return payload;
}

/** Options of {@link connectionTokenAuthenticator}. */
export interface ConnectionTokenAuthenticatorOptions {
  /** Let requests without a token in as anonymous (public channels only). Default true. */
  allowAnonymous?: boolean;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
}

/** The principal of a connection token: its user and the channels it names (their own `user-` channel added). */
export type ConnectionTokenPrincipal = TokenPrincipal;

/**
 * An `authenticate` callback for `createHerald` that accepts connection tokens signed with
 * `secret` ({@link signConnectionToken}), each once: the principal's `tokenChannels` are the
 * token's channels and the user's own `user-{id}`. Pair it with {@link connectionTokenAuthorize}.
 */
export function connectionTokenAuthenticator(
  secret: string,
  options: ConnectionTokenAuthenticatorOptions = {},
): (request: RequestContext) => TokenPrincipal | null {
  assertSecret(secret);
  const now = options.now ?? Date.now;
  /** Token ids taken, with when they expire (forgotten after: an expired token is refused anyway). */
  const used = new Map<string, number>();
  let sweptAt = 0;
  return (request) => {
    if (request.token === null) {
      if (options.allowAnonymous ?? true) return null;
      throw new HeraldError("token_missing", "a token is required");
    }
    const at = now();
    const payload = verifyConnectionToken(request.token, secret, at);
    if (at - sweptAt > 10_000) {
      sweptAt = at;
      for (const [id, exp] of used) if (exp * 1000 <= at) used.delete(id);
    }
    if (used.has(payload.jti)) throw new HeraldError("token_used", "token was already used");
    used.set(payload.jti, payload.exp);
    return { userId: payload.sub, tokenChannels: [...payload.ch, `user-${payload.sub}`] };
  };
}

/**
 * The channel rule that goes with connection tokens: public channels for anyone; `private-*`,
 * `presence-*`, `user-*` and `task-*` only when the principal's token names them (its own
 * `user-{id}` always).
 */
export function connectionTokenAuthorize(principal: TokenPrincipal | null, channel: string): boolean {
  if (!/^(private-|presence-|user-|task-)/.test(channel)) return true;
  return principal?.tokenChannels?.includes(channel) ?? false;
}
