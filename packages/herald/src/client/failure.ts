/**
 * The failure taxonomy as one pure function: what the client does after a connection attempt or an
 * open connection failed. Only a refusal a retry cannot fix ends in `failed`: 401/403 on a fresh
 * token, a malformed request or refused channel set (400/414). A token that was stale when it
 * arrived (expired or already used) gets one more try with a fresh one. Everything else (network
 * errors, timeouts, 5xx, 429 with its `Retry-After`) is retried with backoff.
 */

/** What went wrong, as the source's `error` event tells it. */
export interface Failure {
  /** HTTP status of a refused request, when there was one. */
  status?: number;
  /** Herald's error code from the refusal's body. */
  errorCode?: string;
  /** `Retry-After`, in seconds. */
  retryAfter?: number;
  /** The connection had reached `herald:connected` before failing. */
  connected: boolean;
  /** A stale token was already retried once since the last deliberate reconnect. */
  staleTokenRetried: boolean;
}

/** What to do about a {@link Failure}. */
export type Decision =
  | { action: "fail"; reason: string; code: string }
  | {
      action: "retry";
      reason: string;
      /** The error code to report, when the failure was a refusal. */
      code: string | null;
      /** The server's floor for the next attempt, in ms (0: none). */
      retryAfterMs: number;
      /** This retry spends the one allowed for a stale token. */
      staleRetry: boolean;
    };

/** See the module comment. */
export function decide(failure: Failure): Decision {
  const { status, errorCode } = failure;
  const retryAfterMs = typeof failure.retryAfter === "number" && failure.retryAfter > 0 ? failure.retryAfter * 1000 : 0;
  const reason = failure.connected ? "error" : (errorCode ?? "connect_failed");
  if (typeof status !== "number") return { action: "retry", reason, code: null, retryAfterMs, staleRetry: false };
  const code = errorCode ?? (status === 401 ? "unauthorized" : status === 403 ? "forbidden" : "http_error");
  if (status === 401 || status === 403) {
    const stale = errorCode === "token_expired" || errorCode === "token_used";
    if (!stale || failure.staleTokenRetried) return { action: "fail", reason: code, code };
    return { action: "retry", reason, code, retryAfterMs, staleRetry: true };
  }
  if (status === 400 || status === 414) return { action: "fail", reason: code, code };
  return { action: "retry", reason, code, retryAfterMs, staleRetry: false };
}
