/** Short-lived, single-use subscription tokens: `createTokens`. */
import { Buffer } from "node:buffer";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { HeraldError } from "../../../protocol/errors.js";
import { assertChannelName } from "../../../protocol/names.js";
import type { Principal } from "../../core/subscriber.js";
import { MemoryTokenStore, type TokenStore } from "./store.js";

/** Options for {@link createTokens}. */
export interface TokensOptions {
  /** Where tokens are kept. Default: a new {@link MemoryTokenStore} on the same clock. */
  store?: TokenStore;
  /** How long a token is accepted after it is issued (default 60,000 ms). */
  ttlMs?: number;
  /**
   * Most channels one token may be bound to (default 32, the stream's `maxChannelsPerConnection`:
   * a token for more could never open a stream). More is refused with 400 `too_many_channels`
   * before anything is stored.
   */
  maxChannels?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

/** Options for {@link Tokens.issue}. */
export interface IssueOptions {
  /** Bind the token to these channels: a subscription asking for any other is `forbidden`. */
  channels?: readonly string[];
  /** Lifetime of this token, overriding the default. */
  ttlMs?: number;
}

/** What {@link Tokens.verify} checks the token against. */
export interface VerifyOptions {
  /** Channels the request asks for. */
  channels: readonly string[];
}

/** The principal a verified token yields. */
export interface TokenPrincipal extends Principal {
  /** Channels the token was bound to, or null. */
  readonly tokenChannels: readonly string[] | null;
}

/** Issues and verifies subscription tokens. */
export interface Tokens {
  /**
   * Issues a token for `userId`: `<id>.<secret>`, URL-safe. Give it to the browser (from a Server
   * Action or a route) to put in the SSE URL as `?token=`. It works once, within its lifetime.
   */
  issue(userId: string, options?: IssueOptions): Promise<string>;
  /**
   * Checks and consumes `token`. Resolves to the principal; rejects with `HeraldError`:
   * `token_missing`, `token_malformed`, `token_invalid` (unknown id or wrong secret), `token_used`
   * (a replay), `token_expired` (all 401), or `forbidden` (403) when the token is bound to channels
   * and `channels` asks for others. A wrong secret for a known id burns the token (fail closed).
   */
  verify(token: string | null | undefined, options: VerifyOptions): Promise<TokenPrincipal>;
  /** Stops the default store's sweep timer (a store you passed in is yours to close). */
  close?(): void;
}

/** Bytes of randomness in a token's id and secret. */
const ID_BYTES = 16;
const SECRET_BYTES = 32;
/** Longest string `verify` looks at; anything longer is rejected before any parsing or hashing. */
export const MAX_TOKEN_LENGTH = 128;
const TOKEN = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
/** Default most channels per token: the stream's default `maxChannelsPerConnection`. */
export const DEFAULT_MAX_TOKEN_CHANNELS = 32;
/** Longest user id accepted by `issue`. */
const MAX_USER_ID_LENGTH = 256;
/**
 * How long after expiry a token's record and tombstone are kept, so a late attempt is told
 * `token_expired` or `token_used` rather than `token_invalid`.
 */
const GRACE_MS = 5 * 60_000;

function hashSecret(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

/**
 * Creates a token issuer/verifier. Tokens are never logged; only a SHA-256 of the secret part is
 * stored, and it is compared in constant time.
 *
 * @example
 * ```ts
 * export const tokens = createTokens();
 * export const herald = createHerald({
 *   authenticate: tokenAuthenticator(tokens),
 *   authorize: defaultAuthorize({ tasks }),
 * });
 * ```
 */
export function createTokens(options: TokensOptions = {}): Tokens {
  const now = options.now ?? Date.now;
  const ownStore = options.store ? null : new MemoryTokenStore({ now });
  const store: TokenStore = options.store ?? ownStore!;
  const defaultTtl = options.ttlMs ?? 60_000;
  assertTtl(defaultTtl);
  const maxChannels = options.maxChannels ?? DEFAULT_MAX_TOKEN_CHANNELS;

  return {
    close() {
      ownStore?.close();
    },

    async issue(userId, issueOptions = {}) {
      if (typeof userId !== "string" || userId.length === 0 || userId.length > MAX_USER_ID_LENGTH) {
        throw new HeraldError("invalid_request", `userId must be a string of 1-${MAX_USER_ID_LENGTH} characters`);
      }
      const ttlMs = issueOptions.ttlMs ?? defaultTtl;
      assertTtl(ttlMs);
      let channels: string[] | null = null;
      if (issueOptions.channels !== undefined) {
        if (!Array.isArray(issueOptions.channels))
          throw new HeraldError("invalid_request", "channels must be an array");
        if (issueOptions.channels.length > maxChannels) {
          throw new HeraldError("too_many_channels", `at most ${maxChannels} channels per token`, {
            details: { limit: maxChannels },
          });
        }
        channels = [];
        for (const channel of issueOptions.channels) {
          assertChannelName(channel);
          if (!channels.includes(channel)) channels.push(channel);
        }
      }
      const id = randomBytes(ID_BYTES).toString("base64url");
      const secret = randomBytes(SECRET_BYTES).toString("base64url");
      const secretHash = hashSecret(secret).toString("base64url");
      await store.put(id, { userId, channels, secretHash, expiresAt: now() + ttlMs }, ttlMs + GRACE_MS);
      return `${id}.${secret}`;
    },

    async verify(token, verifyOptions) {
      if (token === null || token === undefined || token === "") {
        throw new HeraldError("token_missing", "a token is required");
      }
      if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) {
        throw new HeraldError("token_malformed", "token is malformed");
      }
      const match = TOKEN.exec(token);
      if (!match) throw new HeraldError("token_malformed", "token is malformed");
      const id = match[1]!;
      const secret = match[2]!;
      const record = await store.take(id);
      if (!record) {
        if (await store.wasUsed(id)) throw new HeraldError("token_used", "token was already used");
        throw new HeraldError("token_invalid", "token is not valid");
      }
      const current = now();
      await store.markUsed(id, Math.max(0, record.expiresAt - current) + GRACE_MS);
      const expected = Buffer.from(record.secretHash, "base64url");
      const actual = hashSecret(secret);
      if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
        throw new HeraldError("token_invalid", "token is not valid");
      }
      if (record.expiresAt <= current) throw new HeraldError("token_expired", "token has expired");
      if (record.channels !== null) {
        for (const channel of verifyOptions.channels) {
          if (!record.channels.includes(channel)) {
            throw new HeraldError("forbidden", `token does not allow channel "${channel}"`, { details: { channel } });
          }
        }
      }
      return { userId: record.userId, tokenChannels: record.channels };
    },
  };
}

function assertTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError("ttlMs must be a positive number");
}
