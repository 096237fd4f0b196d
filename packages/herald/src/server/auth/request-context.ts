/** What app callbacks (authentication, authorization) see of an incoming subscription request. */

export interface RequestContext {
  /** The full request URL. */
  readonly url: URL;
  /** Reads a request header (case-insensitive), or null. */
  header(name: string): string | null;
  /** The client's address, when the transport knows it. */
  readonly ip: string | undefined;
  /** Channels requested (validated). */
  readonly channels: readonly string[];
  /** The `token` query parameter, if any. */
  readonly token: string | null;
}
