/**
 * Every channel as a Durable Stream, read by the official client (`@durable-streams/client`) from a
 * real server (port 0): catch-up, long-poll and SSE live modes across a cut, offsets, ETag and 304,
 * 410 for an offset the log lost, the stream's channel rules, 405 for writes, CORS (preflight and
 * exposed headers) and an unused channel read as an empty stream.
 */
import { stream } from "@durable-streams/client";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryBroker } from "../../src/brokers/memory.js";
import { createHerald, type Herald, type HeraldOptions } from "../../src/server/index.js";
import { startRoutes, waitFor } from "../helpers.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function serve(options: HeraldOptions = {}): Promise<{ herald: Herald; base: string; cut(): void }> {
  const herald = createHerald({ limits: { connectPerIp: false }, ...options });
  const { base, close, cut } = await startRoutes(herald);
  cleanups.push(close);
  return { herald, base, cut };
}

type Envelope = { channel: string; event: string; data: { n: number }; id: string };

describe("a channel read as a Durable Stream", () => {
  it("catches up with the official client, resumes from its offset, and answers HEAD, ETag and 304", async () => {
    const { herald, base } = await serve();
    for (let n = 1; n <= 30; n++) await herald.publish("feed", "item", { n });
    await herald.publish("other", "item", { n: -1 });
    const url = `${base}/streams/feed`;

    const res = await stream<Envelope>({ url, live: false });
    const items = await res.json();
    expect(items.map((e) => e.data.n)).toEqual(range(1, 30));
    expect(items.every((e) => e.channel === "feed" && e.event === "item")).toBe(true);
    expect(res.upToDate).toBe(true);
    const offset = res.offset;

    await herald.publish("feed", "item", { n: 31 });
    const next = await stream<Envelope>({ url, offset, live: false });
    expect((await next.json()).map((e) => e.data.n)).toEqual([31]);
    // Offsets sort as positions do.
    expect(next.offset > offset).toBe(true);

    const head = await fetch(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("stream-next-offset")).toBe(next.offset);
    const first = await fetch(`${url}?offset=${encodeURIComponent(offset)}`);
    const etag = first.headers.get("etag")!;
    expect(await first.json()).toHaveLength(1);
    const again = await fetch(`${url}?offset=${encodeURIComponent(offset)}`, { headers: { "If-None-Match": etag } });
    expect(again.status).toBe(304);
    const now = await fetch(`${url}?offset=now`);
    expect([now.status, await now.text(), now.headers.get("stream-up-to-date")]).toEqual([200, "[]", "true"]);
  });

  /** Follows `live` from the start with the official client: what it has seen, and how many requests it made. */
  async function follow(url: string, live: "long-poll" | "sse"): Promise<{ seen: number[]; requests(): number }> {
    let requests = 0;
    const counting: typeof fetch = (...args) => {
      requests++;
      return fetch(...args);
    };
    const backoffOptions = { initialDelay: 20, maxDelay: 200, multiplier: 1.3 };
    const res = await stream<Envelope>({ url, live, fetch: counting, backoffOptions });
    const seen: number[] = [];
    const stop = res.subscribeJson((batch) => {
      for (const item of batch.items) seen.push(item.data.n);
    });
    cleanups.unshift(async () => stop());
    return { seen, requests: () => requests };
  }

  it("follows the channel live by long-poll across a network cut, every event once and in order", async () => {
    const { herald, base, cut } = await serve();
    for (let n = 1; n <= 10; n++) await herald.publish("live", "item", { n });
    const { seen } = await follow(`${base}/streams/live`, "long-poll");
    await waitFor(() => seen.length === 10, 10_000, "the catch-up");
    for (let n = 11; n <= 20; n++) await herald.publish("live", "item", { n });
    await waitFor(() => seen.length === 20, 10_000, "live events");
    cut(); // every connection dropped, the held long-poll included
    for (let n = 21; n <= 40; n++) await herald.publish("live", "item", { n });
    await waitFor(() => seen.length >= 40, 10_000, "the events after the cut");
    expect(seen).toEqual(range(1, 40));
  });

  it("follows the channel live by SSE across the server ending each response, every event once and in order", async () => {
    // rotateAfterMs ends every SSE response after 1.2 s (the client counts a response under 1 s as
    // broken and, after three, gives up): the client reads on from its offset.
    const { herald, base } = await serve({ rotateAfterMs: 1200 });
    for (let n = 1; n <= 10; n++) await herald.publish("live", "item", { n });
    const { seen, requests } = await follow(`${base}/streams/live`, "sse");
    await waitFor(() => seen.length === 10, 10_000, "the catch-up");
    // Publish until the client has made three more requests (three ends survived), then a few more.
    const before = requests();
    let published = 10;
    while (requests() < before + 3 || published < 30) {
      await herald.publish("live", "item", { n: ++published });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await waitFor(() => seen.length >= published, 10_000, "every event");
    expect(seen).toEqual(range(1, published));
  });

  it("answers 410 for an offset whose events retention removed or whose log is gone, and refuses writes", async () => {
    const { herald, base } = await serve({ broker: new MemoryBroker({ maxEventsPerChannel: 5 }) });
    await herald.publish("short", "item", { n: 1 });
    const early = await stream<Envelope>({ url: `${base}/streams/short`, live: false });
    await early.json();
    for (let n = 2; n <= 12; n++) await herald.publish("short", "item", { n });
    const gone = await fetch(`${base}/streams/short?offset=${encodeURIComponent(early.offset)}`);
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe("offset_gone");
    const otherLog = await fetch(`${base}/streams/short?offset=zz0_0000000000000001`);
    expect(otherLog.status).toBe(410);
    // -1 is the oldest event still retained.
    const kept = (await (await fetch(`${base}/streams/short?offset=-1`)).json()) as Envelope[];
    expect(kept.map((e) => e.data.n)).toEqual(range(8, 12));

    const bad = await fetch(`${base}/streams/short?offset=1;DROP`);
    expect(bad.status).toBe(400);
    for (const method of ["POST", "PUT", "DELETE"]) {
      const write = await fetch(`${base}/streams/short`, { method, body: method === "DELETE" ? null : "[]" });
      expect([method, write.status]).toEqual([method, 405]);
    }
  });

  it("answers a CORS preflight as the origin policy says, exposes the protocol's headers, and reads an unused channel as empty", async () => {
    const reader = "https://reader.example";
    const { herald, base } = await serve({ cors: { origins: [reader] } });
    await herald.publish("feed", "item", { n: 1 });
    const url = `${base}/streams/feed`;
    const ask = (origin: string) =>
      fetch(url, {
        method: "OPTIONS",
        headers: {
          Origin: origin,
          "Access-Control-Request-Method": "GET",
          "Access-Control-Request-Headers": "if-none-match",
        },
      });
    const preflight = await ask(reader);
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(reader);
    expect(preflight.headers.get("access-control-allow-methods")).toBe("GET, HEAD, OPTIONS");
    expect(preflight.headers.get("access-control-allow-headers")).toBe("Content-Type, If-None-Match");
    expect(preflight.headers.get("x-content-type-options")).toBe("nosniff");
    // Another origin is refused, as its reads would be.
    const refused = await ask("https://elsewhere.example");
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("origin_not_allowed");

    // The allowed origin's reads expose what the protocol's client needs; same-origin reads need nothing.
    const read = await fetch(`${url}?offset=-1`, { headers: { Origin: reader } });
    expect(read.status).toBe(200);
    expect(read.headers.get("access-control-allow-origin")).toBe(reader);
    expect(read.headers.get("access-control-expose-headers")).toBe(
      "Stream-Next-Offset, Stream-Up-To-Date, Stream-Cursor, ETag",
    );
    expect((await fetch(url)).headers.get("access-control-expose-headers")).toBeNull();

    // A channel nobody ever published to is an empty stream, not a 404: Herald's channels exist
    // implicitly, and a reader may come before the first event.
    const unused = await fetch(`${base}/streams/never-published?offset=-1`);
    expect([unused.status, await unused.text(), unused.headers.get("stream-up-to-date")]).toEqual([200, "[]", "true"]);

    // With writes on (authorizePublish), the preflight names them too.
    const writable = await serve({ cors: { origins: [reader] }, authorizePublish: () => true });
    const writes = await fetch(`${writable.base}/streams/feed`, { method: "OPTIONS", headers: { Origin: reader } });
    expect(writes.headers.get("access-control-allow-methods")).toBe("GET, HEAD, PUT, POST, OPTIONS");
  });

  it("keeps the stream's channel rules: another user's channel is 403", async () => {
    const { herald, base } = await serve({ getUserId: (request) => request.header("x-user") });
    await herald.publish("user-bob", "notification", { n: 1 });
    const token = async (user: string): Promise<string> => {
      const reply = await fetch(`${base}/token`, { method: "POST", headers: { "x-user": user } });
      return ((await reply.json()) as { token: string }).token;
    };
    const alice = await fetch(`${base}/streams/user-bob?token=${await token("alice")}`);
    expect(alice.status).toBe(403);
    expect(((await alice.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    const bob = await stream<Envelope>({
      url: `${base}/streams/user-bob`,
      params: { token: () => token("bob") },
      live: false,
    });
    expect((await bob.json()).map((e) => e.data)).toEqual([{ n: 1 }]);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
