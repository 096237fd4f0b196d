import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EventSource } from "eventsource";
import { RedisBroker, type RedisBrokerOptions } from "../../src/brokers/redis.js";
import { createHerald, type Herald } from "../../src/server/index.js";
import { createHeraldClient, type HeraldClient } from "../../src/client/index.js";
import type { GapPayload } from "../../src/protocol/envelope.js";
import { openUntilConnected as open, startServer, waitFor, type TestServer } from "../helpers.js";
import { startRedis, type TestRedis } from "./redis-server.js";
import { startWs, type WsFixture } from "../ws-client/fixture.js";
import type { Redis } from "ioredis";

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

/** Two Herald instances (as if in two processes) on one Redis, each behind its own HTTP server. */
async function cluster(options: RedisBrokerOptions = {}): Promise<[Herald, TestServer, Herald, TestServer]> {
  const prefix = `h${++prefixCount}`;
  const make = async () => {
    const herald = createHerald({
      broker: new RedisBroker({ url: redis.url, prefix, ...options }),
      limits: { connectPerIp: false },
    });
    heralds.push(herald);
    const server = await startServer(herald);
    servers.push(server);
    return [herald, server] as const;
  };
  const [a, sa] = await make();
  const [b, sb] = await make();
  return [a, sa, b, sb];
}

/**
 * A client whose connections go to `target.url` (switchable: the next reconnect goes wherever it
 * points, with the client's cursor), collecting `n` of each channel and the gaps it is told about.
 */
function client(target: { url: string }, channels: string[]) {
  const origin = target.url;
  class Switching extends EventSource {
    constructor(url: string | URL, init?: { withCredentials?: boolean }) {
      super(String(url).replace(origin, target.url), init);
    }
  }
  const c = createHeraldClient({
    url: `${origin}?`,
    EventSource: Switching as never,
    backoff: { baseMs: 5, capMs: 40 },
    onlineTarget: null,
  });
  clients.push(c);
  const received = new Map<string, number[]>(channels.map((ch) => [ch, []]));
  const gaps: GapPayload[] = [];
  c.on("gap", (g) => gaps.push(g));
  for (const channel of channels) c.subscribe<{ n: number }>(channel, (e) => received.get(channel)!.push(e.data.n));
  return { c, received, gaps };
}

