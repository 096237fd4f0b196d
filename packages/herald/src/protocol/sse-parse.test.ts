import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createParser } from "eventsource-parser";
import { createSseParser, type ParsedSseEvent } from "./sse-parse.js";

function ours(text: string, chunk: number) {
  const events: ParsedSseEvent[] = [];
  const retries: number[] = [];
  const p = createSseParser({ onEvent: (e) => events.push(e), onRetry: (r) => retries.push(r) });
  for (let i = 0; i < text.length; i += chunk) p.feed(text.slice(i, i + chunk));
  return { events: events.map((e) => ({ type: e.type, data: e.data })), retries };
}

function oracle(text: string) {
  const events: { type: string; data: string }[] = [];
  const retries: number[] = [];
  const p = createParser({
    onEvent: (e) => events.push({ type: e.event ?? "message", data: e.data }),
    onRetry: (r) => retries.push(r),
  });
  p.feed(text);
  return { events, retries };
}

describe("createSseParser against eventsource-parser", () => {
  it("agrees on random streams of fields, comments and line endings, split anywhere (fuzz)", () => {
    const line = fc.oneof(
      fc.constantFrom(
        "data",
        "data:",
        "data: x",
        "event: e",
        "id: 1",
        "retry: 100",
        "retry: x",
        ": c",
        "",
        "dat",
        "data:  two",
      ),
      fc.string({ maxLength: 12 }).map((s) => `data: ${s}`),
      fc.string({ unit: "grapheme", maxLength: 8 }).map((s) => `event:${s}`),
    );
    const eol = fc.constantFrom("\n", "\r", "\r\n");
    const stream = fc
      .array(fc.tuple(line, eol), { maxLength: 25 })
      .map((parts) => parts.map(([l, e]) => l + e).join("") + "\n\n"); // a complete stream
    fc.assert(
      fc.property(stream, fc.integer({ min: 1, max: 9 }), (text, chunk) => {
        const a = ours(text, chunk);
        const b = oracle(text);
        expect(a.events).toEqual(b.events);
        expect(a.retries).toEqual(b.retries);
      }),
      { numRuns: 5000 },
    );
  });

  it("keeps the last event id across events and ignores ids with NUL", () => {
    const events: ParsedSseEvent[] = [];
    const p = createSseParser({ onEvent: (e) => events.push(e) });
    p.feed("id: a-1\ndata: x\n\ndata: y\n\nid: b\0\ndata: z\n\n");
    expect(events.map((e) => e.lastEventId)).toEqual(["a-1", "a-1", "a-1"]);
  });
});
