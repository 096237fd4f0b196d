/** Single-use subscription tokens. */
export {
  createTokens,
  MAX_TOKEN_LENGTH,
  type Tokens,
  type TokensOptions,
  type IssueOptions,
  type VerifyOptions,
  type TokenPrincipal,
} from "./tokens.js";
export { MemoryTokenStore, type TokenStore, type TokenRecord, type MemoryTokenStoreOptions } from "./store.js";
export { tokenAuthenticator, type TokenAuthenticatorOptions } from "./authenticator.js";
export {
  signConnectionToken,
  verifyConnectionToken,
  connectionTokenAuthenticator,
  connectionTokenAuthorize,
  MIN_SECRET_LENGTH,
  type ConnectionTokenClaims,
  type SignOptions,
  type ConnectionTokenAuthenticatorOptions,
  type ConnectionTokenPrincipal,
} from "./connection-token.js";
