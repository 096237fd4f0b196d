/**
 * Herald on a real three-master Redis Cluster the test starts: every part works with keys laid out
 * under one hash tag per prefix (the broker's scripts touch one slot), and events keep flowing,
 * exactly once and in order, through a node restart.
 */
import { Cluster } from "ioredis";
import { describe, expect, it } from "vitest";
import { createHerald, type Herald, type HeraldOptions } from "../../src/server/index.js";
import { createHeraldClient } from "../../src/client/index.js";
import { EventSource } from "eventsource";
import { startServer } from "../helpers.js";
import { resumeUnderCuts } from "../contract/resume-under-cuts.js";
import { heraldRedis, RedisPresenceStore, type HeraldRedis } from "../../src/redis/index.js";
import type { StoredEvent } from "../../src/brokers/types.js";
import { useCluster } from "./fixture.js";

const fx = useCluster();
const { heralds, cleanups } = fx;
let prefixCount = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function instance(prefix: string, options: HeraldOptions = {}): { herald: Herald; redis: HeraldRedis } {
  const redis = heraldRedis({ cluster: fx.cluster.nodes }, { prefix, cancel: { leaseMs: 1000 } })!;
  const herald = createHerald({ redis, ...options });
  heralds.push(herald);
  return { herald, redis };
}

async function until<T>(fn: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined as T);
    if (value !== undefined && ok(value)) return value;
    if (Date.now() > end) throw new Error("timed out");
    await sleep(50);
  }
}

