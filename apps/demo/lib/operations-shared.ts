/** The operations page's channel and sample shape, shared by the server sampler and the browser (no server code). */

/** The public channel of the operations page. */
export const OPERATIONS_CHANNEL = "operations";

/** The transports shown, in order. */
export const TRANSPORTS = ["sse", "poll", "websocket"] as const;
export type TransportName = (typeof TRANSPORTS)[number];

/** One second of the operations page. */
export interface OperationsSample {
  /** ms since the epoch. */
  t: number;
  /** Open connections per transport (held long-polls for poll). */
  connections: Record<TransportName, number>;
  /** Events written per transport in that second (one per event per connection). */
  deliveriesPerSecond: Record<TransportName, number>;
  /** Publishes accepted in that second (the page's own ticks and pings included). */
  publishesPerSecond: number;
  /** Slow consumers dropped since the server started, every transport. */
  drops: number;
  /** Gaps told to resuming clients since the server started. */
  gaps: number;
  /** Requests refused by a rate or connection limit since the server started. */
  rateLimited: number;
}
