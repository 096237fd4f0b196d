/** Exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS Architecture Blog). */

/** Backoff settings. */
export interface BackoffOptions {
  /** First delay ceiling, in ms (default 1,000). The server's `retry:` replaces it when sent. */
  baseMs?: number;
  /** Largest delay, in ms (default 30,000). */
  capMs?: number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): a uniformly random value in
 * `[0, min(cap, base · 2^attempt)]`, so a crowd of clients spreads out instead of stampeding.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const base = options.baseMs ?? 1000;
  const cap = options.capMs ?? 30_000;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}
