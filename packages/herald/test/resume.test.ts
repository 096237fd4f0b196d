/**
 * The resume contract (contract/resume-under-cuts.ts) on SSE, on every broker setup: 20
 * subscribers on 3 channels each, connections cut at PRNG-chosen points of the stream; every event
 * arrives exactly once and in order, and the tail arrives live (no final reconnect brings it).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EventSource } from "eventsource";
import { createHerald, MemoryBroker, type Herald } from "../src/server/index.js";
import { RedisBroker } from "../src/brokers/redis.js";
import { createHeraldClient, type HeraldClient } from "../src/client/index.js";
import { startServer, type TestServer } from "./helpers.js";
import { resumeUnderCuts } from "./contract/resume-under-cuts.js";
import { startRedis, type TestRedis } from "./redis/redis-server.js";
import { startTcpProxy, type TcpProxy } from "./faults/tcp-proxy.js";

const CHANNELS = ["orders", "chat", "metrics"];
let redis: TestRedis | undefined;
/** Redis behind a slow handshake: the subscribers arrive while the broker's connections open. */
let slowRedis: TcpProxy | undefined;
let prefixCount = 0;
const heralds: Herald[] = [];
let server: TestServer | undefined;
const clients: HeraldClient[] = [];
const brokerErrors: Error[] = [];

beforeAll(async () => {
  redis = await startRedis();
  slowRedis = await startTcpProxy(redis.port, { holdFirstMs: 300 });
});
afterAll(async () => {
  await slowRedis?.close();
  await redis?.stop();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  await Promise.all(heralds.splice(0).map((h) => h.close()));
});

type Setup =
  "memory" | "memory, 8 partitions" | "redis" | "redis, two instances" | "redis, 4 partitions, two instances";

/** The publishing and the subscribed Herald (the same one unless `two`). */
function heraldsFor(setup: Setup): { publisher: Herald; subscribed: Herald } {
  // Dozens of reconnects from one address in a second: lift the per-IP attempt limit for this test.
  const make = (prefix: string) => {
    // With partitions, the three channels are in three partitions: each event's id is a cursor of three.
    const partitions = setup === "memory, 8 partitions" ? 8 : setup === "redis, 4 partitions, two instances" ? 4 : 1;
    const broker = setup.startsWith("memory")
      ? new MemoryBroker({ maxEventsPerChannel: 100_000, partitions })
      : new RedisBroker({
          url: `redis://127.0.0.1:${slowRedis!.port}`,
          prefix,
          partitions,
          onError: (e) => brokerErrors.push(e),
        });
    const herald = createHerald({ broker, limits: { connectPerIp: false } });
    heralds.push(herald);
    return herald;
  };
  const prefix = `resume${++prefixCount}`;
  const subscribed = make(prefix);
  return { subscribed, publisher: setup.includes("two instances") ? make(prefix) : subscribed };
}

describe.each<[Setup, boolean]>([
  ["memory", false],
  ["memory", true],
  ["memory, 8 partitions", false],
  ["redis", false],
  ["redis, two instances", false],
  ["redis, 4 partitions, two instances", false],
])("resume without loss (%s broker, fetch handler: %s)", (setup, useFetch) => {
  it("delivers every event exactly once, in order per channel, while connections are cut at random", async () => {
    brokerErrors.length = 0;
    const { publisher, subscribed } = heraldsFor(setup);
    const s = (server = await startServer(subscribed, { fetch: useFetch }));
    let connections = 0;
    s.server.on("connection", () => connections++);
    await resumeUnderCuts(
      {
        publish: (channel, data) => publisher.publish(channel, "tick", data),
        client: (random) => {
          const client = createHeraldClient({
            url: `${s.url}?`,
            EventSource: EventSource as never,
            backoff: { baseMs: 5, capMs: 40 },
            random,
            onlineTarget: null,
          });
          clients.push(client);
          return client;
        },
        sockets: () => s.sockets,
        connections: () => connections,
      },
      // About 2,000 events per channel, a cut about every 100 publishes.
      {
        subscribers: 20,
        channels: CHANNELS,
        total: 6000,
        cutChance: 1 / 100,
        minCuts: 20,
        seed: useFetch ? 7 : 42 + prefixCount,
      },
    );
    expect(brokerErrors).toEqual([]);
  }, 90_000);
});
