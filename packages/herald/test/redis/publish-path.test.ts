/**
 * RedisBroker's publish path (issue 17): the age trim reads no entries while none can be too old,
 * the count cap is approximate on publish and exact on read, what retention removed is read from
 * the first retained entry's `prev` (precise per channel, also across interleaved channels), and
 * the publishes of one tick go in one script call, keep one sequence, and are delivered once and in
 * order.
 *
 * Its own redis-server: the tests read server-wide command counts (INFO commandstats).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { RedisBroker, type RedisBrokerOptions } from "../../src/brokers/redis.js";
import type { StoredEvent } from "../../src/brokers/types.js";
import { waitFor } from "../helpers.js";
import { startRedis, type TestRedis } from "./redis-server.js";

let redis: TestRedis;
let admin: Redis;
let prefixCount = 0;
const brokers: RedisBroker[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
afterAll(async () => {
  await admin?.quit();
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

function broker(options: RedisBrokerOptions = {}): RedisBroker {
  const b = new RedisBroker({ url: redis.url, prefix: `p${++prefixCount}`, ...options });
  brokers.push(b);
  return b;
}

/** Calls of `command` since the last RESETSTAT (every client of this server counts). */
async function calls(command: string): Promise<number> {
  const line = (await admin.info("commandstats")).split("\n").find((l) => l.startsWith(`cmdstat_${command}:`));
  return Number(line?.match(/calls=(\d+)/)?.[1] ?? 0);
}

