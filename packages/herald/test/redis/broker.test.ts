import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { RedisBroker, type RedisBrokerOptions } from "../../src/brokers/redis.js";
import type { StoredEvent } from "../../src/brokers/types.js";
import { waitFor } from "../helpers.js";
import { startRedis, type TestRedis } from "./redis-server.js";
import { startTcpProxy } from "../faults/tcp-proxy.js";

let redis: TestRedis;
let prefixCount = 0;
const brokers: RedisBroker[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

/** A broker on the test Redis, with a prefix of its own per test (or the one given). */
function broker(options: RedisBrokerOptions = {}): RedisBroker {
  const b = new RedisBroker({ url: redis.url, prefix: `t${++prefixCount}`, ...options });
  brokers.push(b);
  return b;
}

describe("RedisBroker", () => {
  it("notices a message it never got (each carries its channel's previous seq) and fills it from the log, in order", async () => {
    const prefix = `t${++prefixCount}`;
    const a = broker({ prefix });
    const b = broker({ prefix });
    const got: number[] = [];
    const sub = b.subscribe("gap", (event) => got.push(event.seq));
    await sub.ready;
    const first = await a.publish("gap", "e", "1");
    await waitFor(() => got.length === 1, 2000, "the first event");
    // Behind the broker's back, B stops listening while one event goes out.
    const raw = (b as unknown as { sub: Redis }).sub;
    await raw.unsubscribe(`${prefix}:bus:gap`);
    const missed = await a.publish("gap", "e", "2");
    await a.publish("other", "e", "x");
    await raw.subscribe(`${prefix}:bus:gap`);
    const third = await a.publish("gap", "e", "3");
    await waitFor(() => got.length === 3, 3000, "the missed event and the next");
    expect(got).toEqual([first.seq, missed.seq, third.seq]);
    sub.unsubscribe();
  });

  it("assigns one broker-wide sequence and reads it back per channel", async () => {
    const b = broker();
    expect(await b.head()).toBe(0);
    const epoch = await b.epoch();
    expect(epoch).toMatch(/^[a-z0-9]{1,24}$/);
    const first = await b.publish("a", "e", '{"n":1}');
    const second = await b.publish("b", "e", '{"n":2}');
    const third = await b.publish("a", "f", '"x\\ny"');
    expect([first.seq, second.seq, third.seq]).toEqual([1, 2, 3]);
    expect(first.epoch).toBe(epoch);
    expect(await b.head()).toBe(3);
    const read = await b.read("a", 0, 10);
    expect(read.trimmed).toBe(false);
    expect(read.events.map((e) => [e.seq, e.event, e.json])).toEqual([
      [1, "e", '{"n":1}'],
      [3, "f", '"x\\ny"'],
    ]);
    expect(read.events[0]!.ts).toBe(first.ts);
    expect((await b.read("a", 1, 10)).events.map((e) => e.seq)).toEqual([3]);
    expect((await b.read("a", 0, 1)).events.map((e) => e.seq)).toEqual([1]);
  });

  it("snapshots several channels at once, in seq order", async () => {
    const b = broker();
    for (let i = 0; i < 6; i++) await b.publish(["a", "b", "c"][i % 3]!, "e", String(i));
    const snap = await b.snapshot(["a", "b", "missing"], 1, 100);
    expect(snap.head).toBe(6);
    expect(snap.epoch).toBe(await b.epoch());
    expect(snap.events.map((e) => [e.seq, e.channel])).toEqual([
      [2, "b"],
      [4, "a"],
      [5, "b"],
    ]);
    expect(snap.trimmed).toEqual([]);
    // A channel that hits the per-channel limit is reported, like MemoryBroker does.
    expect((await b.snapshot(["a"], 0, 1)).trimmed).toEqual(["a"]);
  });

  it("trims by count and reports cursors before the trimmed part", async () => {
    const b = broker({ maxEventsPerChannel: 3 });
    for (let i = 1; i <= 5; i++) await b.publish("a", "e", String(i));
    await b.publish("b", "e", "6");
    expect(await b.read("a", 0, 10)).toMatchObject({ trimmed: true });
    expect((await b.read("a", 0, 10)).events.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect((await b.read("a", 1, 10)).trimmed).toBe(true);
    expect((await b.read("a", 2, 10)).trimmed).toBe(false);
    expect((await b.snapshot(["a", "b"], 0, 10)).trimmed).toEqual(["a"]);
  });

  it("trims by age, on publish and on read", async () => {
    const b = broker({ maxAgeMs: 150 });
    await b.publish("a", "e", "1");
    await b.publish("a", "e", "2");
    await new Promise((r) => setTimeout(r, 250));
    expect(await b.read("a", 0, 10)).toEqual({ events: [], trimmed: true });
    await b.publish("a", "e", "3");
    expect(await b.read("a", 2, 10)).toMatchObject({ trimmed: false, events: [{ seq: 3 }] });
  });

  it("reports a gap for a channel whose stream expired (idle channel)", async () => {
    const prefix = `t${++prefixCount}`;
    const b = broker({ prefix });
    await b.publish("a", "e", "1");
    await b.publish("a", "e", "2");
    const admin = new Redis(redis.url);
    expect(await admin.pttl(`{${prefix}}:log:a`)).toBeGreaterThan(5 * 60_000);
    await admin.del(`{${prefix}}:log:a`); // what the expiry does to an idle channel
    await admin.quit();
    expect(await b.read("a", 1, 10)).toEqual({ events: [], trimmed: true });
    expect((await b.read("a", 2, 10)).trimmed).toBe(false);
    // Publishing again recreates the stream; the lost part stays reported.
    await b.publish("a", "e", "3");
    expect(await b.read("a", 1, 10)).toMatchObject({ trimmed: true, events: [{ seq: 3 }] });
    expect(await b.read("a", 2, 10)).toMatchObject({ trimmed: false, events: [{ seq: 3 }] });
  });

  it("fans out across broker instances, in order, and stops after unsubscribe", async () => {
    const prefix = `t${++prefixCount}`;
    const a = broker({ prefix });
    const b = broker({ prefix });
    const got: StoredEvent[] = [];
    const sub = a.subscribe("room", (event, epoch) => {
      expect(epoch).toMatch(/^[a-z0-9]+$/);
      got.push(event);
    });
    await sub.ready;
    for (let i = 0; i < 50; i++) await b.publish(i % 2 ? "room" : "other", "e", JSON.stringify({ i }));
    await waitFor(() => got.length === 25, 5000, "25 events");
    expect(got.map((e) => JSON.parse(e.json).i)).toEqual(Array.from({ length: 25 }, (_, k) => 2 * k + 1));
    expect(got.every((e) => e.channel === "room" && e.event === "e")).toBe(true);
    sub.unsubscribe();
    await b.publish("room", "e", "{}");
    await new Promise((r) => setTimeout(r, 100));
    expect(got.length).toBe(25);
  });

  it("isolates prefixes", async () => {
    const a = broker();
    const b = broker();
    await a.publish("x", "e", "1");
    expect(await b.head()).toBe(0);
    expect((await b.read("x", 0, 10)).events).toEqual([]);
  });

  it("starts a new epoch when Redis loses its data, and keeps listeners working", async () => {
    const prefix = `t${++prefixCount}`;
    const a = broker({ prefix });
    const b = broker({ prefix });
    const got: [number, string][] = [];
    await a.subscribe("room", (event, epoch) => got.push([event.seq, epoch])).ready;
    const before = await b.publish("room", "e", "1");
    await waitFor(() => got.length === 1, 5000, "first event");
    const admin = new Redis(redis.url);
    await admin.flushall();
    await admin.quit();
    const after = await b.publish("room", "e", "2");
    expect(after.epoch).not.toBe(before.epoch);
    expect(after.seq).toBe(1);
    await waitFor(() => got.length === 2, 5000, "event of the new epoch");
    expect(got[1]).toEqual([1, after.epoch]);
    expect(await a.epoch()).toBe(after.epoch);
  });

  it("catches up on what was published while its pub/sub connection was down, across channels in seq order", async () => {
    const prefix = `t${++prefixCount}`;
    const a = broker({ prefix });
    const b = broker({ prefix });
    // One listener on three channels sees one sequence, as a subscriber of several channels does.
    const got: number[] = [];
    const channels = ["room", "lobby", "hall"];
    await Promise.all(channels.map((c) => a.subscribe(c, (event) => got.push(event.seq)).ready));
    await b.publish("room", "e", "1");
    await waitFor(() => got.length === 1, 5000, "first event");
    const admin = new Redis(redis.url);
    await admin.client("KILL", "TYPE", "pubsub"); // drops A's subscriber connection
    await admin.quit();
    for (let i = 0; i < 30; i++) await b.publish(channels[i % 3]!, "e", String(i)); // published while A is away
    await waitFor(() => got.length >= 31, 10_000, "the missed events");
    for (let i = 0; i < 6; i++) await b.publish(channels[i % 3]!, "e", String(i)); // and live again
    await waitFor(() => got.length >= 37, 10_000, "live events");
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual(Array.from({ length: 37 }, (_, k) => k + 1));
  });

  it("delivers live events to subscriptions made while its connections open, with no error", async () => {
    const prefix = `t${++prefixCount}`;
    const errors: Error[] = [];
    const b = broker({ prefix });
    await b.head();
    // Subscribing at once, as a burst of requests at startup does, behind a link that makes the
    // handshake slow: ioredis writes SUBSCRIBE during the handshake. (The ready check's INFO after
    // it on the same connection used to fail, and the subscriptions were lost.)
    const slow = await startTcpProxy(redis.port, { holdFirstMs: 300 });
    const a = broker({ prefix, url: `redis://127.0.0.1:${slow.port}`, onError: (e) => errors.push(e) });
    await new Promise((r) => setTimeout(r, 100)); // connected, still waiting for the handshake's replies
    const got: number[] = [];
    const subs = ["a", "b", "c"].map((c) => a.subscribe(c, (event) => got.push(event.seq)));
    await Promise.all(subs.map((s) => s.ready));
    for (let i = 0; i < 9; i++) await b.publish("abc"[i % 3]!, "e", String(i));
    await waitFor(() => got.length >= 9, 10_000, "live events");
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(errors).toEqual([]);
    await a.close();
    await slow.close();
  });
});
