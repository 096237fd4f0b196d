/**
 * Every error code Herald can raise. Codes are stable API: apps switch on them, clients see them in
 * JSON error bodies (`{ error: { code, message } }`) and in `herald:error` SSE events.
 */
export type HeraldErrorCode =
  | "invalid_channel"
  | "invalid_event"
  | "invalid_id"
  | "invalid_data"
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
  | "slow_consumer"
  | "server_closing"
  | "broker_unavailable"
  | "epoch_changed"
  | "task_not_found"
  | "task_finished"
  | "too_many_tasks"
  | "internal";

/** HTTP status that goes with each code when the error reaches a client over HTTP. */
export const STATUS_BY_CODE: Record<HeraldErrorCode, number> = {
  invalid_channel: 400,
  invalid_event: 400,
  invalid_id: 400,
  invalid_data: 400,
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
  slow_consumer: 503,
  server_closing: 503,
  broker_unavailable: 503,
  epoch_changed: 503,
  task_not_found: 404,
  task_finished: 409,
  too_many_tasks: 429,
  internal: 500,
};

/** The one error class Herald throws. `code` is machine-readable; `message` is for humans. */
export class HeraldError extends Error {
  override readonly name = "HeraldError";
  /** HTTP status to use when this error is sent to a client. */
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
    this.status = options.status ?? STATUS_BY_CODE[code];
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
