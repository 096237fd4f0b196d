/** Plugging tokens into `createHerald({ authenticate })`. */
import type { RequestContext } from "../request-context.js";
import type { Principal } from "../../core/subscriber.js";
import type { Tokens } from "./tokens.js";

/** Options for {@link tokenAuthenticator}. */
export interface TokenAuthenticatorOptions {
  /** Let requests without a token in as anonymous (principal null) instead of `token_missing`. */
  allowAnonymous?: boolean;
}

/**
 * An `authenticate` callback for `createHerald` that verifies (and consumes) the `token` query
 * parameter against the requested channels. Rejections carry the token error codes (401) or
 * `forbidden` (403).
 */
export function tokenAuthenticator(
  tokens: Tokens,
  options: TokenAuthenticatorOptions = {},
): (request: RequestContext) => Promise<Principal | null> {
  return async (request) => {
    if (request.token === null && options.allowAnonymous) return null;
    return tokens.verify(request.token, { channels: request.channels });
  };
}
