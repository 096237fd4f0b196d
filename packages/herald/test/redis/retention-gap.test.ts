/**
 * A cursor older than what a Redis stream retains: the client is told once, with `herald:gap`
 * (reason "retention"), as on the MemoryBroker, never handed what is left as if nothing were
 * missing. Two ways to get there: a resume with an old cursor (the events aged out of the stream),
 * and a subscriber that stayed connected while its process's pub/sub missed more events than the
 * stream keeps (the broker's catch-up then finds the missing ones trimmed), on SSE and on Herald's
 * client over WebSocket (the Pusher server closes with 4200 and the client resumes over the socket).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { EventSource } from "eventsource";
import { RedisBroker, type RedisBrokerOptions } from "../../src/brokers/redis.js";
import { createHerald, type Herald } from "../../src/server/index.js";
import { createHeraldClient, type HeraldClient } from "../../src/client/index.js";
import type { GapPayload } from "../../src/protocol/envelope.js";
import { openUntilConnected, startServer, waitFor, type TestServer } from "../helpers.js";
import { startWs, type WsFixture } from "../ws-client/fixture.js";
import { startRedis, type TestRedis } from "./redis-server.js";

let redis: TestRedis;
let prefixCount = 0;
const heralds: Herald[] = [];
const servers: TestServer[] = [];
const clients: HeraldClient[] = [];
const fixtures: WsFixture[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(fixtures.splice(0).map((f) => f.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(heralds.splice(0).map((h) => h.close()));
});

function herald(prefix: string, options: RedisBrokerOptions = {}): Herald {
  const h = createHerald({
    broker: new RedisBroker({ url: redis.url, prefix, ...options }),
    limits: { connectPerIp: false },
  });
  heralds.push(h);
  return h;
}

describe("RedisBroker: a cursor past retention", () => {
  it("a resume whose events aged out of the stream gets one retention gap, then what is retained", async () => {
    const h = herald(`rg${++prefixCount}`, { maxAgeMs: 300 });
    const first = await h.publish("a", "e", 0);
    await h.publish("a", "e", 1);
    // Wait until Redis' own clock has moved past the age bound of both events (no fixed sleep).
    for (const end = Date.now() + 10_000; (await h.broker.read("a", 0, 10)).events.length > 0;) {
      if (Date.now() > end) throw new Error("timed out waiting for the events to age out of the stream");
      await new Promise((r) => setTimeout(r, 50));
    }
    await h.publish("a", "e", 2);
    const events = await openUntilConnected(h, `channel=a&lastEventId=${first}`);
    const gaps = events.filter((e) => e.event === "herald:gap").map((e) => JSON.parse(e.data) as GapPayload);
    expect(gaps).toEqual([expect.objectContaining({ channel: "a", reason: "retention", cursor: first })]);
    expect(events.filter((e) => !e.event).map((e) => JSON.parse(e.data).data)).toEqual([2]);
    expect(events.at(-1)!.event).toBe("herald:connected");
  }, 30_000);

  it.each<["sse" | "ws"]>([["sse"], ["ws"]])(
    "a connected subscriber whose process missed more events than the stream keeps is told with one gap (%s)",
    async (transport) => {
      const prefix = `rg${++prefixCount}`;
      const options = { url: redis.url, prefix, maxEventsPerChannel: 3 };
      let a: Herald;
      let c: HeraldClient;
      if (transport === "ws") {
        const fx = await startWs({ broker: new RedisBroker(options) });
        fixtures.push(fx);
        a = fx.herald;
        c = fx.client();
      } else {
        a = herald(prefix, { maxEventsPerChannel: 3 });
        const server = await startServer(a);
        servers.push(server);
        c = createHeraldClient({
          url: `${server.url}?`,
          EventSource: EventSource as never,
          backoff: { baseMs: 5, capMs: 40 },
          onlineTarget: null,
        });
        clients.push(c);
      }
      const b = herald(prefix, { maxEventsPerChannel: 3 });
      const received: number[] = [];
      const gaps: GapPayload[] = [];
      c.on("gap", (g) => gaps.push(g));
      c.subscribe<{ n: number }>("room", (e) => received.push(e.data.n));
      await waitFor(() => c.state === "connected", 10_000, "connected to A");
      await b.publish("room", "tick", { n: 0 });
      await waitFor(() => received.length === 1, 10_000, "the first event");

      // Behind A's back, its pub/sub connection stops listening while 10 events go out (the stream
      // keeps 3 events).
      const sub = (a.broker as unknown as { sub: Redis }).sub;
      await sub.unsubscribe(`${prefix}:bus:room`);
      for (let n = 1; n <= 10; n++) await b.publish("room", "tick", { n });
      await sub.subscribe(`${prefix}:bus:room`);
      // The next event tells A that one was missed (its `prev` is not A's last): A catches up from the log.
      await b.publish("room", "tick", { n: 11 });

      await waitFor(() => received.includes(11), 15_000, "the event after the cut");
      await waitFor(() => gaps.length > 0, 15_000, "a gap for the events the log no longer has");
      expect(gaps).toEqual([expect.objectContaining({ channel: "room", reason: "retention" })]);
      // After the gap, what the log still keeps (the last 3) is delivered, in order, once each.
      expect(received).toEqual([0, 9, 10, 11]);
      // Later events flow as usual, with no second gap.
      await b.publish("room", "tick", { n: 12 });
      await waitFor(() => received.includes(12), 10_000, "a later event");
      expect(gaps).toHaveLength(1);
      expect(received.filter((n) => n === 12)).toHaveLength(1);
    },
    60_000,
  );
});
