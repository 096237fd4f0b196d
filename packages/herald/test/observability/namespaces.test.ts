/**
 * The optional namespace label (`metrics: { namespaceLabel }`) and the presence-members gauge.
 * The label puts a channel's prefix on publishes, deliveries and subscriptions, never its name,
 * and 10,000 distinct channels in 10,000 distinct prefixes leave the number of series bounded (the
 * first `maxNamespaces` labels, then `other`). Presence members are counted per process, one per
 * user per channel. Real parts: node:http on port 0, prom-client, fetch, ws.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { rawConnect, type RawClient } from "../pusher/raw.js";
import { signSocketAuth } from "../../src/pusher/index.js";
import { createHerald } from "../../src/server/index.js";
import { channelNamespace, Namespaces, OTHER_NAMESPACE } from "../../src/server/core/telemetry.js";
import { waitFor } from "../helpers.js";
import { APP, SseReader, parseScrape, scrape, startObserved, type ObservedServer, type Scrape } from "./fixture.js";

const servers: ObservedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(...args: Parameters<typeof startObserved>): Promise<ObservedServer> {
  const server = await startObserved(...args);
  servers.push(server);
  return server;
}

/** The values of `label` across the series of the metric `name`. */
const labelValues = (m: Scrape, name: string, label: string) =>
  new Set(
    [...m.keys()]
      .filter((key) => key.startsWith(`${name}{`))
      .map((key) => new RegExp(`${label}="([^"]*)"`).exec(key)?.[1]),
  );

const connected = (text: string) => text.includes("event: herald:connected");

describe("channelNamespace and Namespaces", () => {
  it("takes the kind and the first word, and never a name without a separator", () => {
    expect(channelNamespace("user-42")).toBe("user");
    expect(channelNamespace("private-user-42")).toBe("private-user");
    expect(channelNamespace("presence-room.7")).toBe("presence-room");
    expect(channelNamespace("private-encrypted-dm-1")).toBe("private-encrypted-dm");
    expect(channelNamespace("cache-prices-eur")).toBe("cache-prices");
    expect(channelNamespace("task-abc")).toBe("task");
    for (const name of ["news", "private-alice", "-x", "room-"]) expect(channelNamespace(name)).toBe(OTHER_NAMESPACE);
  });

  it("keeps the first `max` labels, then `other`; a function that throws or returns junk is `other`", () => {
    const namespaces = new Namespaces(undefined, 2);
    expect(["a-1", "b-1", "c-1", "a-2"].map((c) => namespaces.of(c))).toEqual(["a", "b", OTHER_NAMESPACE, "a"]);
    const custom = new Namespaces((channel) => {
      if (channel === "boom") throw new Error("no");
      return channel === "long" ? "x".repeat(100) : channel.toUpperCase();
    });
    expect(["boom", "long", "", "ok"].map((c) => custom.of(c))).toEqual([
      OTHER_NAMESPACE,
      OTHER_NAMESPACE,
      OTHER_NAMESPACE,
      "OK",
    ]);
  });
});

