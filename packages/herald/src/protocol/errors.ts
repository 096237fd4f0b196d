/**
 * Error codes the server raises. Codes are stable API: apps switch on them, clients see them in
 * JSON error bodies (`{ error: { code, message } }`) and in `herald:error` SSE events.
 */
export type ServerErrorCode =
  | "invalid_channel"
  | "invalid_event"
  | "invalid_id"
  | "invalid_data"
  | "invalid_event_data"
  | "payload_too_large"
  | "invalid_cursor"
  | "invalid_request"
  | "too_many_channels"
  | "unauthorized"
  | "token_missing"
  | "token_malformed"
  | "token_expired"
  | "token_used"
  | "token_invalid"
  | "forbidden"
  | "rate_limited"
  | "too_many_connections"
  | "origin_not_allowed"
  | "not_found"
  | "unknown_connection"
  | "connection_user_mismatch"
  | "method_not_allowed"
  | "offset_gone"
  | "conflict"
  | "slow_consumer"
  | "server_closing"
  | "broker_unavailable"
  | "epoch_changed"
  | "task_not_found"
  | "task_finished"
  | "too_many_tasks"
  | "internal";

/**
 * Error codes that arise in the browser, never sent by a server: a request that did not complete
 * (`network`), an answer that is not one of Herald's (`http_error`, with its `status`), a token
 * getter that threw or took too long, a connection that opened no stream in time, went silent, or
 * did not survive the machine's sleep, `maxAttempts` reached, an action before its data loaded.
 */
export type ClientErrorCode =
  | "network"
  | "http_error"
  | "token_fetch_failed"
  | "token_timeout"
  | "connect_timeout"
  | "stalled"
  | "wake"
  | "max_attempts"
  | "not_ready";

/** Every error code Herald uses, server and client: the one union apps switch on. */
export type HeraldErrorCode = ServerErrorCode | ClientErrorCode;

/** HTTP status that goes with each server code when the error reaches a client over HTTP. */
export const STATUS_BY_CODE: Record<ServerErrorCode, number> = {
  invalid_channel: 400,
  invalid_event: 400,
  invalid_id: 400,
  invalid_data: 400,
  invalid_event_data: 400,
  payload_too_large: 413,
  invalid_cursor: 400,
  invalid_request: 400,
  too_many_channels: 400,
  unauthorized: 401,
  token_missing: 401,
  token_malformed: 401,
  token_expired: 401,
  token_used: 401,
  token_invalid: 401,
  forbidden: 403,
  rate_limited: 429,
  too_many_connections: 429,
  origin_not_allowed: 403,
  not_found: 404,
  unknown_connection: 404,
  connection_user_mismatch: 403,
  method_not_allowed: 405,
  offset_gone: 410,
  conflict: 409,
  slow_consumer: 503,
  server_closing: 503,
  broker_unavailable: 503,
  epoch_changed: 503,
  task_not_found: 404,
  task_finished: 409,
  too_many_tasks: 429,
  internal: 500,
};

/**
 * The one error class Herald throws for what can go wrong at run time (bad input, refusals,
 * network failures). `code` is machine-readable; `message` is for humans. Programmer errors
 * (calling an API with arguments of the wrong type or out of range, using it outside its
 * lifetime) are `TypeError` and `RangeError`, as in the platform's own APIs.
 */
export class HeraldError extends Error {
  override readonly name = "HeraldError";
  /** HTTP status to use when this error is sent to a client (for client-side codes: what was received, or 0). */
  readonly status: number;
  /** Seconds a client should wait before retrying (sent as `Retry-After`), when it applies. */
  readonly retryAfter: number | undefined;
  /** Extra machine-readable detail (for example the channel that failed authorization). */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    readonly code: HeraldErrorCode,
    message: string,
    options: { cause?: unknown; retryAfter?: number; details?: Record<string, unknown>; status?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status ?? STATUS_BY_CODE[code as ServerErrorCode] ?? 0;
    this.retryAfter = options.retryAfter;
    this.details = options.details;
  }

  /** The JSON body sent to clients: `{ error: { code, message, ...details } }`. */
  toJSON(): { error: { code: HeraldErrorCode; message: string } & Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}

/** True when `value` is a HeraldError (works across module copies, unlike `instanceof`). */
export function isHeraldError(value: unknown): value is HeraldError {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { name?: unknown }).name === "HeraldError" &&
    typeof (value as { code?: unknown }).code === "string"
  );
}

/**
 * The error for an HTTP answer that is not a success: Herald's own `{ error: { code, message } }`
 * body becomes that code; anything else (an HTML page from a proxy, an unknown code) is `http_error`.
 */
export function errorFromReply(status: number, body: unknown, retryAfter?: number): HeraldError {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof error?.code === "string" && error.code in STATUS_BY_CODE ? (error.code as ServerErrorCode) : null;
  const message = typeof error?.message === "string" ? error.message : `request failed with status ${status}`;
  return new HeraldError(code ?? "http_error", message, { status, retryAfter });
}
