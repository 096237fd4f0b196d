import { afterEach, describe, expect, it } from "vitest";
import { EventSource } from "eventsource";
import { createHerald, MemoryBroker, type Herald } from "../src/server/index.js";
import { createHeraldClient, type HeraldClient } from "../src/client/index.js";
import { startServer, waitFor, type TestServer } from "./helpers.js";

const CHANNELS = ["orders", "chat", "metrics"];
let herald: Herald | undefined;
let server: TestServer | undefined;
const clients: HeraldClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  await herald?.close();
});

/** Deterministic PRNG so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.each([
  ["node handler", false],
  ["fetch handler", true],
])("resume without loss (%s)", (_name, useFetch) => {
  it("delivers every event exactly once, in order per channel, while connections are cut at random", async () => {
    const random = prng(useFetch ? 7 : 42);
    // Dozens of reconnects from one address in a second: lift the per-IP attempt limit for this test.
    herald = createHerald({
      broker: new MemoryBroker({ maxEventsPerChannel: 100_000 }),
      limits: { connectPerIp: false },
    });
    server = await startServer(herald, { fetch: useFetch });
    const received: Map<string, number[]>[] = [];
    for (let i = 0; i < 6; i++) {
      const client = createHeraldClient({
        url: `${server.url}?`,
        EventSource: EventSource as never,
        backoff: { baseMs: 5, capMs: 40 },
        random,
        onlineTarget: null,
      });
      clients.push(client);
      const perChannel = new Map<string, number[]>();
      received.push(perChannel);
      // Each subscriber follows all three channels, or a random pair of them.
      const channels = i % 2 === 0 ? CHANNELS : CHANNELS.filter((c) => c !== CHANNELS[i % 3]);
      for (const channel of channels) {
        perChannel.set(channel, []);
        client.subscribe<{ n: number }>(channel, (e) => perChannel.get(channel)!.push(e.data.n));
      }
    }
    await waitFor(() => clients.every((c) => c.state === "connected"), 10_000, "all connected");

    const TOTAL = 3000;
    const counts = new Map(CHANNELS.map((c) => [c, 0]));
    // Cut a random subscriber's connection at random points of the stream (about one publish in
    // 50), driven by the seeded PRNG so a failing run can be replayed.
    let cuts = 0;
    for (let i = 0; i < TOTAL; i++) {
      const channel = CHANNELS[Math.floor(random() * CHANNELS.length)]!;
      const n = counts.get(channel)!;
      counts.set(channel, n + 1);
      await herald.publish(channel, "tick", { n });
      if (random() < 1 / 50) {
        const sockets = [...server.sockets];
        const victim = sockets[Math.floor(random() * sockets.length)];
        if (victim) {
          victim.destroy();
          cuts++;
        }
      }
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(cuts).toBeGreaterThanOrEqual(20);

    await waitFor(
      () =>
        received.every((perChannel) => [...perChannel].every(([channel, list]) => list.length >= counts.get(channel)!)),
      20_000,
      "every subscriber to catch up",
    );
    for (const perChannel of received) {
      for (const [channel, list] of perChannel) {
        expect(list).toEqual(Array.from({ length: counts.get(channel)! }, (_, n) => n));
      }
    }
  }, 60_000);
});
