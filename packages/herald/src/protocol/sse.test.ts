import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { encodeComment, encodeRetry, encodeSse } from "./sse.js";
import { HeraldError } from "./errors.js";

/** Decodes a stream with eventsource-parser (the oracle), feeding it in the given chunk sizes. */
function decode(text: string, chunk = text.length || 1): { events: EventSourceMessage[]; retries: number[] } {
  const events: EventSourceMessage[] = [];
  const retries: number[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e), onRetry: (r) => retries.push(r) });
  for (let i = 0; i < text.length; i += chunk) parser.feed(text.slice(i, i + chunk));
  return { events, retries };
}

const nasty = fc.oneof(
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.constantFrom("\r", "\n", "\r\n", "\0", "\u2028", "\u2029", "\uFEFF", ":", " ", "data: x", "\n\n", "id: 1"),
  fc.string({ unit: "grapheme", maxLength: 30 }),
);
const piece = fc.array(nasty, { maxLength: 8 }).map((parts) => parts.join(""));

describe("encodeSse against eventsource-parser", () => {
  it("decodes every accepted message identically and rejects every unsafe one (fuzz)", () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(
        fc.option(piece),
        fc.option(piece),
        piece,
        fc.integer({ min: 1, max: 7 }),
        (event, id, data, chunk) => {
          const message = { event: event ?? undefined, id: id ?? undefined, data };
          const unsafe = [event, id].some((v) => v !== null && /[\r\n\0]/.test(v)) || event === "";
          let encoded: string;
          try {
            encoded = encodeSse(message);
          } catch (error) {
            expect(unsafe).toBe(true);
            expect(error).toBeInstanceOf(HeraldError);
            rejected++;
            return;
          }
          expect(unsafe).toBe(false);
          accepted++;
          const { events } = decode(encoded, chunk);
          expect(events).toHaveLength(1);
          const [decoded] = events;
          // The spec joins data lines with LF: CR and CRLF in data come back as LF.
          expect(decoded!.data).toBe(data.replace(/\r\n|\r/g, "\n"));
          expect(decoded!.event).toBe(event ?? undefined);
          expect(decoded!.id).toBe(id ?? undefined);
        },
      ),
      { numRuns: 20_000 },
    );
    expect(accepted).toBeGreaterThan(1000);
    expect(rejected).toBeGreaterThan(1000);
  });

  it("keeps long multi-line unicode data intact across arbitrary chunk splits", () => {
    const data = "😀 line\r\n".repeat(5000) + "end\u2028tail";
    const { events } = decode(encodeSse({ event: "big", id: "e1-9", data }), 997);
    expect(events[0]!.data).toBe(data.replace(/\r\n|\r/g, "\n"));
  });

  it("cannot be used to inject a second event through data", () => {
    const { events } = decode(encodeSse({ data: "a\r\ndata: b\revent: evil\n\nid: 666\n\n" }));
    expect(events).toHaveLength(1);
    expect(events[0]!.event).toBeUndefined();
    expect(events[0]!.id).toBeUndefined();
  });

  it("writes an integer retry the parser accepts and rejects non-integers", () => {
    expect(decode(encodeRetry(2500) + "\n").retries).toEqual([2500]);
    for (const bad of [1.5, -1, Number.NaN, Infinity]) expect(() => encodeRetry(bad)).toThrow(HeraldError);
  });

  it("writes comments the parser ignores, and refuses multi-line comments", () => {
    expect(decode(encodeComment("ping") + encodeSse({ data: "x" })).events.map((e) => e.data)).toEqual(["x"]);
    expect(() => encodeComment("a\nb")).toThrow(HeraldError);
  });

  it("dispatches an event with empty data", () => {
    expect(decode(encodeSse({ event: "ping" })).events).toEqual([{ event: "ping", id: undefined, data: "" }]);
  });
});
