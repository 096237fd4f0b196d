/**
 * One engine under every transport: an SSE stream, a long-poll and a Pusher WebSocket on the same
 * channel of one process share the hub's one upstream broker subscription, each gets the event
 * once, and `herald.stats()` counts each transport. One publish path: a client event's metadata
 * (its sender's socket and user id) is stored with it and travels through the broker.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { BrokerListener } from "../src/brokers/types.js";
import { RedisBroker } from "../src/brokers/redis.js";
import { createPusherServer, signSocketAuth } from "../src/pusher/index.js";
import { createHerald, MemoryBroker, type Herald } from "../src/server/index.js";
import { waitFor } from "./helpers.js";
import { rawConnect } from "./pusher/raw.js";
import { startRedis } from "./redis/redis-server.js";

/** A real MemoryBroker that counts upstream subscriptions per channel. */
class CountingBroker extends MemoryBroker {
  subscribes = new Map<string, number>();
  override subscribe(channel: string, listener: BrokerListener) {
    this.subscribes.set(channel, (this.subscribes.get(channel) ?? 0) + 1);
    return super.subscribe(channel, listener);
  }
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Herald's routes and its Pusher server on one `node:http` server (port 0); closed after the test. */
async function serve(herald: Herald): Promise<number> {
  const pusher = createPusherServer({ herald, appId: "app-id", key: "app-key", secret: "app-secret" });
  const server = http.createServer((req, res) => {
    if (herald.handleNodeRoutes(req, res)) return;
    if (!pusher.handleRequest(req, res)) res.writeHead(404).end();
  });
  server.on("upgrade", (req, socket, head) => {
    if (!pusher.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(
    () => herald.close(),
    () => pusher.close(),
    () => new Promise((r) => (server.closeAllConnections(), server.close(r))),
  );
  return (server.address() as AddressInfo).port;
}

describe("one registry under SSE, long-poll and WebSocket", () => {
  it("one upstream subscription per channel, one delivery per connection, counted per transport", async () => {
    const broker = new CountingBroker();
    const herald = createHerald({ broker, limits: { connectPerIp: false } });
    const port = await serve(herald);
    const base = `http://127.0.0.1:${port}/api/realtime`;

    // SSE: read until connected, then keep reading.
    const controller = new AbortController();
    const sse = await fetch(`${base}/sse?channel=news`, { signal: controller.signal });
    const reader = sse.body!.getReader();
    let sseText = "";
    const pump = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        sseText += new TextDecoder().decode(value);
      }
    })();
    cleanups.push(
      () => pump,
      () => controller.abort(),
    );
    await waitFor(() => sseText.includes("herald:connected"));
    const cursor = /"cursor":"([^"]+)"/.exec(sseText)![1]!;

    // Long-poll from the same cursor, and a Pusher socket.
    const poll = fetch(`${base}/poll?channel=news&lastEventId=${cursor}&wait=20`).then((r) => r.json());
    const ws = await rawConnect(port);
    cleanups.push(() => ws.ws.close());
    ws.send("pusher:subscribe", { channel: "news" });
    await ws.waitFrame((f) => f.event === "pusher_internal:subscription_succeeded");
    await waitFor(() => herald.stats().pollWaiters === 1);

    await herald.publish("news", "story", { n: 1 });
    const answer = (await poll) as { events: { event: string; data: unknown }[] };
    expect(answer.events).toEqual([expect.objectContaining({ event: "story", data: { n: 1 } })]);
    await ws.waitFrame((f) => f.event === "story");
    await waitFor(() => sseText.includes("story"));

    expect(broker.subscribes.get("news")).toBe(1);
    const { transports } = herald.stats();
    expect(transports.sse).toMatchObject({ connections: 1, subscriptions: 1, delivered: 1 });
    expect(transports.poll).toMatchObject({ delivered: 1 });
    expect(transports.websocket).toMatchObject({ connections: 1, subscriptions: 1, delivered: 1 });

    // The last one out lets go upstream: the WebSocket leaving keeps the channel for SSE.
    ws.send("pusher:unsubscribe", { channel: "news" });
    await waitFor(() => herald.stats().transports.websocket!.subscriptions === 0);
    expect(herald.subscriberCount("news")).toBe(1);
    expect(broker.subscribes.get("news")).toBe(1);
  });
});

describe("one publish path: an event's metadata travels with it, across processes", () => {
  it("a client event on one process reaches another's sockets with the sender's user id, not the sender, and SSE too", async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const prefix = `meta-${Date.now()}`;
    const instances = await Promise.all(
      [0, 1].map(async () => {
        const herald = createHerald({
          broker: new RedisBroker({ url: redis.url, prefix }),
          limits: { connectPerIp: false },
        });
        return { herald, port: await serve(herald) };
      }),
    );
    const join = async (port: number, userId: string) => {
      const c = await rawConnect(port);
      cleanups.push(() => c.ws.close());
      const channelData = JSON.stringify({ user_id: userId });
      c.send("pusher:subscribe", {
        channel: "presence-room",
        channel_data: channelData,
        auth: signSocketAuth("app-key", "app-secret", `${c.socketId}:presence-room:${channelData}`),
      });
      await c.waitFrame((f) => f.event === "pusher_internal:subscription_succeeded");
      return c;
    };
    const ann = await join(instances[0]!.port, "ann");
    const bob = await join(instances[1]!.port, "bob");
    // An SSE subscriber of the room on the second process (Herald's own rules allow it here).
    const controller = new AbortController();
    cleanups.push(() => controller.abort());
    const sse = await fetch(`http://127.0.0.1:${instances[1]!.port}/api/realtime/sse?channel=presence-room`, {
      signal: controller.signal,
    });
    let sseText = "";
    void (async () => {
      const reader = sse.body!.getReader();
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        sseText += new TextDecoder().decode(value);
      }
    })();
    await waitFor(() => sseText.includes("herald:connected"));

    ann.send("client-typing", { typing: true }, "presence-room");
    const got = await bob.waitFrame((f) => f.event === "client-typing");
    expect(got).toMatchObject({ channel: "presence-room", user_id: "ann" });
    await waitFor(() => sseText.includes("client-typing"));
    expect(sseText).toMatch(/"event":"client-typing".*"userId":"ann"/);
    // The sender never gets its own event back, on its process or through the log.
    await instances[0]!.herald.publish("presence-room", "after", {});
    await ann.waitFrame((f) => f.event === "after");
    expect(ann.frames.some((f) => f.event === "client-typing")).toBe(false);
    const { events } = await instances[1]!.herald.broker.read("presence-room", 0, 10);
    expect(events.find((e) => e.event === "client-typing")?.meta).toEqual({ exclude: ann.socketId, userId: "ann" });
  });
});
