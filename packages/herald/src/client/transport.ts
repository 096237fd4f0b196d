/**
 * Which transport the next connection uses, in `transport: "auto"` mode: SSE first; long-polling
 * after `fallbackAfter` SSE attempts in a row failed in a way polling could fix ({@link failureCounts}),
 * or at once when one opened no stream within the open timeout (a proxy that buffers responses);
 * back to SSE when a probe, made while polling works, opens a stream. A server that is away
 * (refused connections, 5xx while it restarts or recompiles) moves nothing. Decisions only: the
 * client opens and closes connections.
 */

/** The transports the client speaks. */
export type TransportKind = "sse" | "poll";

/** Options of {@link TransportChooser}. */
export interface NegotiationOptions {
  /** SSE attempts in a row that must fail to open before falling back (default 3). */
  fallbackAfter?: number;
  /** While polling, try SSE again after this long (default 60,000 ms; doubles after each failed probe, up to 15 min). */
  probeAfterMs?: number;
}

/**
 * Whether a failed attempt tells the chooser something about the transport. A long-poll failure
 * always does (the network is down: start over on SSE). An SSE failure does only when a server
 * answered with what a proxy would break: a stream head, then nothing (`opened`), or a 200 that is
 * not a stream. No answer at all (connection refused) and HTTP errors (a 5xx while `next dev`
 * recompiles, a 404 during a deploy) say the server is away, which polling would not fix.
 */
export function failureCounts(kind: TransportKind, opened: boolean, status: number | undefined): boolean {
  return kind === "poll" || opened || status === 200;
}

/** See the module comment. */
export class TransportChooser {
  #failures = 0;
  #current: TransportKind;
  #probeDelay: number;

  readonly #options: NegotiationOptions;

  constructor(
    readonly mode: "sse" | "poll" | "auto",
    options: NegotiationOptions = {},
  ) {
    this.#options = options;
    this.#current = mode === "poll" ? "poll" : "sse";
    this.#probeDelay = options.probeAfterMs ?? 60_000;
  }

  /** The transport for the next connection. */
  get next(): TransportKind {
    return this.#current;
  }

  /** Whether probing (trying SSE while polling works) applies. */
  get probes(): boolean {
    return this.mode === "auto" && this.#current === "poll";
  }

  /** How long to poll before the next SSE probe. */
  get probeAfterMs(): number {
    return this.#probeDelay;
  }

  /** A connection on `kind` opened (reached `herald:connected`). */
  opened(kind: TransportKind): void {
    if (kind === "sse") {
      this.#failures = 0;
      this.#probeDelay = this.#options.probeAfterMs ?? 60_000;
    }
    this.#current = kind;
  }

  /** A connection on `kind` failed before it opened; `buffered` when it stayed silent past the open timeout. */
  failedToOpen(kind: TransportKind, buffered: boolean): void {
    if (this.mode !== "auto") return;
    if (kind === "poll") {
      // Polling fails too: the network is down, not the stream. Start over on SSE.
      this.#failures = 0;
      this.#current = "sse";
      return;
    }
    this.#failures++;
    if (buffered || this.#failures >= (this.#options.fallbackAfter ?? 3)) this.#current = "poll";
  }

  /** A probe (SSE while polling) failed: keep polling, probe again later. */
  probeFailed(): void {
    this.#probeDelay = Math.min(this.#probeDelay * 2, 15 * 60_000);
  }
}