describe("RedisBroker publish path", () => {
  it("reads no stream entries to publish into a full stream while none can be too old", async () => {
    const b = broker({ maxEventsPerChannel: 100 });
    for (let i = 0; i < 150; i++) await b.publish("full", "e", String(i)); // full, and past it
    await admin.config("RESETSTAT");
    for (let i = 0; i < 300; i++) await b.publish("full", "e", String(i));
    expect(await calls("evalsha")).toBe(300);
    expect(await calls("xrange")).toBe(0);
    expect(await calls("xtrim")).toBe(0);
    // The stream's expiry is renewed only once it has run low, not by every publish.
    expect(await calls("pexpire")).toBeLessThanOrEqual(1);
    const read = await b.read("full", 0, 1000);
    expect(read.events.map((e) => e.json)).toEqual(Array.from({ length: 100 }, (_, i) => String(200 + i)));
    expect(read.trimmed).toBe(true);
  });

  it("caps a channel exactly for readers and reports a gap exactly for cursors before what is gone", async () => {
    const prefix = `p${++prefixCount}`;
    const b = broker({ prefix, maxEventsPerChannel: 100 });
    // Two channels interleaved: a's events have odd seqs, b's even ones.
    for (let i = 0; i < 250; i++) await b.publish(i % 2 ? "b" : "a", "e", String(i));
    const all = await b.read("a", 0, 1000);
    expect(all.events).toHaveLength(100);
    expect(all.trimmed).toBe(true);
    const first = all.events[0]!.seq; // a's first retained event
    expect(first).toBe(251 - 2 * 100);
    expect(await admin.xlen(`{${prefix}}:log:a`)).toBe(100);
    // A cursor at a's last removed event, or past it on b's event in between, missed nothing on a.
    expect((await b.read("a", first - 2, 1000)).trimmed).toBe(false);
    expect((await b.read("a", first - 1, 1000)).trimmed).toBe(false);
    expect((await b.read("a", first - 3, 1000)).trimmed).toBe(true);
    const snap = await b.snapshot(["a", "b"], first - 2, 1000);
    expect(snap.trimmed).toEqual(["b"]);
    expect(snap.events.slice(0, 2)).toMatchObject([
      { channel: "a", seq: first },
      { channel: "b", seq: first + 1 },
    ]);
  });

  it("trims by age when the oldest entry may be too old, and the gap stays exact after it", async () => {
    const prefix = `p${++prefixCount}`;
    const b = broker({ prefix, maxAgeMs: 200 });
    const old: StoredEvent[] = [];
    for (let i = 0; i < 20; i++) old.push(await b.publish("a", "e", String(i)));
    // Wait until Redis' clock has passed the events' age (reading trims them).
    let read = await b.read("a", 0, 100);
    while (read.events.length > 0) {
      await new Promise((r) => setTimeout(r, 20));
      read = await b.read("a", 0, 100);
    }
    expect(read).toEqual({ events: [], trimmed: true });
    expect((await b.read("a", old.at(-1)!.seq, 100)).trimmed).toBe(false);
    const next = await b.publish("a", "e", "new");
    const after = await b.read("a", old.at(-2)!.seq, 100);
    expect(after).toMatchObject({ trimmed: true, events: [{ seq: next.seq }] });
    expect(await b.read("a", old.at(-1)!.seq, 100)).toMatchObject({ trimmed: false, events: [{ seq: next.seq }] });
    // A publish also trims what has aged (a stream nobody reads does not keep old events).
    for (let i = 0; i < 5; i++) await b.publish("quiet", "e", String(i));
    const key = `{${prefix}}:log:quiet`;
    const early = async () => (await admin.xrange(key, "-", "+")).filter(([, fields]) => fields[3] !== "later");
    while ((await early()).length > 0) {
      await new Promise((r) => setTimeout(r, 20));
      await b.publish("quiet", "e", "later");
    }
    expect(await admin.xlen(key)).toBeGreaterThan(0);
  });

  it("keeps a stream alive past maxAgeMs after its last event", async () => {
    const prefix = `p${++prefixCount}`;
    const b = broker({ prefix, maxAgeMs: 60_000 });
    for (let i = 0; i < 10; i++) await b.publish("a", "e", String(i));
    expect(await admin.pttl(`{${prefix}}:log:a`)).toBeGreaterThan(60_000 + 30_000 - 5_000);
    // Run the expiry down behind the broker's back: the next publish renews it.
    await admin.pexpire(`{${prefix}}:log:a`, 61_000);
    await b.publish("a", "e", "renewed");
    expect(await admin.pttl(`{${prefix}}:log:a`)).toBeGreaterThan(100_000);
  });

  it("counts entries without prev (an older version's) as everything before them gone", async () => {
    const prefix = `p${++prefixCount}`;
    const b = broker({ prefix });
    await b.publish("other", "e", "1");
    await admin.incr(`{${prefix}}:seq`);
    await admin.xadd(`{${prefix}}:log:a`, "2-0", "event", "e", "json", "2", "ts", String(Date.now()));
    expect(await b.read("a", 0, 10)).toMatchObject({ trimmed: true, events: [{ seq: 2 }] });
    expect((await b.read("a", 1, 10)).trimmed).toBe(false);
  });

  it("sends publishes before a read made after them in the same tick", async () => {
    const b = broker();
    const writes = [b.publish("a", "e", "1"), b.publish("b", "e", "2")];
    const snap = await b.snapshot(["a", "b"], 0, 10);
    expect(snap.events.map((e) => e.json)).toEqual(["1", "2"]);
    expect((await Promise.all(writes)).map((w) => w.seq)).toEqual([1, 2]);
  });

  it("rejects every publish of a batch that fails", async () => {
    const b = broker();
    await b.publish("a", "e", "0");
    await admin.set(`{p${prefixCount}}:seq`, "not a number");
    const results = await Promise.allSettled([b.publish("a", "e", "1"), b.publish("b", "e", "2")]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  });

  it("keeps one sequence for concurrent publishes, delivered once and in order", async () => {
    const prefix = `p${++prefixCount}`;
    const publisher = broker({ prefix, maxEventsPerChannel: 50 });
    const listener = broker({ prefix });
    const channels = ["x", "y", "z"];
    const got = new Map<string, StoredEvent[]>(channels.map((c) => [c, []]));
    await Promise.all(channels.map((c) => listener.subscribe(c, (event) => got.get(c)!.push(event)).ready));
    await admin.config("RESETSTAT");
    const published = await Promise.all(
      Array.from({ length: 300 }, (_, i) => publisher.publish(channels[i % 3]!, "e", String(i))),
    );
    // Publishes made in one tick go in one script call (at most 256 events each), numbered in call order.
    expect(published.map((p) => p.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect((await calls("evalsha")) + (await calls("eval"))).toBe(2);
    await waitFor(() => channels.every((c) => got.get(c)!.length === 100), 10_000, "every event");
    for (const c of channels) {
      const seqs = got.get(c)!.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(100);
    }
    const union = channels.flatMap((c) => got.get(c)!.map((e) => e.seq)).sort((a, b) => a - b);
    expect(union).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    // The retained tail of each channel is what was delivered last.
    const read = await publisher.read("x", 0, 100);
    expect(read.events.map((e) => e.seq)).toEqual(
      got
        .get("x")!
        .slice(-50)
        .map((e) => e.seq),
    );
  });
});
