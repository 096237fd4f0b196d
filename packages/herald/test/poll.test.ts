/**
 * The poll endpoint on the same cursor as SSE, on the Node path (`handleNodeRoutes`) and the Fetch
 * path (`herald.routes`): answers, cursors and ETags, long-polls woken by a publish, waiters freed
 * when the client goes away, gaps, and the same channel rules as the stream.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHerald, MemoryBroker, type Herald } from "../src/server/index.js";
import type { Broker, BrokerListener } from "../src/brokers/types.js";
import { waitFor, routesServer } from "./helpers.js";

const heralds: Herald[] = [];
const servers: http.Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await Promise.all(heralds.splice(0).map((h) => h.close()));
});

/** A real MemoryBroker that also counts its open listeners (to see long-poll waiters come and go). */
class CountingBroker extends MemoryBroker {
  listeners = 0;
  override subscribe(channel: string, listener: BrokerListener) {
    this.listeners++;
    const subscription = super.subscribe(channel, listener);
    let open = true;
    return {
      ready: subscription.ready,
      unsubscribe: () => {
        if (open) this.listeners--;
        open = false;
        subscription.unsubscribe();
      },
    };
  }
}

async function serve(path: "node" | "fetch", broker: Broker = new MemoryBroker()) {
  const herald = createHerald({ broker, getUserId: () => null, limits: { connectPerIp: false } });
  heralds.push(herald);
  const server = await routesServer(herald, path);
  servers.push(server);
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/realtime`;
  return { herald, base };
}

interface Reply {
  events: { channel: string; event: string; id: string; data: unknown }[];
  cursor: string;
  retryMs: number;
  gaps: { channel: string; reason: string; cursor: string }[];
}

async function poll(base: string, query: string, headers: Record<string, string> = {}, signal?: AbortSignal) {
  const response = await fetch(`${base}/poll?${query}`, { headers, signal });
  const text = await response.text();
  return {
    status: response.status,
    etag: response.headers.get("etag"),
    body: text ? (JSON.parse(text) as Reply) : null,
  };
}

describe.each(["node", "fetch"] as const)("poll (%s path)", (path) => {
  it("answers the events after the cursor across channels, the next cursor, and 304 when nothing changed", async () => {
    const { herald, base } = await serve(path);
    const first = await poll(base, "channel=a&channel=b");
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ events: [], gaps: [] });
    const start = first.body!.cursor;

    await herald.publish("a", "one", { n: 1 });
    await herald.publish("c", "elsewhere", {});
    const lastId = await herald.publish("b", "two", { n: 2 });
    const next = await poll(base, `channel=a&channel=b&lastEventId=${start}`);
    expect(next.body!.events.map((e) => [e.channel, e.event, e.data])).toEqual([
      ["a", "one", { n: 1 }],
      ["b", "two", { n: 2 }],
    ]);
    expect(next.body!.cursor).toBe(lastId);
    expect(next.etag).toBe(`"${lastId}"`);

    // Nothing new: the same cursor, the same ETag, so a conditional poll is a 304 without a body.
    const same = await poll(base, `channel=a&channel=b&lastEventId=${lastId}`, { "if-none-match": next.etag! });
    expect(same.status).toBe(304);
    expect(same.body).toBeNull();
    // A cursor sent as the Last-Event-ID header works too.
    const byHeader = await poll(base, "channel=a&channel=b", { "last-event-id": start });
    expect(byHeader.body!.events).toHaveLength(2);
  });

  it("holds a long-poll until an event arrives, then answers it (a first poll answers at once)", async () => {
    const { herald, base } = await serve(path);
    // No cursor yet: even with `wait`, the answer is immediate (where "now" is), not held.
    const { cursor } = (await poll(base, "channel=room&wait=20")).body!;
    const pending = poll(base, `channel=room&lastEventId=${cursor}&wait=20`);
    await new Promise((r) => setTimeout(r, 100));
    await herald.publish("room", "hello", { hi: true });
    const reply = await pending;
    expect(reply.status).toBe(200);
    expect(reply.body!.events.map((e) => e.data)).toEqual([{ hi: true }]);
  });

  it("frees a long-poll's waiter when its client goes away (its channels let go after their grace)", async () => {
    const broker = new CountingBroker();
    const { herald, base } = await serve(path, broker);
    const { cursor } = (await poll(base, "channel=x&channel=y")).body!;
    const controller = new AbortController();
    const pending = poll(base, `channel=x&channel=y&lastEventId=${cursor}&wait=20`, {}, controller.signal).catch(
      (e: Error) => e,
    );
    await waitFor(() => herald.stats().pollWaiters === 1, 5000, "the waiter to be held");
    // The hub's one upstream subscription per channel, not one per waiter.
    expect(broker.listeners).toBe(2);
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    await waitFor(() => herald.stats().pollWaiters === 0, 5000, "the waiter to be freed");
    // Kept for the grace period between polls (default 5 s), then released.
    await waitFor(() => broker.listeners === 0, 30_000, "the channels to be let go after their grace");
    expect(herald.stats()).toMatchObject({ channels: 0, idleChannels: 0, timerActive: false });
  }, 40_000);

  it("answers gaps as SSE does (a cursor from another log), and refuses channels as SSE does", async () => {
    const served = await serve(path);
    const other = createHerald();
    heralds.push(other);
    const foreign = await other.publish("a", "e", 1);
    const { base, herald } = served;
    const gapsBefore = herald.stats().gaps;
    const reply = await poll(base, `channel=a&lastEventId=${foreign}`);
    expect(reply.body!.gaps).toEqual([{ channel: "a", reason: "epoch", cursor: foreign }]);
    expect(reply.body!.events).toEqual([]);
    expect(herald.stats().gaps - gapsBefore).toBe(1); // counted beside SSE's

    const refused = await fetch(`${base}/poll?channel=user-alice`);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: "forbidden" } });
    const bad = await fetch(`${base}/poll?channel=a&wait=soon`);
    expect(bad.status).toBe(400);
  });
});
