/**
 * Long-poll on Redis (a private redis-server), two Herald instances as if in two processes, each
 * behind its own HTTP server: lossless long-poll resume across many events and channels while the
 * pollers move between the instances (each hub vouches only for what it saw itself), and a channel
 * followed only by pollers SUBSCRIBEd once on Redis over many poll cycles, not once per cycle.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisBroker } from "../../src/brokers/redis.js";
import { createHerald, type Herald } from "../../src/server/index.js";
import { prng, waitFor } from "../helpers.js";
import { startRedis, type TestRedis } from "./redis-server.js";

let redis: TestRedis;
let prefixCount = 0;
const heralds: Herald[] = [];
const servers: http.Server[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await Promise.all(heralds.splice(0).map((h) => h.close()));
});

/** Two instances on one Redis prefix, each serving its routes on a port of its own. */
async function cluster() {
  const prefix = `poll${++prefixCount}`;
  const make = async () => {
    const herald = createHerald({
      broker: new RedisBroker({ url: redis.url, prefix }),
      limits: { connectPerIp: false, maxConnectionsPerIp: false },
    });
    heralds.push(herald);
    const server = http.createServer((req, res) => {
      if (!herald.handleNodeRoutes(req, res)) res.writeHead(404).end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { herald, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/realtime` };
  };
  return [await make(), await make()] as const;
}

interface Reply {
  events: { channel: string; event: string; id: string; data: unknown }[];
  cursor: string;
  gaps: unknown[];
}

async function poll(base: string, channels: string[], cursor?: string, wait?: number): Promise<Reply> {
  const query = channels.map((c) => `channel=${c}`);
  if (cursor !== undefined) query.push(`lastEventId=${cursor}`);
  if (wait !== undefined) query.push(`wait=${wait}`);
  const response = await fetch(`${base}/poll?${query.join("&")}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Reply;
}

/** Calls of a command so far, from Redis's own `INFO commandstats`. */
async function commandCalls(admin: Redis, command: string): Promise<number> {
  const info = await admin.info("commandstats");
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return match ? Number(match[1]) : 0;
}

describe("long-poll on Redis", () => {
  it("resumes losslessly across many events and channels while pollers move between two instances", async () => {
    const [one, two] = await cluster();
    const random = prng(41);
    const channels = ["a", "b", "c", "d"]; // nobody follows d: it only moves the shared position
    const followers = [["a"], ["b"], ["a", "b"], ["a", "b", "c"], ["c"]];
    const published: { channel: string; n: number; id: string }[] = [];
    let publishing = true;

    const starts = await Promise.all(followers.map(async (follows) => (await poll(one.base, follows)).cursor));
    const pollers = followers.map(async (follows, index) => {
      const got: { channel: string; n: number; id: string }[] = [];
      let cursor = starts[index]!;
      const expected = () => published.filter((p) => follows.includes(p.channel)).length;
      while (publishing || got.length < expected()) {
        // Mostly back to the same instance at once; now and then to the other one (whose hub has
        // not seen this cursor's events), sometimes after a pause (events pile up: a log read).
        const base = random() < 0.2 ? two.base : one.base;
        if (random() < 0.1) await new Promise((r) => setTimeout(r, random() * 30));
        const body = await poll(base, follows, cursor, 2);
        expect(body.gaps).toEqual([]);
        for (const e of body.events) got.push({ channel: e.channel, n: (e.data as { n: number }).n, id: e.id });
        cursor = body.cursor;
      }
      return { follows, got };
    });

    await waitFor(() => one.herald.stats().pollWaiters > 0, 10_000, "pollers to be held");
    for (let n = 0; n < 300; n++) {
      const channel = channels[Math.floor(random() * channels.length)]!;
      const from = random() < 0.5 ? one.herald : two.herald;
      const id = await from.publish(channel, "e", { n });
      published.push({ channel, n, id });
      if (random() < 0.3) await new Promise((r) => setTimeout(r, random() * 5));
    }
    publishing = false;
    for (const { follows, got } of await Promise.all(pollers)) {
      expect(got).toEqual(published.filter((p) => follows.includes(p.channel)));
    }
    expect(one.herald.stats().pollWakes).toBeGreaterThan(0);
  }, 60_000);

  it("SUBSCRIBEs a channel followed only by pollers once, not once per poll cycle", async () => {
    const [one] = await cluster();
    const admin = new Redis(redis.url);
    try {
      let cursor = (await poll(one.base, ["p"])).cursor;
      const before = await commandCalls(admin, "subscribe");
      const unsubscribesBefore = await commandCalls(admin, "unsubscribe");
      for (let cycle = 0; cycle < 15; cycle++) {
        const pending = poll(one.base, ["p"], cursor, 20);
        await waitFor(() => one.herald.stats().pollWaiters === 1, 10_000, "the long-poll to be held");
        const id = await one.herald.publish("p", "e", { cycle });
        const reply = await pending;
        expect(reply.events.map((e) => e.id)).toEqual([id]);
        cursor = reply.cursor;
      }
      expect((await commandCalls(admin, "subscribe")) - before).toBe(1);
      expect((await commandCalls(admin, "unsubscribe")) - unsubscribesBefore).toBe(0);
    } finally {
      admin.disconnect();
    }
  }, 60_000);
});
