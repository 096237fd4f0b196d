import { afterEach, describe, expect, it } from "vitest";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { EventSource } from "eventsource";
import { createHerald, MemoryBroker, type Herald } from "../src/server/index.js";
import { readUntil, startServer, waitFor, type TestServer } from "./helpers.js";

let herald: Herald;
let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  await herald?.close();
});

function parseAll(text: string): EventSourceMessage[] {
  const out: EventSourceMessage[] = [];
  createParser({ onEvent: (e) => out.push(e) }).feed(text);
  return out;
}

describe.each([
  ["node", false],
  ["fetch", true],
])("SSE handler (%s)", (_name, useFetch) => {
  it("sends SSE headers and the first bytes at once, then events for every channel of one connection", async () => {
    herald = createHerald();
    server = await startServer(herald, { fetch: useFetch });
    const res = await fetch(`${server.url}sse?channel=a&channel=b&channel=a`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("cache-control")).toBe("no-cache, no-transform");
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    const first = await readUntil(res.body!, (t) => t.includes("herald:connected"));
    expect(first.text.startsWith("retry: 1000\n")).toBe(true);
    const connected = parseAll(first.text).find((e) => e.event === "herald:connected")!;
    expect(JSON.parse(connected.data).channels).toEqual(["a", "b"]);
    const idA = await herald.publish("a", "one", { x: 1 });
    await herald.publish("c", "elsewhere", {});
    await herald.publish("b", "two", "line1\nline2");
    let text = "";
    const decoder = new TextDecoder();
    while (parseAll(text).length < 2) text += decoder.decode((await first.reader.read()).value);
    const events = parseAll(text).map((e) => ({ id: e.id, ...JSON.parse(e.data) }));
    expect(events.map((e) => [e.channel, e.event, e.data])).toEqual([
      ["a", "one", { x: 1 }],
      ["b", "two", "line1\nline2"],
    ]);
    expect(events[0].id).toBe(idA);
    await first.reader.cancel();
    await waitFor(() => herald.stats().subscribers === 0, 5000, "cleanup");
  });

  it.each([
    ["no channel", "", 400, "invalid_request"],
    ["bad channel", "channel=a%0Ab", 400, "invalid_channel"],
    ["bad cursor", "channel=a&lastEventId=zz%0D%0Aevent:x", 400, "invalid_cursor"],
    ["too many channels", Array.from({ length: 40 }, (_, i) => `channel=c${i}`).join("&"), 400, "too_many_channels"],
  ])("rejects %s with a JSON error", async (_case, query, status, code) => {
    herald = createHerald();
    server = await startServer(herald, { fetch: useFetch });
    const res = await fetch(`${server.url}sse?${query}`);
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect((await res.json()).error.code).toBe(code);
    expect(herald.stats().subscribers).toBe(0);
  });

  it("rejects a malformed Last-Event-ID header and resumes from a valid one", async () => {
    herald = createHerald();
    server = await startServer(herald, { fetch: useFetch });
    const bad = await fetch(`${server.url}?channel=a`, { headers: { "Last-Event-ID": "x".repeat(100) } });
    expect((await bad.json()).error.code).toBe("invalid_cursor");
    const first = await herald.publish("a", "e", 1);
    await herald.publish("a", "e", 2);
    const res = await fetch(`${server.url}?channel=a&lastEventId=ignored-0`, { headers: { "Last-Event-ID": first } });
    const { text, reader } = await readUntil(res.body!, (t) => t.includes("herald:connected"));
    await reader.cancel();
    expect(
      parseAll(text)
        .filter((e) => !e.event)
        .map((e) => JSON.parse(e.data).data),
    ).toEqual([2]);
  });

  it("is resumed by the eventsource package's own reconnect (Last-Event-ID header)", async () => {
    herald = createHerald({ retryMs: 20 });
    server = await startServer(herald, { fetch: useFetch });
    const es = new EventSource(`${server.url}?channel=feed`);
    const got: number[] = [];
    es.onmessage = (e) => got.push(JSON.parse(e.data).data);
    await waitFor(() => herald.stats().subscribers === 1);
    await herald.publish("feed", "n", 1);
    await waitFor(() => got.length === 1);
    server.cutAll();
    await herald.publish("feed", "n", 2);
    await herald.publish("feed", "n", 3);
    await waitFor(() => got.length === 3, 10_000, "replay after native reconnect");
    es.close();
    expect(got).toEqual([1, 2, 3]);
  });

  it("leaves no subscriber, channel or timer behind after clients disconnect", async () => {
    herald = createHerald();
    server = await startServer(herald, { fetch: useFetch });
    const sources = Array.from(
      { length: 20 },
      (_, i) => new EventSource(`${server!.url}?channel=c${i % 4}&channel=all`),
    );
    await waitFor(() => herald.stats().subscribers === 20);
    expect(herald.stats().timerActive).toBe(true);
    expect(herald.stats().channels).toBe(5);
    for (const es of sources.slice(0, 10)) es.close();
    server.cutAll();
    for (const es of sources.slice(10)) es.close();
    await waitFor(() => herald.stats().subscribers === 0, 5000, "subscribers to leave");
    expect(herald.stats()).toMatchObject({ subscribers: 0, channels: 0, timerActive: false });
    expect((herald.broker as MemoryBroker).channelCount).toBe(0);
  });
});

describe("Fetch handler cleanup", () => {
  it("runs once whether the request aborts, the stream is cancelled, or both", async () => {
    herald = createHerald();
    const controller = new AbortController();
    const res = await herald.handleRequest(new Request("http://x/?channel=a", { signal: controller.signal }));
    const { reader } = await readUntil(res.body!, (t) => t.includes("herald:connected"));
    expect(herald.stats().subscribers).toBe(1);
    controller.abort();
    expect(herald.stats().subscribers).toBe(0);
    await reader.cancel();
    expect(herald.stats()).toMatchObject({ subscribers: 0, channels: 0, timerActive: false });

    const res2 = await herald.handleRequest(new Request("http://x/?channel=a"));
    const second = await readUntil(res2.body!, (t) => t.includes("herald:connected"));
    await second.reader.cancel();
    expect(herald.stats()).toMatchObject({ subscribers: 0, channels: 0, timerActive: false });
  });
});

describe("publish validation", () => {
  it.each([
    ["bad channel", ["a b", "e", 1], "invalid_channel"],
    ["bad event", ["a", "e\nvil", 1], "invalid_event"],
    ["reserved event", ["a", "herald:connected", 1], "invalid_event"],
    ["undefined data", ["a", "e", undefined], "invalid_data"],
    ["BigInt", ["a", "e", 1n], "invalid_data"],
    ["too large", ["a", "e", "x".repeat(70_000)], "payload_too_large"],
    ["too large (multibyte)", ["a", "e", "é".repeat(40_000)], "payload_too_large"],
  ])("rejects %s", async (_name, args, code) => {
    herald = createHerald();
    const [channel, event, data] = args as [string, string, unknown];
    await expect(herald.publish(channel, event, data)).rejects.toMatchObject({ name: "HeraldError", code });
  });

  it("rejects cycles and keeps what was already published", async () => {
    herald = createHerald();
    await herald.publish("a", "ok", 1);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(herald.publish("a", "bad", cyclic)).rejects.toMatchObject({ code: "invalid_data" });
    const { events } = await herald.broker.read("a", 0, 10);
    expect(events.map((e) => e.event)).toEqual(["ok"]);
  });
});
