import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { RedisBroker, type RedisBrokerOptions } from "../../src/brokers/redis.js";
import type { StoredEvent } from "../../src/brokers/types.js";
import { waitFor } from "../helpers.js";
import { startRedis, type TestRedis } from "./redis-server.js";
import { startTcpProxy } from "../faults/tcp-proxy.js";
import { partitionOf } from "../../src/protocol/partition.js";
import { partitionLayout } from "../../src/brokers/redis/layout.js";

/** `count` channel names of partition `partition` (of `partitions`), `{stem}0`, `{stem}1`, … filtered. */
function channelsOf(partition: number, partitions: number, count: number, stem = "ch"): string[] {
  const found: string[] = [];
  for (let i = 0; found.length < count; i++)
    if (partitionOf(`${stem}${i}`, partitions) === partition) found.push(`${stem}${i}`);
  return found;
}

/** Calls of the broker's scripts the server has run (EVALSHA and EVAL), from `INFO commandstats`. */
async function scriptCalls(admin: Redis): Promise<number> {
  const stats = await admin.info("commandstats");
  let calls = 0;
  for (const match of stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) calls += Number(match[1]);
  return calls;
}

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

describe("RedisBroker with 4 partitions on one Redis", () => {
  const P = 4;

  it("keeps a sequence and an epoch per partition, under a hash tag of its own", async () => {
    const prefix = `t${++prefixCount}`;
    const b = broker({ prefix, partitions: P });
    expect(b.partitions).toBe(4);
    const [a0, b0] = channelsOf(0, P, 2);
    const [a1] = channelsOf(1, P, 1);
    const [a3] = channelsOf(3, P, 1);
    const first = await b.publish(a0!, "e", "1");
    const second = await b.publish(a1!, "e", "2");
    const third = await b.publish(b0!, "e", "3");
    const fourth = await b.publish(a3!, "e", "4");
    // Each partition counts on its own.
    expect([first.seq, second.seq, third.seq, fourth.seq]).toEqual([1, 1, 2, 1]);
    expect(await Promise.all([0, 1, 2, 3].map((p) => b.head(p)))).toEqual([2, 1, 0, 1]);
    const epochs = await Promise.all([0, 1, 2, 3].map((p) => b.epoch(p)));
    expect(new Set(epochs).size).toBe(4);
    expect([first.epoch, second.epoch, fourth.epoch]).toEqual([epochs[0], epochs[1], epochs[3]]);
    await expect(b.head(4)).rejects.toThrow(RangeError);
    // The keys: partition p's under `{prefix:p/4:N}`, none of the single-partition layout.
    const admin = new Redis(redis.url);
    const layout = partitionLayout(prefix, P);
    expect(await admin.get(layout[0]!.fixed[1])).toBe("2");
    expect(await admin.get(layout[1]!.fixed[1])).toBe("1");
    expect(layout[0]!.tag).toMatch(new RegExp(`^\\{${prefix}:0/4:\\d+\\}$`));
    expect(await admin.xlen(`${layout[0]!.tag}:log:${a0}`)).toBe(1);
    expect(await admin.exists(`{${prefix}}:seq`)).toBe(0);
    await admin.quit();
    // Reads route to the channel's partition.
    expect((await b.read(b0!, 0, 10)).events.map((e) => [e.seq, e.json])).toEqual([[2, "3"]]);
    expect(await b.latest(a1!, Infinity, 10)).toMatchObject({ epoch: epochs[1], head: 1, events: [{ seq: 1 }] });
  });

  it("snapshots the channels of one partition, and refuses channels of two", async () => {
    const b = broker({ partitions: P });
    const [x, y] = channelsOf(2, P, 2);
    const [z] = channelsOf(1, P, 1);
    for (let i = 0; i < 6; i++) await b.publish([x!, y!, z!][i % 3]!, "e", String(i));
    const snap = await b.snapshot([x!, y!], 0, 100);
    expect(snap.head).toBe(4);
    expect(snap.epoch).toBe(await b.epoch(2));
    expect(snap.events.map((e) => [e.channel, e.seq, e.json])).toEqual([
      [x, 1, "0"],
      [y, 2, "1"],
      [x, 3, "3"],
      [y, 4, "4"],
    ]);
    expect((await b.snapshot([x!, y!], 3, 100)).events.map((e) => e.seq)).toEqual([4]);
    // Limit 0: the epoch and the head only; no channel: partition 0.
    expect(await b.snapshot([z!], 0, 0)).toMatchObject({ head: 2, events: [] });
    expect(await b.snapshot([], 0, 0)).toMatchObject({ epoch: await b.epoch(0), head: 0 });
    await expect(b.snapshot([x!, z!], 0, 10)).rejects.toThrow(/one partition/);
  });

  it("stores every publish of one tick across partitions, with one script call per partition touched", async () => {
    const prefix = `t${++prefixCount}`;
    const b = broker({ prefix, partitions: P });
    const channels = [0, 1, 2, 3].flatMap((p) => channelsOf(p, P, 2, `tick${p}-`));
    await b.publish(channels[0]!, "e", "warm"); // the script is loaded
    const admin = new Redis(redis.url);
    const before = await scriptCalls(admin);
    const sent = await Promise.all(Array.from({ length: 40 }, (_, i) => b.publish(channels[i % 8]!, "e", String(i))));
    const calls = (await scriptCalls(admin)) - before;
    await admin.quit();
    expect(calls).toBe(4); // one per partition touched
    // Per partition: consecutive positions, in the order the publishes were made.
    for (let p = 0; p < P; p++) {
      const seqs = sent.filter((e) => partitionOf(e.channel, P) === p).map((e) => e.seq);
      const start = p === 0 ? 2 : 1;
      expect(seqs).toEqual(Array.from({ length: 10 }, (_, k) => start + k));
    }
    for (const channel of channels) {
      const read = await b.read(channel, 0, 100);
      const own = sent.filter((e) => e.channel === channel);
      expect(read.events.slice(-own.length).map((e) => [e.seq, e.json])).toEqual(own.map((e) => [e.seq, e.json]));
    }
  });

  it("delivers live events over sharded pub/sub (Redis 7), each channel in order", async () => {
    const prefix = `t${++prefixCount}`;
    const a = broker({ prefix, partitions: P });
    const b = broker({ prefix, partitions: P });
    const channels = [0, 1, 2, 3].flatMap((p) => channelsOf(p, P, 2, `live${p}-`));
    const got = new Map<string, number[]>(channels.map((c) => [c, []]));
    await Promise.all(channels.map((c) => a.subscribe(c, (event) => got.get(c)!.push(Number(event.json))).ready));
    const admin = new Redis(redis.url);
    const layout = partitionLayout(prefix, P);
    const bus = `${layout[partitionOf(channels[0]!, P)]!.tag}:bus:${channels[0]}`;
    expect(await admin.pubsub("SHARDNUMSUB", bus)).toEqual([bus, 1]);
    expect(await admin.pubsub("NUMSUB", bus)).toEqual([bus, 0]);
    await admin.quit();
    for (let i = 0; i < 80; i++) void b.publish(channels[i % 8]!, "e", String(i));
    await waitFor(() => [...got.values()].every((list) => list.length === 10), 5000, "80 live events");
    channels.forEach((c, k) => expect(got.get(c)).toEqual(Array.from({ length: 10 }, (_, j) => k + 8 * j)));
  });

  it("starts a new epoch in every partition when Redis restarts without its data, and keeps listeners working", async () => {
    const prefix = `t${++prefixCount}`;
    const a = broker({ prefix, partitions: P });
    const b = broker({ prefix, partitions: P });
    const channels = [0, 1, 2, 3].map((p) => channelsOf(p, P, 1, `restart${p}-`)[0]!);
    const got: [string, number, string][] = [];
    await Promise.all(channels.map((c) => a.subscribe(c, (e, epoch) => got.push([c, e.seq, epoch])).ready));
    for (const c of channels) await b.publish(c, "e", "1");
    await b.publish(channels[0]!, "e", "2");
    await waitFor(() => got.length === 5, 5000, "the first events");
    const before = await Promise.all([0, 1, 2, 3].map((p) => b.epoch(p)));
    await redis.stop();
    await redis.start();
    const after = await Promise.all([0, 1, 2, 3].map((p) => b.epoch(p)));
    after.forEach((epoch, p) => expect(epoch).not.toBe(before[p]));
    expect(new Set(after).size).toBe(4);
    expect(await Promise.all([0, 1, 2, 3].map((p) => b.head(p)))).toEqual([0, 0, 0, 0]);
    // A's subscriber reconnects; publishes of the new epochs reach it, positions from 1 again.
    const sent: [string, number, string][] = [];
    await waitFor(() => (a as unknown as { sub: Redis }).sub.status === "ready", 10_000, "A's subscriber back");
    for (const c of channels) {
      const stored = await b.publish(c, "e", "new");
      sent.push([c, stored.seq, stored.epoch]);
    }
    expect(sent.map(([, seq]) => seq)).toEqual([1, 1, 1, 1]);
    await waitFor(() => got.length === 9, 10_000, "events of the new epochs");
    expect(got.slice(5)).toEqual(sent);
  });

  it("starts a new epoch when a partition's counter went back (a failover that lost writes): nothing twice, the rest after a gap", async () => {
    const prefix = `t${++prefixCount}`;
    const P2 = 2;
    const knowing = broker({ prefix, partitions: P2 });
    const subscriber = broker({ prefix, partitions: P2 });
    const [x, y] = channelsOf(1, P2, 2, "lost");
    const got: [number, string, string][] = [];
    await subscriber.subscribe(x!, (e, epoch) => got.push([e.seq, e.json, epoch])).ready;
    for (let i = 1; i <= 5; i++) await knowing.publish(x!, "e", String(i));
    await knowing.publish(y!, "e", "y");
    await waitFor(() => got.length === 5, 5000, "five events");
    const epoch = got[0]![2];
    // What a promoted replica that missed the last three writes holds: the state after seq 3.
    const { fixed, stream } = partitionLayout(prefix, P2)[1]!;
    const admin = new Redis(redis.url);
    await admin.set(fixed[1], "3");
    await admin.xdel(stream + x, "4-0", "5-0");
    await admin.xsetid(stream + x, "3-0");
    await admin.del(stream + y);
    await admin.hset(fixed[2], x!, "3");
    await admin.hdel(fixed[2], y!);
    // A process that never saw positions 4 to 6 publishes: the old epoch goes on (it cannot know).
    const unaware = broker({ prefix, partitions: P2 });
    const [z] = channelsOf(0, P2, 1, "sentinel");
    const sentinel: number[] = [];
    await subscriber.subscribe(z!, (e) => sentinel.push(e.seq)).ready;
    const reused = await unaware.publish(x!, "e", "reused");
    expect([reused.seq, reused.epoch]).toEqual([4, epoch]);
    await unaware.publish(z!, "e", "after the reused one"); // same connection: arrives after it
    await waitFor(() => sentinel.length === 1, 5000, "the sentinel");
    // The subscriber had 4 and 5 already: it dropped this one as a repeat.
    expect(got).toHaveLength(5);
    // Its connection drops; its catch-up tells the partition what it saw (5): a new epoch, beginning
    // after the counter (4).
    await admin.client("KILL", "TYPE", "pubsub");
    const deadline = Date.now() + 10_000;
    while ((await admin.get(fixed[0])) === epoch) {
      if (Date.now() > deadline) throw new Error("no new epoch");
      await new Promise((r) => setTimeout(r, 20));
    }
    const renewed = (await admin.get(fixed[0]))!;
    expect(await admin.get(fixed[4])).toBe("4");
    await admin.quit();
    // Nothing of the old epoch is read or delivered again; the next event comes in the new epoch.
    const next = await unaware.publish(x!, "e", "next");
    expect([next.seq, next.epoch]).toEqual([5, renewed]);
    await waitFor(() => got.length === 6, 10_000, "the event of the new epoch");
    expect(got.map(([seq, json]) => [seq, json])).toEqual([
      [1, "1"],
      [2, "2"],
      [3, "3"],
      [4, "4"],
      [5, "5"],
      [5, "next"],
    ]);
    expect(got[5]![2]).toBe(renewed);
    expect((await subscriber.read(x!, 0, 10)).events.map((e) => e.json)).toEqual(["next"]);
    expect((await subscriber.latest(x!, Infinity, 10)).events.map((e) => e.json)).toEqual(["next"]);
    // The process that saw 6 in the old epoch does not start another one.
    const known = await knowing.publish(x!, "e", "known");
    expect([known.seq, known.epoch]).toEqual([6, renewed]);
  });

  it("starts that new epoch on the next publish of a process that saw the lost positions", async () => {
    const prefix = `t${++prefixCount}`;
    const b = broker({ prefix, partitions: 2 });
    const [x] = channelsOf(0, 2, 1, "lostpub");
    for (let i = 1; i <= 3; i++) await b.publish(x!, "e", String(i));
    const epoch = await b.epoch(0);
    const { fixed, stream } = partitionLayout(prefix, 2)[0]!;
    const admin = new Redis(redis.url);
    await admin.set(fixed[1], "1");
    await admin.xdel(stream + x, "2-0", "3-0");
    await admin.xsetid(stream + x, "1-0");
    await admin.hset(fixed[2], x!, "1");
    await admin.quit();
    const next = await b.publish(x!, "e", "4");
    expect(next.epoch).not.toBe(epoch);
    expect(next.seq).toBe(2);
    expect((await b.read(x!, 0, 10)).events.map((e) => [e.seq, e.json])).toEqual([[2, "4"]]);
    expect((await b.snapshot([x!], 0, 10)).trimmed).toEqual([]);
  });
});
