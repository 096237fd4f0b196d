/**
 * The broker contract (src/brokers/types.ts), one suite run against every broker: MemoryBroker and
 * RedisBroker on a real redis-server (with one partition, and with four). What the hub, sessions,
 * polls and tasks rely on. Positions compare within a partition: the cases that compare positions
 * of several channels take channels of one partition.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MemoryBroker } from "../src/brokers/memory.js";
import { RedisBroker } from "../src/brokers/redis.js";
import type { Broker, StoredEvent } from "../src/brokers/types.js";
import { partitionOf } from "../src/protocol/partition.js";
import { waitFor } from "./helpers.js";
import { startRedis, type TestRedis } from "./redis/redis-server.js";

let redis: TestRedis | undefined;
let prefixes = 0;
const open: Broker[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

type Make = (options?: { maxEventsPerChannel?: number }) => Broker;

const brokers: [string, Make][] = [
  ["MemoryBroker", (options) => new MemoryBroker(options)],
  ["RedisBroker", (options) => new RedisBroker({ url: redis!.url, prefix: `contract${++prefixes}`, ...options })],
  [
    "RedisBroker, 4 partitions",
    (options) => new RedisBroker({ url: redis!.url, prefix: `contract${++prefixes}`, partitions: 4, ...options }),
  ],
];

/** `count` channel names of one partition of `broker`'s log (`a`, `b`, `c` when it has one), and that partition. */
function onePartition(broker: Broker, count: number): { names: string[]; partition: number } {
  const partitions = broker.partitions ?? 1;
  if (partitions === 1) return { names: ["a", "b", "c"].slice(0, count), partition: 0 };
  const names: string[] = [];
  for (let i = 0; names.length < count; i++) if (partitionOf(`ch${i}`, partitions) === 1) names.push(`ch${i}`);
  return { names, partition: 1 };
}

describe.each(brokers)("broker contract: %s", (_name, create) => {
  const make: Make = (options) => {
    const broker = create(options);
    open.push(broker);
    return broker;
  };

  it("numbers events in one sequence per partition, within one epoch, and reports the head", async () => {
    const broker = make();
    const { names, partition } = onePartition(broker, 2);
    const epoch = await broker.epoch(partition);
    expect(await broker.head(partition)).toBe(0);
    const a = await broker.publish(names[0]!, "e", "1");
    const b = await broker.publish(names[1]!, "e", "2");
    expect([a.seq, b.seq]).toEqual([1, 2]);
    expect(a.epoch).toBe(epoch);
    expect(await broker.head(partition)).toBe(2);
    expect(await broker.epoch(partition)).toBe(epoch);
  });

  it("reads one channel after a position, and snapshots several atomically in seq order", async () => {
    const broker = make();
    const { names, partition } = onePartition(broker, 3);
    const [a, b] = names as [string, string, string];
    for (let i = 0; i < 6; i++) await broker.publish(names[i % 3]!, "e", String(i));
    expect((await broker.read(a, 0, 10)).events.map((e) => e.json)).toEqual(["0", "3"]);
    expect((await broker.read(a, 1, 10)).events.map((e) => e.seq)).toEqual([4]);
    const snap = await broker.snapshot([a, b], 1, 10);
    expect(snap.head).toBe(6);
    expect(snap.events.map((e) => [e.channel, e.seq])).toEqual([
      [b, 2],
      [a, 4],
      [b, 5],
    ]);
    expect(snap.trimmed).toEqual([]);
    expect(snap.epoch).toBe(await broker.epoch(partition));
  });

  it("keeps at most maxEventsPerChannel and says so when a position fell out", async () => {
    const broker = make({ maxEventsPerChannel: 2 });
    for (let i = 0; i < 5; i++) await broker.publish("a", "e", String(i));
    const read = await broker.read("a", 0, 10);
    expect(read.events.map((e) => e.json)).toEqual(["3", "4"]);
    expect(read.trimmed).toBe(true);
    expect((await broker.read("a", 3, 10)).trimmed).toBe(false);
    expect((await broker.snapshot(["a"], 0, 10)).trimmed).toEqual(["a"]);
  });

  it("delivers live events to every listener of a channel, in order, until it unsubscribes", async () => {
    const broker = make();
    const first: StoredEvent[] = [];
    const second: StoredEvent[] = [];
    const one = broker.subscribe("room", (e) => first.push(e));
    const two = broker.subscribe("room", (e) => second.push(e));
    await Promise.all([one.ready, two.ready]);
    for (let i = 0; i < 5; i++) await broker.publish("room", "e", String(i));
    await broker.publish("elsewhere", "e", "x");
    await waitFor(() => first.length === 5 && second.length === 5, 5000, "live events");
    expect(first.map((e) => e.json)).toEqual(["0", "1", "2", "3", "4"]);
    expect(first.map((e) => e.seq)).toEqual([...first.map((e) => e.seq)].sort((x, y) => x - y));
    one.unsubscribe();
    await broker.publish("room", "e", "5");
    await waitFor(() => second.length === 6, 5000, "the remaining listener");
    expect(first).toHaveLength(5);
    two.unsubscribe();
  });

  it("keeps an event's metadata with it: in the publish answer, live, and in reads and snapshots", async () => {
    const broker = make();
    const live: StoredEvent[] = [];
    const sub = broker.subscribe("room", (e) => live.push(e));
    await sub.ready;
    const meta = { exclude: "123.456", userId: "ann\nwith a newline" };
    const sent = await broker.publish("room", "client-typing", '{"typing":true}\n', meta);
    await broker.publish("room", "plain", "1");
    expect(sent.meta).toEqual(meta);
    await waitFor(() => live.length === 2, 5000, "live events");
    expect(live[0]).toMatchObject({ event: "client-typing", json: '{"typing":true}\n', meta });
    expect(live[1]!.meta).toBeUndefined();
    const { events } = await broker.read("room", 0, 10);
    expect(events.map((e) => e.meta)).toEqual([meta, undefined]);
    const snap = await broker.snapshot(["room"], 0, 10);
    expect(snap.events[0]!.meta).toEqual(meta);
    sub.unsubscribe();
  });

  it("gives live events the epoch their positions count in", async () => {
    const broker = make();
    const epochs: string[] = [];
    const sub = broker.subscribe("x", (_event, epoch) => epochs.push(epoch));
    await sub.ready;
    await broker.publish("x", "e", "1");
    await waitFor(() => epochs.length === 1, 5000, "one event");
    expect(epochs).toEqual([await broker.epoch(partitionOf("x", broker.partitions ?? 1))]);
    sub.unsubscribe();
  });
});