describe("the namespace label", () => {
  it("labels publishes, deliveries and subscriptions; 10,000 distinct prefixes leave the series bounded", async () => {
    const server = await start({ metrics: { namespaceLabel: true, maxNamespaces: 20 } });
    const { herald, base } = server;
    // Live subscribers on three namespaces: SSE on room-1 and chat.7, a held long-poll on news.
    const room = new SseReader(`${base}/sse?channel=room-1`);
    const chat = new SseReader(`${base}/sse?channel=chat.7`);
    await room.until(connected, "room connected");
    await chat.until(connected, "chat connected");
    const first = (await (await fetch(`${base}/poll?channel=news`)).json()) as { cursor: string };
    const held = fetch(`${base}/poll?channel=news&lastEventId=${first.cursor}&wait=20`).then((r) => r.json());
    await waitFor(() => herald.stats().pollWaiters === 1, 20_000, "the long-poll to be held");

    const mid = await scrape(`${base}/metrics`);
    expect(mid.get('herald_subscriptions{transport="sse",namespace="room"}')).toBe(1);
    expect(mid.get('herald_subscriptions{transport="sse",namespace="chat"}')).toBe(1);
    expect(mid.get('herald_subscriptions{transport="poll",namespace="other"}')).toBe(1);

    await herald.publish("room-1", "e", 1);
    await herald.publish("room-2", "e", 2);
    await herald.publish("chat.7", "e", 3);
    await herald.publish("news", "e", 4);
    await expect(herald.publish("room-1", "e", undefined)).rejects.toThrow();
    await room.until((t) => t.includes('"data":1'), "room's event");
    await chat.until((t) => t.includes('"data":3'), "chat's event");
    await held;

    const traffic = async (from: number, to: number) => {
      for (let i = from; i < to; i++) await herald.publish(`p${i}-x`, "e", i);
    };
    await traffic(0, 100);
    const warm = await scrape(`${base}/metrics`);
    await traffic(100, 10_000);
    const m = await scrape(`${base}/metrics`);
    expect(m.size).toBe(warm.size);
    const namespaces = labelValues(m, "herald_publishes_total", "namespace");
    // room, chat, other and the first 17 p{i} (20 in all), and `other` for the rest.
    expect(namespaces.size).toBe(20);
    expect(namespaces).toContain(OTHER_NAMESPACE);
    expect(await (await fetch(`${base}/metrics`)).text()).not.toMatch(/room-|chat\.7|p9999/);

    const expected: Record<string, number> = {
      'herald_publishes_total{result="ok",namespace="room"}': 2,
      'herald_publishes_total{result="rejected",namespace="room"}': 1,
      'herald_publishes_total{result="ok",namespace="chat"}': 1,
      // news, and every p{i} past the cap: 10,000 - 17 + 1.
      'herald_publishes_total{result="ok",namespace="other"}': 9_984,
      'herald_publishes_total{result="ok",namespace="p0"}': 1,
      'herald_deliveries_total{transport="sse",namespace="room"}': 1,
      'herald_deliveries_total{transport="sse",namespace="chat"}': 1,
      'herald_deliveries_total{transport="poll",namespace="other"}': 1,
    };
    expect(Object.fromEntries(Object.keys(expected).map((key) => [key, m.get(key)]))).toEqual(expected);
    // The labelled series add up to the totals.
    const total = (name: string) =>
      [...m].filter(([key]) => key.startsWith(`${name}{`)).reduce((sum, [, value]) => sum + value, 0);
    expect(total("herald_publishes_total")).toBe(10_005);
    expect(total("herald_deliveries_total")).toBe(herald.stats().delivered + herald.stats().pollDelivered);
    await Promise.all([room.close(), chat.close()]);
  }, 120_000);

  it('on a shared registry the first instance decides; one without the label reports totals with namespace=""', async () => {
    const registry = new Registry();
    const labelled = createHerald({ metrics: { registry, namespaceLabel: true } });
    const plain = createHerald({ metrics: { registry } });
    try {
      await labelled.publish("room-1", "e", 1);
      await plain.publish("room-1", "e", 2);
      await plain.publish("room-2", "e", 3);
      const m = parseScrape(await registry.metrics());
      expect(m.get('herald_publishes_total{result="ok",namespace="room"}')).toBe(1);
      expect(m.get('herald_publishes_total{result="ok",namespace=""}')).toBe(2);
    } finally {
      await Promise.all([labelled.close(), plain.close()]);
    }
    const other = new Registry();
    const first = createHerald({ metrics: { registry: other } });
    const second = createHerald({ metrics: { registry: other, namespaceLabel: true } });
    try {
      await second.publish("room-1", "e", 1);
      expect(parseScrape(await other.metrics()).get('herald_publishes_total{result="ok"}')).toBe(1);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it("is off by default: no namespace label anywhere", async () => {
    const server = await start();
    await server.herald.publish("room-1", "e", 1);
    const text = await (await fetch(`${server.base}/metrics`)).text();
    expect(text).toContain('herald_publishes_total{result="ok"} 1');
    expect(text).not.toContain("namespace=");
  });
});

describe("WebSocket: namespaces and presence members", () => {
  const subscribe = async (c: RawClient, channel: string, userId?: string) => {
    if (userId === undefined) {
      c.send("pusher:subscribe", { channel });
    } else {
      const channelData = JSON.stringify({ user_id: userId });
      const auth = signSocketAuth(APP.key, APP.secret, `${c.socketId}:${channel}:${channelData}`);
      c.send("pusher:subscribe", { channel, auth, channel_data: channelData });
    }
    await c.waitFrame((f) => f.channel === channel && f.event === "pusher_internal:subscription_succeeded", 20_000);
  };

  it("counts presence members once per user per channel, and labels WebSocket subscriptions and deliveries", async () => {
    const server = await start({ authorize: () => true, metrics: { namespaceLabel: true } });
    const { herald, port, base } = server;
    const [alice1, alice2, bob, reader] = await Promise.all([1, 2, 3, 4].map(() => rawConnect(port)));
    await subscribe(alice1!, "presence-room-1", "alice");
    await subscribe(alice2!, "presence-room-1", "alice");
    await subscribe(bob!, "presence-room-1", "bob");
    await subscribe(bob!, "presence-room-2", "bob");
    await subscribe(reader!, "room-9");

    let m = await scrape(`${base}/metrics`);
    // alice (two connections) and bob on room 1, bob on room 2.
    expect(m.get('herald_presence_members{transport="websocket"}')).toBe(3);
    expect(m.get('herald_subscriptions{transport="websocket",namespace="presence-room"}')).toBe(4);
    expect(m.get('herald_subscriptions{transport="websocket",namespace="room"}')).toBe(1);

    await herald.publish("room-9", "e", {});
    await reader!.waitFrame((f) => f.event === "e", 20_000);
    alice2!.ws.close();
    await waitFor(() => herald.stats().transports.websocket!.connections === 3, 20_000, "alice's second socket to go");
    m = await scrape(`${base}/metrics`);
    expect(m.get('herald_presence_members{transport="websocket"}')).toBe(3);
    expect(m.get('herald_deliveries_total{transport="websocket",namespace="room"}')).toBe(1);
    bob!.ws.close();
    await waitFor(() => herald.stats().transports.websocket!.connections === 2, 20_000, "bob's socket to go");
    m = await scrape(`${base}/metrics`);
    expect(m.get('herald_presence_members{transport="websocket"}')).toBe(1);
    expect(m.get('herald_subscriptions{transport="websocket",namespace="presence-room"}')).toBe(1);
  }, 60_000);

  it("counts SSE presence members per transport: one per user per channel, however many tabs", async () => {
    const server = await start({ authorize: () => true });
    const { herald, base } = server;
    const stream = async (user: string) => {
      const res = await fetch(`${base}/token`, { method: "POST", headers: { "x-user": user } });
      const { token } = (await res.json()) as { token: string };
      const reader = new SseReader(`${base}/sse?channel=presence-room-1&token=${token}`);
      await reader.until((t) => t.includes("event: herald:presence"), `${user}'s member list`);
      return reader;
    };
    const tabs = [await stream("alice"), await stream("alice"), await stream("bob")];
    const members = async () => (await scrape(`${base}/metrics`)).get('herald_presence_members{transport="sse"}');
    expect(await members()).toBe(2);
    await tabs[0]!.close();
    await waitFor(() => herald.stats().subscribers === 2, 20_000, "alice's first tab to go");
    expect(await members()).toBe(2);
    await tabs[2]!.close();
    await waitFor(() => herald.stats().subscribers === 1, 20_000, "bob's tab to go");
    expect(await members()).toBe(1);
    await tabs[1]!.close();
    await waitFor(() => herald.stats().subscribers === 0, 20_000, "alice's second tab to go");
    expect(await members()).toBe(0);
  }, 60_000);
});
