/**
 * Finding the client's address, the one way both transports use: the socket's peer address unless
 * the app says a proxy it trusts stands in front (`trustProxy`), in which case `X-Forwarded-For` is
 * read, but only as far as the trusted proxies wrote it. A client can put anything in that header;
 * each proxy appends the address it saw, so the entry written by the outermost trusted proxy is the
 * right one: the `trustProxy`-th from the right.
 */

/**
 * Which proxies to believe about the client's address:
 * - `false` (default): none. The Node path uses the socket's peer address; the Fetch path (no
 *   socket) has no address unless `clientIp` gives one. `X-Forwarded-*` headers are ignored.
 * - a number `n >= 1`: `n` proxies you run stand in front of Herald, each appending the address it
 *   saw to `X-Forwarded-For`; the client is the `n`-th entry from the right (the leftmost when there
 *   are fewer). Entries left of it are what the client claimed, and are ignored.
 * - `true`: every hop is trusted; the leftmost entry is used. Only when the proxy overwrites the
 *   header (never appends to a client-supplied one).
 */
export type TrustProxy = boolean | number;

/** Longest address accepted from a header (an IPv6 address with a zone fits). */
const MAX_ADDRESS_LENGTH = 64;
const ADDRESS = /^[0-9A-Za-z.:%_[\]-]+$/;

/** True when `trust` says a proxy stands in front (so `X-Forwarded-*` headers may be read). */
export function trustsProxy(trust: TrustProxy | undefined): boolean {
  return trust === true || (typeof trust === "number" && trust >= 1);
}

/**
 * The client's address: `socketAddress` (the peer of the TCP connection, undefined on the Fetch
 * path), corrected by `forwardedFor` (the `X-Forwarded-For` header) as far as `trust` allows.
 * Malformed or overlong header entries are never used as an address.
 */
export function clientAddress(
  trust: TrustProxy | undefined,
  socketAddress: string | undefined,
  forwardedFor: string | null | undefined,
): string | undefined {
  if (!trustsProxy(trust) || !forwardedFor) return socketAddress;
  const hops = forwardedFor.split(",").map((part) => part.trim());
  if (hops.length === 0) return socketAddress;
  const index = trust === true ? 0 : Math.max(0, hops.length - Math.floor(trust as number));
  const address = hops[index]!;
  if (address.length === 0 || address.length > MAX_ADDRESS_LENGTH || !ADDRESS.test(address)) return socketAddress;
  return address;
}

/**
 * The host a browser addressed: `X-Forwarded-Host` (its first entry) when a trusted proxy stands in
 * front, else `Host`. Used by the same-origin checks.
 */
export function requestHost(
  trust: TrustProxy | undefined,
  header: (name: string) => string | null,
  fallback: string,
): string {
  if (trustsProxy(trust)) {
    const forwarded = header("x-forwarded-host")?.split(",")[0]?.trim();
    if (forwarded) return forwarded;
  }
  return header("host") || fallback;
}
