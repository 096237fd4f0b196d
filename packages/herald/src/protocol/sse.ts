/**
 * Server-Sent Events wire encoder (WHATWG HTML §9.2 "Server-sent events", event stream
 * interpretation). Pure functions, no I/O.
 */
import { HeraldError } from "./errors.js";

/** One SSE message. `data` is text; it may span lines (CR, LF or CRLF). */
export interface SseMessage {
  /** Event type; omitted means the browser dispatches a `message` event. */
  event?: string | undefined;
  /** Sets the stream's last event id (sent back by browsers as `Last-Event-ID`). */
  id?: string | undefined;
  /** Payload text. An empty or missing `data` is still written (`data:` line) so the event fires. */
  data?: string | undefined;
  /** Reconnection time in milliseconds (non-negative integer). */
  retry?: number | undefined;
}

// "If the field name is 'event'/'id': ... the line must not contain U+000D, U+000A" — the spec's
// line splitting makes CR or LF end the field; NUL in `id` makes the browser ignore it.
const FORBIDDEN_IN_FIELD = /[\r\n\0]/;
const LINE_BREAK = /\r\n|\r|\n/;

/** Throws `HeraldError` unless `value` can be written as a single-line SSE field. */
export function assertSseField(kind: "event" | "id", value: string): void {
  if (FORBIDDEN_IN_FIELD.test(value)) {
    throw new HeraldError(
      kind === "event" ? "invalid_event" : "invalid_id",
      `SSE ${kind} must not contain CR, LF or NUL`,
    );
  }
}

/**
 * Encodes one message as an SSE block ending in a blank line.
 * `data` is split on CRLF, CR and LF (spec: "lines are separated by a U+000D U+000A pair, a single
 * U+000A, or a single U+000D"), one `data:` line each; the client joins them with LF.
 */
export function encodeSse(message: SseMessage): string {
  let out = "";
  if (message.retry !== undefined) out += encodeRetry(message.retry);
  if (message.id !== undefined) {
    assertSseField("id", message.id);
    out += `id: ${message.id}\n`;
  }
  if (message.event !== undefined) {
    assertSseField("event", message.event);
    if (message.event === "") throw new HeraldError("invalid_event", "SSE event name must not be empty");
    out += `event: ${message.event}\n`;
  }
  const data = message.data ?? "";
  if (!LINE_BREAK.test(data)) {
    out += `data: ${data}\n`;
  } else {
    for (const line of data.split(LINE_BREAK)) out += `data: ${line}\n`;
  }
  return out + "\n";
}

/** `retry:` field; the spec accepts it only when it is all ASCII digits. */
export function encodeRetry(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new HeraldError("invalid_request", "retry must be a non-negative integer (milliseconds)");
  }
  return `retry: ${ms}\n`;
}

/** A comment line (ignored by clients); used for heartbeats and padding. */
export function encodeComment(text = ""): string {
  if (FORBIDDEN_IN_FIELD.test(text)) throw new HeraldError("invalid_request", "comment must be one line");
  return `:${text}\n\n`;
}