describe("Herald on RedisBroker", () => {
  it("delivers events published on one instance to subscribers of another, in order", async () => {
    const [, sa, b] = await cluster();
    const { c, received } = client({ url: sa.url }, ["orders", "chat"]);
    await waitFor(() => c.state === "connected", 10_000, "connected to A");
    for (let n = 0; n < 40; n++) await b.publish(n % 2 ? "chat" : "orders", "tick", { n });
    await waitFor(() => received.get("orders")!.length + received.get("chat")!.length === 40, 10_000, "40 events");
    expect(received.get("orders")).toEqual(Array.from({ length: 20 }, (_, k) => 2 * k));
    expect(received.get("chat")).toEqual(Array.from({ length: 20 }, (_, k) => 2 * k + 1));
  }, 30_000);

  it("resumes on another instance without loss: every event exactly once, in order", async () => {
    const [a, sa, b, sb] = await cluster();
    const target = { url: sa.url };
    const { c, received, gaps } = client(target, ["x", "y"]);
    await waitFor(() => c.state === "connected", 10_000, "connected to A");
    const TOTAL = 400;
    const counts = { x: 0, y: 0 };
    for (let i = 0; i < TOTAL; i++) {
      const channel = i % 3 === 0 ? "y" : "x";
      // Both instances publish: the sequence is broker-wide.
      await (i % 2 ? a : b).publish(channel, "tick", { n: counts[channel]++ });
      if (i === 150) {
        target.url = sb.url; // the next connection goes to B, with the client's cursor
        sa.cutAll();
      }
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await waitFor(
      () => received.get("x")!.length >= counts.x && received.get("y")!.length >= counts.y,
      20_000,
      "every event",
    );
    await new Promise((r) => setTimeout(r, 100)); // anything duplicated would arrive by now
    expect(received.get("x")).toEqual(Array.from({ length: counts.x }, (_, n) => n));
    expect(received.get("y")).toEqual(Array.from({ length: counts.y }, (_, n) => n));
    expect(gaps).toEqual([]);
    expect(sb.sockets.size).toBeGreaterThan(0);
    expect(c.state).toBe("connected");
  }, 60_000);

  it("reports a retention gap for a cursor before the trimmed part, then replays what is retained", async () => {
    const [a, , b] = await cluster({ maxEventsPerChannel: 3 });
    const first = await a.publish("a", "e", 0);
    for (let i = 1; i <= 5; i++) await a.publish("a", "e", i);
    const events = await open(b, `channel=a&lastEventId=${first}`);
    expect(events[0]!.event).toBe("herald:gap");
    expect(JSON.parse(events[0]!.data)).toMatchObject({ channel: "a", reason: "retention", cursor: first });
    expect(events.filter((e) => !e.event).map((e) => JSON.parse(e.data).data)).toEqual([3, 4, 5]);
    expect(events.at(-1)!.event).toBe("herald:connected");
  }, 30_000);

  it("after a Redis restart, old cursors get an epoch gap and live delivery works again", async () => {
    const [a, sa, b] = await cluster();
    const { c, received, gaps } = client({ url: sa.url }, ["room"]);
    await waitFor(() => c.state === "connected", 10_000, "connected to A");
    for (let n = 0; n < 5; n++) await b.publish("room", "tick", { n });
    await waitFor(() => received.get("room")!.length === 5, 10_000, "5 events");
    const oldCursor = c.cursor!;

    await redis.stop();
    await redis.start(); // empty: no persistence

    // A fresh request with the old cursor, on either instance, is told the log is gone.
    const events = await open(b, `channel=room&lastEventId=${oldCursor}`);
    expect(events.filter((e) => e.event === "herald:gap").map((e) => JSON.parse(e.data))).toEqual([
      { channel: "room", reason: "epoch", cursor: oldCursor },
    ]);
    expect(await a.broker.epoch()).not.toBe(oldCursor.split("-")[0]);

    // A's subscription to "room" lived through the restart (c still holds it): a new subscriber
    // on A gets what B publishes, whether it arrives live or by the catch-up after the reconnect.
    const late = client({ url: sa.url }, ["room"]);
    await waitFor(() => late.c.state === "connected", 10_000, "second client connected to A");
    for (let n = 5; n < 10; n++) await b.publish("room", "tick", { n });
    await waitFor(() => late.received.get("room")!.length === 5, 10_000, "events after the restart");
    expect(late.received.get("room")).toEqual([5, 6, 7, 8, 9]);
    expect(late.gaps).toEqual([]);

    // The first client stayed connected through the restart: its positions count in the old epoch,
    // so the first new-epoch event makes the server end its stream (epoch_changed); it reconnects
    // with its old cursor and is told plainly, with an epoch gap, instead of silently missing events.
    await waitFor(() => gaps.length === 1, 10_000, "the epoch gap for the client that stayed connected");
    expect(gaps[0]).toMatchObject({ channel: "room", reason: "epoch", cursor: oldCursor });
    await waitFor(() => c.state === "connected", 10_000, "reconnected");
    // A later cut resumes in the new epoch: no second gap, live events again.
    sa.cutAll();
    await waitFor(() => c.state !== "connected", 10_000, "cut");
    await waitFor(() => c.state === "connected", 10_000, "reconnected after the cut");
    for (let n = 10; n < 15; n++) await b.publish("room", "tick", { n });
    await waitFor(() => received.get("room")!.includes(14), 10_000, "events after the reconnect");
    expect(received.get("room")!.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
    expect(received.get("room")!.slice(-5)).toEqual([10, 11, 12, 13, 14]);
    expect(gaps).toHaveLength(1);
  }, 60_000);
});

/**
 * A cursor older than what a stream retains: the client is told once, with `herald:gap` (reason
 * "retention"), as on the MemoryBroker, never handed what is left as if nothing were missing. Two
 * ways to get there: a resume with an old cursor (here, events aged out), and a subscriber that
 * stayed connected while its process's pub/sub missed more events than the stream keeps (the
 * broker's catch-up then finds them trimmed), on SSE and on Herald's client over WebSocket (the
 * Pusher server closes with 4200 and the client resumes over the socket).
 */
describe("RedisBroker: a cursor past retention", () => {
  it("a resume whose events aged out of the stream gets one retention gap, then what is retained", async () => {
    const [a] = await cluster({ maxAgeMs: 300 });
    const first = await a.publish("a", "e", 0);
    await a.publish("a", "e", 1);
    // Wait until Redis' own clock has moved past the age bound of both events (no fixed sleep).
    for (const end = Date.now() + 10_000; (await a.broker.read("a", 0, 10)).events.length > 0;) {
      if (Date.now() > end) throw new Error("timed out waiting for the events to age out of the stream");
      await new Promise((r) => setTimeout(r, 50));
    }
    await a.publish("a", "e", 2);
    const events = await open(a, `channel=a&lastEventId=${first}`);
    const gaps = events.filter((e) => e.event === "herald:gap").map((e) => JSON.parse(e.data) as GapPayload);
    expect(gaps).toEqual([expect.objectContaining({ channel: "a", reason: "retention", cursor: first })]);
    expect(events.filter((e) => !e.event).map((e) => JSON.parse(e.data).data)).toEqual([2]);
    expect(events.at(-1)!.event).toBe("herald:connected");
  }, 30_000);

  it.each<["sse" | "ws"]>([["sse"], ["ws"]])(
    "a connected subscriber whose process missed more events than the stream keeps is told with one gap (%s)",
    async (transport) => {
      const prefix = `h${++prefixCount}`;
      const options = { url: redis.url, prefix, maxEventsPerChannel: 3 };
      // A serves the client (SSE, or the Pusher server for the WebSocket transport); B publishes.
      let a: Herald;
      let c: HeraldClient;
      if (transport === "ws") {
        const fx = await startWs({ broker: new RedisBroker(options) });
        fixtures.push(fx);
        a = fx.herald;
        c = fx.client();
      } else {
        a = createHerald({ broker: new RedisBroker(options), limits: { connectPerIp: false } });
        heralds.push(a);
        const server = await startServer(a);
        servers.push(server);
        c = client({ url: server.url }, []).c;
      }
      const b = createHerald({ broker: new RedisBroker(options) });
      heralds.push(b);
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
