import { afterEach, describe, expect, it } from "vitest";
import net from "node:net";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { createHerald, type Herald } from "../../src/server/index.js";
import { readUntil, startServer, waitFor, type TestServer } from "../helpers.js";

let herald: Herald;
let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  await herald?.close();
});

const INJECTIONS = ["\r", "\n", "\r\n", "\0", "\u2028", "\u2029", "\r\nevent: evil\r\n\r\ndata: x", "\n\nid: 999\n\n"];

/** Opens a live subscription and returns a function that collects parsed events. */
async function subscribe(url: string) {
  const res = await fetch(url);
  const { reader, text } = await readUntil(res.body!, (t) => t.includes("herald:connected"));
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  parser.feed(text);
  const decoder = new TextDecoder();
  return {
    events,
    async until(n: number) {
      while (events.filter((e) => !e.event).length < n) parser.feed(decoder.decode((await reader.read()).value));
    },
    close: () => reader.cancel(),
  };
}

describe("injection at every entry point", () => {
  it("publish: CR, LF, NUL and line separators in event names and channels are rejected; nothing is lost", async () => {
    herald = createHerald();
    server = await startServer(herald);
    const sub = await subscribe(`${server.url}?channel=safe`);
    await herald.publish("safe", "before", 1);
    for (const bad of INJECTIONS) {
      await expect(herald.publish("safe", `ev${bad}`, 1)).rejects.toMatchObject({ code: "invalid_event" });
      await expect(herald.publish(`safe${bad}`, "ev", 1)).rejects.toMatchObject({ code: "invalid_channel" });
    }
    await herald.publish("safe", "after", 2);
    await sub.until(2);
    await sub.close();
    expect(sub.events.filter((e) => !e.event).map((e) => JSON.parse(e.data).event)).toEqual(["before", "after"]);
  });

  it("publish: hostile strings in data arrive intact as data and never become fields or events", async () => {
    herald = createHerald();
    server = await startServer(herald);
    const sub = await subscribe(`${server.url}?channel=safe`);
    for (const bad of INJECTIONS) await herald.publish("safe", "msg", { text: `a${bad}b`, [`k${bad}`]: bad });
    await sub.until(INJECTIONS.length);
    await sub.close();
    const got = sub.events.filter((e) => !e.event);
    expect(got).toHaveLength(INJECTIONS.length);
    expect(sub.events.some((e) => e.event === "evil" || e.id === "999")).toBe(false);
    got.forEach((e, i) =>
      expect(JSON.parse(e.data).data).toEqual({ text: `a${INJECTIONS[i]}b`, [`k${INJECTIONS[i]}`]: INJECTIONS[i] }),
    );
  });

  it.each([
    ["channel with CRLF", "channel=a%0D%0Aevent:%20evil", "invalid_channel"],
    ["channel with NUL", "channel=a%00", "invalid_channel"],
    ["channel with U+2028", "channel=a%E2%80%A8", "invalid_channel"],
    ["channel too long", `channel=${"a".repeat(200)}`, "invalid_channel"],
    ["cursor with CRLF", "channel=a&lastEventId=abc-1%0D%0Adata:%20x", "invalid_cursor"],
    ["cursor with NUL", "channel=a&lastEventId=abc-1%00", "invalid_cursor"],
    ["oversized cursor", `channel=a&lastEventId=${"a".repeat(1000)}-1`, "invalid_cursor"],
    ["cursor out of range", "channel=a&lastEventId=abc-99999999999999999999", "invalid_cursor"],
    ["negative cursor", "channel=a&lastEventId=abc--5", "invalid_cursor"],
    ["token with CRLF", "channel=a&token=abc%0D%0Ax", "token_malformed"],
    ["two tokens", "channel=a&token=a&token=b", "invalid_request"],
  ])("query: %s is rejected with a JSON 400/401 and a code", async (_name, query, code) => {
    const { secureHerald } = await import("./fixture.js");
    ({ herald } = secureHerald());
    server = await startServer(herald);
    const res = await fetch(`${server.url}?${query}`);
    expect([400, 401]).toContain(res.status);
    expect((await res.json()).error.code).toBe(code);
    expect(herald.stats().subscribers).toBe(0);
  });

  it("Last-Event-ID header: injected or malformed values are rejected (raw socket, bytes as sent)", async () => {
    herald = createHerald();
    server = await startServer(herald);
    const port = Number(new URL(server.url).port);
    for (const value of [
      "abc-1\x00",
      "abc-1 event: evil",
      "x".repeat(3000),
      "abc-1\u2028".replace("\u2028", "\xe2\x80\xa8"),
    ]) {
      const reply = await new Promise<string>((resolve) => {
        const socket = net.connect(port, "127.0.0.1", () => {
          socket.write(
            `GET /?channel=a HTTP/1.1\r\nHost: x\r\nLast-Event-ID: ${value}\r\nConnection: close\r\n\r\n`,
            "latin1",
          );
        });
        let out = "";
        socket.on("data", (d) => (out += d.toString("latin1")));
        socket.on("close", () => resolve(out));
        socket.on("error", () => resolve(out));
      });
      // Node itself refuses NUL in a header (400); Herald refuses every other malformed cursor.
      expect(reply).toMatch(/^HTTP\/1\.1 400/);
      if (!value.includes("\x00")) expect(reply).toContain('"code":"invalid_cursor"');
    }
    await waitFor(() => herald.stats().subscribers === 0);
  });

  it("rejects deeply nested and huge payloads with clear codes, keeping earlier events", async () => {
    herald = createHerald();
    await herald.publish("a", "ok", 1);
    let deep: unknown = 0;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    await expect(herald.publish("a", "deep", deep)).rejects.toMatchObject({ code: "invalid_data" });
    await expect(herald.publish("a", "huge", "x".repeat(10 * 1024 * 1024))).rejects.toMatchObject({
      code: "payload_too_large",
      status: 413,
    });
    expect((await herald.broker.read("a", 0, 10)).events.map((e) => e.event)).toEqual(["ok"]);
  });
});