describe("Redis Cluster", () => {
  it("every part works on three masters; a prefix's keys used together share one slot", async () => {
    const prefix = `c${++prefixCount}`;
    const a = instance(prefix);
    const b = instance(prefix);
    // The broker: live events across instances, and a snapshot of each channel's partition (the
    // Cluster default: 32 partitions, x and y in two of them).
    expect(b.herald.broker.partitions).toBe(32);
    const got: StoredEvent[] = [];
    for (const channel of ["x", "y"]) {
      const sub = b.herald.broker.subscribe(channel, (event) => got.push(event));
      await sub.ready;
      cleanups.push(() => sub.unsubscribe());
    }
    for (let i = 0; i < 10; i++) await a.herald.publish(i % 2 ? "x" : "y", "e", { i });
    await until(
      async () => got.length,
      (n) => n === 10,
    );
    for (const channel of ["x", "y"]) {
      const mine = got.filter((e) => e.channel === channel);
      expect(mine.map((e) => JSON.parse(e.json).i % 2)).toEqual(new Array(5).fill(channel === "x" ? 1 : 0));
      const snap = await b.herald.broker.snapshot([channel], 0, 100);
      expect(snap.events.map((e) => e.seq)).toEqual(mine.map((e) => e.seq));
      expect(snap.head).toBeGreaterThanOrEqual(mine[4]!.seq);
    }
    // Tokens: issued on A, accepted once on B.
    const token = await a.herald.tokens.issue("alice");
    await expect(b.herald.tokens.verify(token, { channels: [] })).resolves.toMatchObject({ userId: "alice" });
    await expect(a.herald.tokens.verify(token, { channels: [] })).rejects.toMatchObject({ code: "token_used" });
    // Tasks: started on A, canceled from B, the job aborted on A.
    let aborted = false;
    const task = await a.herald.tasks.start("alice", (ctx) => {
      ctx.progress(30);
      return new Promise((resolve) =>
        ctx.signal.addEventListener("abort", () => {
          aborted = true;
          resolve(null);
        }),
      );
    });
    await until(
      () => b.herald.tasks.get(task.id, "alice"),
      (s) => s.progress === 30,
    );
    expect(await b.herald.tasks.cancel(task.id, "alice")).toMatchObject({ status: "canceled" });
    expect(aborted).toBe(true);
    expect((await b.herald.tasks.list("alice")).map((t) => t.id)).toEqual([task.id]);
    // Limits: one count for both instances.
    const limits = [a.herald.core.limits, b.herald.core.limits];
    let refused = 0;
    for (let i = 0; i < 150; i++) {
      try {
        limits[i % 2]!.route("cancel", "alice", undefined); // 20 per 10 s window
      } catch {
        refused++;
      }
      await sleep(2);
    }
    expect(refused).toBeGreaterThanOrEqual(150 - 22);
    // Presence.
    const presence = new RedisPresenceStore(b.redis.connection, { prefix, ttlMs: 1000 });
    cleanups.push(() => presence.close());
    await presence.join("presence-room", "1.1", { user_id: "alice", user_info: null });
    expect((await a.redis.presence.members("presence-room")).map((m) => m.user_id)).toEqual(["alice"]);
    // Layout: keys used together hash to one slot; tokens spread.
    const admin = new Cluster(fx.cluster.nodes);
    cleanups.push(() => admin.quit());
    const slot = (key: string) => admin.cluster("KEYSLOT", key) as Promise<number>;
    const tagged = [`{${prefix}}:task:${task.id}`, `{${prefix}}:presence:presence-room`];
    expect(new Set(await Promise.all(tagged.map(slot))).size).toBe(1);
    const tokenSlots = new Set(
      await Promise.all(Array.from({ length: 8 }, (_, i) => slot(`${prefix}:tok:{id${i}abcdefgh}`))),
    );
    expect(tokenSlots.size).toBeGreaterThan(1);
  });

  it("through a restart of the node holding the prefix and of another node: every accepted event arrives once, in order", async () => {
    const prefix = `c${++prefixCount}`;
    const a = instance(prefix);
    const b = instance(prefix);
    const got: number[] = [];
    const sub = b.herald.broker.subscribe("feed", (event) => got.push(event.seq));
    await sub.ready;
    cleanups.push(() => sub.unsubscribe());
    const accepted: number[] = [];
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing; i++) {
        try {
          const stored = await a.herald.broker.publish("feed", "e", JSON.stringify({ i }));
          accepted.push(stored.seq);
        } catch {
          // refused while the slot's node is down: not accepted, so never owed
        }
        await sleep(15);
      }
    })();
    await sleep(300);
    const owner = fx.cluster.ownerOf(`{${prefix}}:seq`);
    const other = fx.cluster.ports.find((p) => p !== owner)!;
    await fx.cluster.restart(other);
    await sleep(300);
    await fx.cluster.restart(owner);
    // Published after both restarts, and delivered.
    const before = accepted.length;
    await until(
      async () => accepted.length,
      (n) => n >= before + 10,
      20_000,
    );
    publishing = false;
    await publisher;
    await until(
      async () => got.length,
      (n) => n >= accepted.length,
      10_000,
    ).catch(() => {});
    expect(got).toEqual(accepted);
    // And the rest of the state works again.
    const token = await until(() => a.herald.tokens.issue("alice"), Boolean);
    await expect(b.herald.tokens.verify(token, { channels: [] })).resolves.toMatchObject({ userId: "alice" });
    const task = await a.herald.tasks.start("alice", async () => "ok");
    await a.herald.tasks.wait(task.id, "alice");
    expect(await b.herald.tasks.get(task.id, "alice")).toMatchObject({ status: "succeeded", result: "ok" });
  }, 60_000);

  it("keeps the resume contract across two instances: 20 SSE subscribers, cuts at random, nothing lost or doubled", async () => {
    const prefix = `c${++prefixCount}`;
    // Dozens of reconnects from one address: lift the per-IP attempt limit, as resume.test.ts does.
    const publisher = instance(prefix).herald;
    const subscribed = instance(prefix, { limits: { connectPerIp: false } }).herald;
    const server = await startServer(subscribed);
    cleanups.push(() => server.close());
    let connections = 0;
    server.server.on("connection", () => connections++);
    await resumeUnderCuts(
      {
        publish: (channel, data) => publisher.publish(channel, "tick", data),
        client: (random) => {
          const client = createHeraldClient({
            url: `${server.url}?`,
            EventSource: EventSource as never,
            backoff: { baseMs: 5, capMs: 40 },
            random,
            onlineTarget: null,
          });
          cleanups.push(() => client.close());
          return client;
        },
        sockets: () => server.sockets,
        connections: () => connections,
      },
      {
        subscribers: 20,
        channels: ["orders", "chat", "metrics"],
        total: 3000,
        cutChance: 1 / 100,
        minCuts: 15,
        seed: 5,
      },
    );
  }, 120_000);
});
