/**
 * RedisBroker's partitioned log on a real three-master Redis Cluster (32 partitions, the default
 * with `cluster`): the partitions' keys and writes spread over the masters, live events travel over
 * sharded pub/sub (one subscriber connection per master), and through a master's restart every
 * accepted event arrives once, in order per channel.
 */
import { Cluster, Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { RedisBroker } from "../../src/brokers/redis.js";
import { partitionLayout } from "../../src/brokers/redis/layout.js";
import { partitionOf } from "../../src/protocol/partition.js";
import { useCluster } from "./fixture.js";

const fx = useCluster();
const { cleanups } = fx;
let prefixCount = 0;

function broker(prefix: string): RedisBroker {
  const b = new RedisBroker({ cluster: { nodes: fx.cluster.nodes }, prefix });
  cleanups.push(() => b.close());
  return b;
}

/** One connection to each master, by port. */
function masters(): Map<number, Redis> {
  const map = new Map(fx.cluster.ports.map((port) => [port, new Redis({ port, host: "127.0.0.1" })]));
  cleanups.push(() => Promise.all([...map.values()].map((r) => r.quit())));
  return map;
}

/** Calls of scripts (EVALSHA and EVAL) a node has run, from `INFO commandstats`. */
async function scriptCalls(node: Redis): Promise<number> {
  const stats = await node.info("commandstats");
  let calls = 0;
  for (const match of stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) calls += Number(match[1]);
  return calls;
}

/** Keys of `prefix` on a node (its partitions' tags start with `{prefix:`). */
async function keysOf(node: Redis, prefix: string): Promise<number> {
  let count = 0;
  let cursor = "0";
  do {
    const [next, keys] = await node.scan(cursor, "MATCH", `{${prefix}:*`, "COUNT", 1000);
    cursor = next;
    count += keys.length;
  } while (cursor !== "0");
  return count;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(ok: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe("RedisBroker partitions on a Redis Cluster", () => {
  it("spreads 32 partitions, their keys and their script calls, over the three masters", async () => {
    const prefix = `p${++prefixCount}`;
    const b = broker(prefix);
    expect(b.partitions).toBe(32);
    // The layout's CRC16 agrees with Redis, and partition p's slot lies in the p-th 32nd of the slots.
    const nodes = masters();
    const first = nodes.values().next().value!;
    for (const [p, { tag, slot }] of partitionLayout(prefix, 32).entries()) {
      expect(await first.cluster("KEYSLOT", `${tag}:log:room-1`)).toBe(slot);
      expect(Math.floor(slot / 512)).toBe(p);
    }
    // Where the partitions' slots fall.
    const owners = new Map<number, number>();
    for (const { tag } of partitionLayout(prefix, 32)) {
      const port = fx.cluster.ownerOf(`${tag}:seq`);
      owners.set(port, (owners.get(port) ?? 0) + 1);
    }
    console.log(`partitions per master: ${[...owners.values()].join(" / ")}`);
    const before = new Map<number, number>();
    for (const [port, node] of nodes) before.set(port, await scriptCalls(node));
    // 300 channels, 3 events each, published in rounds of 300 (one tick each).
    const channels = Array.from({ length: 300 }, (_, i) => `room-${i}`);
    for (let round = 0; round < 3; round++)
      await Promise.all(channels.map((c) => b.publish(c, "e", JSON.stringify({ round }))));
    const calls = new Map<number, number>();
    const keys = new Map<number, number>();
    for (const [port, node] of nodes) {
      calls.set(port, (await scriptCalls(node)) - before.get(port)!);
      keys.set(port, await keysOf(node, prefix));
    }
    const share = (counts: Map<number, number>) => {
      const total = [...counts.values()].reduce((a, n) => a + n, 0);
      return fx.cluster.ports.map((port) => (counts.get(port) ?? 0) / total);
    };
    const callShare = share(calls);
    const keyShare = share(keys);
    const percent = (shares: number[]) => shares.map((s) => `${(100 * s).toFixed(1)}%`).join(" / ");
    console.log(`script calls per master: ${[...calls.values()].join(" / ")} (${percent(callShare)})`);
    console.log(`keys per master: ${[...keys.values()].join(" / ")} (${percent(keyShare)})`);
    for (const s of [...callShare, ...keyShare]) {
      expect(s).toBeGreaterThan(0.2);
      expect(s).toBeLessThan(0.47);
    }
    // Every partition that has channels keeps its own sequence: the heads add up to every event.
    const heads = await Promise.all(Array.from({ length: 32 }, (_, p) => b.head(p)));
    expect(heads.reduce((a, n) => a + n, 0)).toBe(900);
    const per = new Map<number, number>();
    for (const c of channels) per.set(partitionOf(c, 32), (per.get(partitionOf(c, 32)) ?? 0) + 3);
    expect(heads).toEqual(Array.from({ length: 32 }, (_, p) => per.get(p) ?? 0));
  });

  it("delivers live events over sharded pub/sub, one subscriber connection per master, each channel in order", async () => {
    const prefix = `p${++prefixCount}`;
    const a = broker(prefix);
    const b = broker(prefix);
    const channels = Array.from({ length: 64 }, (_, i) => `live-${i}`);
    const got = new Map<string, number[]>(channels.map((c) => [c, []]));
    await Promise.all(channels.map((c) => a.subscribe(c, (e) => got.get(c)!.push(Number(e.json))).ready));
    // Each bus channel has its one subscriber on the master of its partition's slot.
    const admin = new Cluster(fx.cluster.nodes);
    cleanups.push(() => admin.quit());
    const layout = partitionLayout(prefix, 32);
    const nodes = masters();
    for (const c of channels.slice(0, 8)) {
      const bus = `${layout[partitionOf(c, 32)]!.tag}:bus:${c}`;
      const owner = nodes.get(fx.cluster.ownerOf(bus))!;
      expect(await owner.pubsub("SHARDNUMSUB", bus)).toEqual([bus, 1]);
    }
    const subscribers = await Promise.all(
      [...nodes.values()].map(async (node) => {
        const list = (await node.client("LIST", "TYPE", "pubsub")) as string;
        return list.split("\n").filter((line) => line.includes("ssubscriber")).length;
      }),
    );
    expect(subscribers.every((n) => n >= 1)).toBe(true);
    for (let i = 0; i < 640; i++) void b.publish(channels[i % 64]!, "e", String(i));
    await until(() => [...got.values()].every((list) => list.length === 10), 10_000, "640 live events");
    channels.forEach((c, k) => expect(got.get(c)).toEqual(Array.from({ length: 10 }, (_, j) => k + 64 * j)));
  });

  it("through a master's restart: every accepted event arrives once, in order per channel", async () => {
    const prefix = `p${++prefixCount}`;
    const publisher = broker(prefix);
    const subscriber = broker(prefix);
    const channels = Array.from({ length: 24 }, (_, i) => `feed-${i}`);
    const got = new Map<string, number[]>(channels.map((c) => [c, []]));
    await Promise.all(channels.map((c) => subscriber.subscribe(c, (e) => got.get(c)!.push(Number(e.json))).ready));
    const accepted = new Map<string, number[]>(channels.map((c) => [c, []]));
    const refused = new Set<number>();
    let publishing = true;
    let n = 0;
    const publishers = channels.map(async (c) => {
      while (publishing) {
        const i = n++;
        try {
          await publisher.publish(c, "e", String(i));
          accepted.get(c)!.push(i);
        } catch {
          refused.add(i); // refused while its partition's master is down: not accepted, never owed
        }
        await sleep(20);
      }
    });
    await until(() => [...accepted.values()].every((list) => list.length >= 3), 10_000, "publishes before the restart");
    // The master holding the partition of the first channel (and about a third of the others).
    const layout = partitionLayout(prefix, 32);
    const port = fx.cluster.ownerOf(`${layout[partitionOf(channels[0]!, 32)]!.tag}:seq`);
    await fx.cluster.restart(port);
    const after = new Map([...accepted].map(([c, list]) => [c, list.length]));
    await until(
      () => channels.every((c) => accepted.get(c)!.length >= after.get(c)! + 5),
      30_000,
      "publishes after the restart",
    );
    publishing = false;
    await Promise.all(publishers);
    await until(
      () => channels.every((c) => accepted.get(c)!.every((i) => got.get(c)!.includes(i))),
      20_000,
      "every accepted event delivered",
    ).catch(() => {});
    for (const c of channels) {
      const list = got.get(c)!;
      // In order, once each, every accepted one; anything else is a publish that was refused (its
      // script may have run before its answer was lost with the connection).
      expect(list).toEqual([...list].sort((x, y) => x - y));
      expect(new Set(list).size).toBe(list.length);
      for (const i of accepted.get(c)!) expect(list).toContain(i);
      for (const i of list) if (!accepted.get(c)!.includes(i)) expect(refused.has(i)).toBe(true);
    }
    const partitionsOnRestarted = new Set(
      channels.filter((c) => fx.cluster.ownerOf(`${layout[partitionOf(c, 32)]!.tag}:seq`) === port),
    );
    expect(partitionsOnRestarted.size).toBeGreaterThan(0);
  }, 90_000);
});
