/**
 * One bus: `herald.publish` reaches pusher-js; HTTP API triggers and client events reach Herald's
 * SSE subscribers of the same channel; and the same across two Herald instances on one Redis.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisBroker } from "../../src/brokers/redis.js";
import { createHerald } from "../../src/server/index.js";
import { readUntil } from "../helpers.js";
import { startRedis, type TestRedis } from "../redis/redis-server.js";
import { closeAll, connected, next, open, startPusher, subscribed, type PusherFixture } from "./fixture.js";

afterEach(closeAll);

/** Opens Herald's SSE on `channel` and resolves once it is live; `read` waits for text. */
async function sse(f: PusherFixture, channel: string) {
  const controller = new AbortController();
  const res = await fetch(`${f.url}/sse?channel=${channel}`, { signal: controller.signal });
  const body = res.body!;
  let text = "";
  const first = await readUntil(body, (t) => t.includes("herald:connected"));
  text = first.text;
  const reader = first.reader;
  open.push({ close: async () => controller.abort() });
  const decoder = new TextDecoder();
  return {
    async read(until: (t: string) => boolean): Promise<string> {
      const end = Date.now() + 5000;
      while (!until(text)) {
        if (Date.now() > end) throw new Error(`timed out; got ${text}`);
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      return text;
    },
  };
}

/** The envelopes (`data:` lines of app events) in an SSE text. */
function envelopes(text: string): { channel: string; event: string; data: unknown; id: string }[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith('data: {"channel"'))
    .map((l) => JSON.parse(l.slice(6)));
}

describe("one bus in one process", () => {
  it("herald.publish reaches pusher-js; SDK triggers and client events reach SSE", async () => {
    const f = await startPusher();
    const client = f.client();
    await connected(client);
    const channel = await subscribed(client, "private-mixed");
    const stream = await sse(f, "private-mixed");

    const fromHerald = next(channel, "server");
    await f.herald.publish("private-mixed", "server", { from: "herald" });
    expect(await fromHerald).toEqual({ from: "herald" });

    await f.sdk.trigger("private-mixed", "sdk-json", { from: "sdk" });
    await f.sdk.trigger("private-mixed", "sdk-text", "not json");
    channel.trigger("client-note", { from: "pusher-js" });
    const text = await stream.read((t) => t.includes("client-note"));
    const got = envelopes(text).map((e) => [e.event, e.data]);
    expect(got).toEqual([
      ["server", { from: "herald" }],
      ["sdk-json", { from: "sdk" }],
      ["sdk-text", "not json"],
      ["client-note", { from: "pusher-js" }],
    ]);
    // The same ids on both transports.
    const ids = envelopes(text).map((e) => e.id);
    expect(new Set(ids).size).toBe(4);
  });
});

describe("one bus over Redis", () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it("two Herald instances: triggers, herald.publish, client events, SSE and cache cross processes", async () => {
    const make = () =>
      startPusher(
        {},
        {},
        createHerald({ broker: new RedisBroker({ url: redis.url, prefix: "pz" }), limits: { connectPerIp: false } }),
      );
    const a = await make();
    const b = await make();
    open.push({ close: () => a.herald.close() }, { close: () => b.herald.close() });
    const onA = a.client({ user_id: "ua" });
    const onB = b.client({ user_id: "ub" });
    await Promise.all([connected(onA), connected(onB)]);
    const [ca, cb] = await Promise.all([subscribed(onA, "private-x"), subscribed(onB, "private-x")]);
    const streamB = await sse(b, "private-x");

    const viaB = next(cb, "t");
    await a.sdk.trigger("private-x", "t", { n: 1 });
    expect(await viaB).toEqual({ n: 1 });

    const viaA = next(ca, "p");
    await b.herald.publish("private-x", "p", { n: 2 });
    expect(await viaA).toEqual({ n: 2 });

    const echo: unknown[] = [];
    ca.bind("client-c", (d: unknown) => echo.push(d));
    const clientEvent = next(cb, "client-c");
    ca.trigger("client-c", { n: 3 });
    expect(await clientEvent).toEqual({ n: 3 });

    const text = await streamB.read((t) => t.includes("client-c"));
    expect(envelopes(text).map((e) => [e.event, e.data])).toEqual([
      ["t", { n: 1 }],
      ["p", { n: 2 }],
      ["client-c", { n: 3 }],
    ]);
    expect(echo).toEqual([]);

    // A cache channel published on A, first subscribed on B: B reads the last event from the log.
    await a.sdk.trigger("cache-rate", "rate", { v: 1 });
    await a.sdk.trigger("cache-rate", "rate", { v: 2 });
    expect(await next(onB.subscribe("cache-rate"), "rate")).toEqual({ v: 2 });
  });
});
