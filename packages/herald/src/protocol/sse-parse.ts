/**
 * An incremental SSE parser (WHATWG HTML §9.2.6 "Interpreting an event stream"): feed it text
 * chunks split anywhere; it calls `onEvent` per dispatched event and `onRetry` per valid `retry:`.
 */

/** A dispatched event. */
export interface ParsedSseEvent {
  /** `event:` field, or "message". */
  type: string;
  data: string;
  /** The last event id after this event (spec: persists across events). */
  lastEventId: string;
}

/** Callbacks of {@link createSseParser}. */
export interface SseParserCallbacks {
  onEvent(event: ParsedSseEvent): void;
  onRetry?(ms: number): void;
}

/** Creates a parser; call `feed(chunk)` with decoded text, in order. */
export function createSseParser(callbacks: SseParserCallbacks): { feed(chunk: string): void } {
  let buffer = "";
  let data = "";
  let hasData = false;
  let type = "";
  let lastEventId = "";
  let first = true;
  let pendingCR = false;

  const line = (text: string): void => {
    if (text === "") {
      // Dispatch (spec step: empty data buffer → reset, no event).
      if (hasData) callbacks.onEvent({ type: type || "message", data, lastEventId });
      data = "";
      hasData = false;
      type = "";
      return;
    }
    if (text.charCodeAt(0) === 58 /* : */) return; // comment
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "data") {
      data = hasData ? `${data}\n${value}` : value;
      hasData = true;
    } else if (field === "event") {
      type = value;
    } else if (field === "id") {
      if (!value.includes("\0")) lastEventId = value;
    } else if (field === "retry") {
      if (/^[0-9]+$/.test(value)) callbacks.onRetry?.(Number(value));
    }
  };

  return {
    feed(chunk: string): void {
      if (first && chunk.length > 0) {
        first = false;
        if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
      }
      const text = buffer + chunk;
      buffer = "";
      let start = 0;
      if (pendingCR && text.charCodeAt(0) === 10) start = 1; // the LF of a CRLF split across chunks
      pendingCR = false;
      for (let i = start; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 13 || c === 10) {
          line(text.slice(start, i));
          if (c === 13) {
            if (i + 1 < text.length) {
              if (text.charCodeAt(i + 1) === 10) i++;
            } else {
              pendingCR = true;
            }
          }
          start = i + 1;
        }
      }
      buffer = text.slice(start);
    },
  };
}
