/**
 * Herald's client over WebSocket (`transport: "ws"`) against Herald's own Pusher server on one
 * `node:http` server with Herald's routes: live events in order, lossless resume across random
 * cuts (catch-up through the poll route), presence, client events, refused auth.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RedisBroker } from "../../src/brokers/redis.js";
import { startRedis, type TestRedis } from "../redis/redis-server.js";
import type { ConnectionState, EventEnvelope } from "../../src/client/index.js";
import { startWs, waitFor, type WsFixture } from "./fixture.js";
import { resumeUnderCuts } from "../contract/resume-under-cuts.js";

let fx: WsFixture | undefined;
let redis: TestRedis | undefined;
/** One redis-server for the file, started by the first test that needs it. */
const redisServer = async (): Promise<TestRedis> => (redis ??= await startRedis());
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

describe("Herald's client on the WebSocket transport", () => {
  it("receives herald.publish events in order, reports the ws transport and the server's heartbeat", async () => {
    fx = await startWs();
    const client = fx.client();
    expect(client.transport).toBe("ws");
    const got: EventEnvelope<{ n: number }>[] = [];
    const connected: unknown[] = [];
    client.on("connected", (c) => connected.push(c));
    client.subscribe<{ n: number }>("orders", (e) => got.push(e));
    await waitFor(() => client.state === "connected", 5000, "connected");
    const ids: string[] = [];
    for (let n = 0; n < 50; n++) ids.push(await fx.herald.publish("orders", "placed", { n }));
    await fx.herald.publish("orders", "note", "plain string");
    await waitFor(() => got.length === 51, 5000, "51 events");
    expect(got.slice(0, 50).map((e) => e.data.n)).toEqual([...Array(50).keys()]);
    expect(got.slice(0, 50).map((e) => e.id)).toEqual(ids);
    expect(got[0]).toMatchObject({ channel: "orders", event: "placed" });
    expect(got[50]!.data).toBe("plain string");
    expect(client.cursor).toBe(got[50]!.id);
    expect(connected[0]).toMatchObject({ channels: ["orders"], heartbeat: 4000 });
    expect(client.transport).toBe("ws");
  });

  it.each<[string, boolean]>([
    ["over the socket itself (herald:resume)", true],
    ["through the poll route, from a server without Herald's extension", false],
  ])("catches up what was published while disconnected, %s", async (_how, onSocket) => {
    fx = await startWs({}, { resumeOverSocket: onSocket });

    const client = fx.client();
    const got: number[] = [];
    client.subscribe<{ n: number }>("chat", (e) => got.push(e.data.n));
    await waitFor(() => client.state === "connected", 5000, "connected");
    await fx.herald.publish("chat", "m", { n: 0 });
    await waitFor(() => got.length === 1);
    const states: ConnectionState[] = [];
    client.on("state", (t) => states.push(t.next));
    // Cut, and publish while the client is away (its retry waits at least 200 ms).
    const f = fx;
    const polls = f.polls;
    for (const s of f.wsSockets) s.destroy();
    for (let n = 1; n <= 20; n++) await f.herald.publish("chat", "m", { n });
    await waitFor(() => got.length >= 21 && client.state === "connected", 5000, "the missed events");
    const upgrades = f.upgrades;
    await f.herald.publish("chat", "m", { n: 21 });
    await waitFor(() => got.length >= 22, 5000, "the live tail");
    expect(got).toEqual([...Array(22).keys()]);
    expect(states).toEqual(["reconnecting", "connected"]);
    // Over the socket: no poll request; otherwise the catch-up went through the poll route.
    if (onSocket) expect(f.polls).toBe(polls);
    else expect(f.polls).toBeGreaterThan(polls);
    expect(f.upgrades).toBe(upgrades);
  });

  // With 4 partitions the three channels are in three: the resume cursor holds three positions.
  it.each<["memory" | "redis" | "redis, 4 partitions"]>([["memory"], ["redis"], ["redis, 4 partitions"]])(
    "delivers every event exactly once, in order per channel, while connections are cut at random (%s broker)",
    async (setup) => {
      const partitions = setup === "redis" ? 1 : 4;
      const f = (fx = await startWs(
        setup.startsWith("redis")
          ? {
              broker: new RedisBroker({
                url: (await redisServer()).url,
                prefix: `ws-resume-${Date.now()}`,
                partitions,
              }),
            }
          : {},
      ));
      await resumeUnderCuts(
        {
          publish: (channel, data) => f.herald.publish(channel, "tick", data),
          client: (random) => f.client({ random }),
          sockets: () => f.wsSockets,
          connections: () => f.upgrades,
        },
        {
          subscribers: 20,
          channels: ["orders", "chat", "metrics"],
          total: 3000,
          cutChance: 1 / 100,
          minCuts: 15,
          seed: 42,
        },
      );
    },
    90_000,
  );

  it("presence: members once per user, join and leave across clients, own member", async () => {
    fx = await startWs();
    const channel = "presence-room";
    const alice = fx.client({ user: "alice" });
    const bob = fx.client({ user: "bob" });
    const bob2 = fx.client({ user: "bob" }); // a second tab of bob's
    const events: string[] = [];
    alice.on("presence", (p) => events.push(`${p.type}:${p.member?.id ?? p.members?.map((m) => m.id).join(",")}`));
    alice.subscribe(channel, () => undefined);
    await waitFor(() => alice.presence(channel)?.count === 1, 5000, "alice alone");
    expect(alice.presence(channel)).toEqual({
      members: [{ id: "alice", info: { name: "User alice" } }],
      me: { id: "alice", info: { name: "User alice" } },
      count: 1,
    });
    bob.subscribe(channel, () => undefined);
    await waitFor(() => alice.presence(channel)?.count === 2, 5000, "bob joined");
    bob2.subscribe(channel, () => undefined);
    await waitFor(() => bob2.presence(channel)?.count === 2, 5000, "bob's second tab sees two");
    expect(bob2.presence(channel)!.me?.id).toBe("bob");
    bob.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(alice.presence(channel)!.count).toBe(2); // bob is still there (second tab)
    bob2.close();
    await waitFor(() => alice.presence(channel)?.count === 1, 5000, "bob left");
    expect(events).toEqual(["members:alice", "added:bob", "removed:bob"]);
    const same = alice.presence(channel);
    expect(alice.presence(channel)).toBe(same); // stable until it changes
  });

  it("client events reach the other subscribers, not the sender, with the sender's user id", async () => {
    fx = await startWs();
    const channel = "presence-chat";
    const alice = fx.client({ user: "alice" });
    const bob = fx.client({ user: "bob" });
    const atAlice: EventEnvelope[] = [];
    const atBob: EventEnvelope[] = [];
    alice.subscribe(channel, (e) => atAlice.push(e));
    bob.subscribe(channel, (e) => atBob.push(e));
    await waitFor(() => alice.state === "connected" && bob.state === "connected", 5000, "both connected");
    alice.send(channel, "client-typing", { typing: true });
    await waitFor(() => atBob.length === 1, 5000, "bob gets the client event");
    expect(atBob[0]).toMatchObject({ channel, event: "client-typing", data: { typing: true }, userId: "alice" });
    expect(atBob[0]!.id).toMatch(/^[a-z0-9]+-\d+$/);
    await fx.herald.publish(channel, "marker", {});
    await waitFor(() => atAlice.length === 1, 5000, "alice gets the marker");
    expect(atAlice.map((e) => e.event)).toEqual(["marker"]); // not her own client event
    // Private channels too; and the clear errors.
    expect(() => alice.send(channel, "typing", {})).toThrow(/client-/);
    expect(() => alice.send("public-room", "client-x", {})).toThrow(/private-\* and presence-\*/);
    expect(() => alice.send("presence-elsewhere", "client-x", {})).toThrow(/not subscribed/);
  });

  it("on SSE, client events go up as POST …/publish: an app without authorizePublish refuses them, as an error event", async () => {
    fx = await startWs();
    const { createHeraldClient } = await import("../../src/client/index.js");
    const sse = createHeraldClient({
      url: `${fx.origin}/api/realtime/sse`,
      onlineTarget: null,
      visibilityTarget: null,
    });
    try {
      const errors: { code: string; status?: number }[] = [];
      sse.on("error", (e) => errors.push(e));
      sse.subscribe("private-room", () => undefined);
      await waitFor(() => sse.state === "connected", 5000, "SSE connected");
      expect(sse.transport).toBe("sse");
      sse.send("private-room", "client-x", {});
      await waitFor(() => errors.length === 1, 5000, "the refusal");
      expect(errors[0]).toMatchObject({ status: 404 });
      expect(sse.state).toBe("connected"); // a refused client event leaves the connection alone
      expect(sse.presence("private-room")).toBeNull();
    } finally {
      sse.close();
    }
  });

  it("a private channel signed with the wrong secret ends in failed (unauthorized)", async () => {
    fx = await startWs();
    const client = fx.client({ mode: "wrong-secret" });
    const errors: string[] = [];
    client.on("error", (e) => errors.push(e.code));
    client.subscribe("private-orders", () => undefined);
    await waitFor(() => client.state === "failed", 5000, "failed");
    expect(errors).toContain("unauthorized");
    // The same channel signed properly works.
    const good = fx.client();
    good.subscribe("private-orders", () => undefined);
    await waitFor(() => good.state === "connected", 5000, "connected");
  });

  it("a reserved channel (user-*) is refused on WebSocket: failed (forbidden)", async () => {
    fx = await startWs();
    const client = fx.client();
    client.subscribe("user-42", () => undefined);
    await waitFor(() => client.state === "failed", 5000, "failed");
  });

  it('an unknown app key ends in failed; transport "ws" without the transport is a TypeError', async () => {
    fx = await startWs();
    const client = fx.client({ source: { url: fx.wsUrl.replace("app-key", "not-the-key") } });
    const errors: string[] = [];
    client.on("error", (e) => errors.push(e.code));
    client.subscribe("orders", () => undefined);
    await waitFor(() => client.state === "failed", 5000, "failed");
    expect(errors).toContain("pusher_4001");
    const { createHeraldClient } = await import("../../src/client/index.js");
    expect(() => createHeraldClient({ url: "/api/realtime/sse", transport: "ws" })).toThrow(
      /createWebSocketEventSource/,
    );
  });
});
