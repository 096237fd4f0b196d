/** Error and stream responses, shared by the Fetch and Node handlers. */
import { HeraldError, isHeraldError } from "../../protocol/errors.js";

/** Headers of every SSE response. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache, no-transform",
  Connection: "keep-alive",
  "X-Accel-Buffering": "no",
};

/** Normalises anything thrown into a `HeraldError` (unknown errors become `internal`, details hidden). */
export function toHeraldError(error: unknown): HeraldError {
  if (isHeraldError(error)) return error as HeraldError;
  return new HeraldError("internal", "internal error", { cause: error });
}

/** Status, headers and JSON body for an error. */
export function errorParts(
  error: unknown,
  extraHeaders: Record<string, string> = {},
): { status: number; headers: Record<string, string>; body: string } {
  const e = toHeraldError(error);
  const headers: Record<string, string> = {
    ...extraHeaders,
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "no-store",
  };
  if (e.retryAfter !== undefined) headers["Retry-After"] = String(Math.max(1, Math.ceil(e.retryAfter)));
  return { status: e.status, headers, body: JSON.stringify(e.toJSON()) };
}

/** A Fetch `Response` for an error: `{ error: { code, message } }` with the code's status. */
export function errorResponse(error: unknown, extraHeaders?: Record<string, string>): Response {
  const { status, headers, body } = errorParts(error, extraHeaders);
  return new Response(body, { status, headers });
}
