/**
 * Long-poll on the hub's per-channel registry, over real HTTP servers: a waiter whose cursor is the
 * predecessor of the next event on its channels is answered from the event in hand (no log read),
 * otherwise with at most one log read per request; lossless resume across many events and channels
 * (events on channels a poller does not follow move the broker-wide cursor too); a stored event
 * nested too deep to re-serialize does not stop a channel (replies embed the stored JSON as it is);
 * a channel followed only by pollers is subscribed upstream once, not once per poll cycle; `stats()`
 * counts held polls and poll deliveries.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHerald, MemoryBroker, type Herald } from "../src/server/index.js";
import type { BrokerListener } from "../src/brokers/types.js";
import { prng, waitFor, routesServer } from "./helpers.js";

const heralds: Herald[] = [];
const servers: http.Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await Promise.all(heralds.splice(0).map((h) => h.close()));
});

/** A real MemoryBroker that counts upstream subscriptions per channel and log reads. */
class CountingBroker extends MemoryBroker {
  subscribes = new Map<string, number>();
  snapshots = 0;
  override subscribe(channel: string, listener: BrokerListener) {
    this.subscribes.set(channel, (this.subscribes.get(channel) ?? 0) + 1);
    return super.subscribe(channel, listener);
  }
  override snapshot(channels: readonly string[], after: number, limitPerChannel: number) {
    this.snapshots++;
    return super.snapshot(channels, after, limitPerChannel);
  }
}

async function serve(path: "node" | "fetch", broker: CountingBroker = new CountingBroker()) {
  const herald = createHerald({ broker, limits: { connectPerIp: false, maxConnectionsPerIp: false } });
  heralds.push(herald);
  const server = await routesServer(herald, path);
  servers.push(server);
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/realtime`;
  return { herald, broker, base };
}

interface Reply {
  events: { channel: string; event: string; id: string; ts: number; data: unknown }[];
  cursor: string;
  retryMs: number;
  gaps: { channel: string; reason: string; cursor: string }[];
}

/** One poll; `text` is the raw body, `body` its parse. */
async function poll(base: string, channels: string[], cursor?: string, wait?: number) {
  const query = channels.map((c) => `channel=${c}`);
  if (cursor !== undefined) query.push(`lastEventId=${cursor}`);
  if (wait !== undefined) query.push(`wait=${wait}`);
  const response = await fetch(`${base}/poll?${query.join("&")}`);
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) as Reply };
}

describe.each(["node", "fetch"] as const)("long-poll on the hub (%s path)", (path) => {
  it("answers a waiter whose cursor is the event's predecessor from the event in hand, without reading the log", async () => {
    const { herald, broker, base } = await serve(path);
    const start = (await poll(base, ["a"])).body.cursor;
    // The hub does not know channel a yet: this long-poll reads the log once, then is held.
    let pending = poll(base, ["a"], start, 20);
    await waitFor(() => herald.stats().pollWaiters === 1, 10_000, "the first long-poll to be held");
    expect(herald.stats().pollReads).toBe(1);
    const first = await herald.publish("a", "e", { n: 1 });
    let reply = (await pending).body;
    expect(reply.events.map((e) => e.data)).toEqual([{ n: 1 }]);
    expect(reply.cursor).toBe(first);

    // From now on the hub vouches for a: held without a read, answered from the event in hand,
    // even after events on another channel moved the broker-wide position past the cursor.
    const reads = broker.snapshots;
    pending = poll(base, ["a"], reply.cursor, 20);
    await waitFor(() => herald.stats().pollWaiters === 1, 10_000, "the second long-poll to be held");
    for (let i = 0; i < 3; i++) await herald.publish("b", "elsewhere", { i });
    const second = await herald.publish("a", "e", { n: 2 });
    reply = (await pending).body;
    expect(reply.events.map((e) => [e.channel, e.data, e.id])).toEqual([["a", { n: 2 }, second]]);
    expect(reply.cursor).toBe(second);
    expect(broker.snapshots).toBe(reads);

    // A cursor from an event on another channel (after a's last one) is a predecessor too.
    const elsewhere = await herald.publish("b", "elsewhere", {});
    pending = poll(base, ["a"], elsewhere, 20);
    await waitFor(() => herald.stats().pollWaiters === 1, 10_000, "the third long-poll to be held");
    const third = await herald.publish("a", "e", { n: 3 });
    reply = (await pending).body;
    expect(reply.events.map((e) => e.id)).toEqual([third]);
    expect(broker.snapshots).toBe(reads);
    expect(herald.stats()).toMatchObject({ pollReads: 1, pollWaiters: 0 });
    expect(herald.stats().pollWakes).toBeGreaterThanOrEqual(3);
  });

  it("answers a poller late for a round from the events still in hand; one read once they are gone", async () => {
    const { herald, broker, base } = await serve(path);
    const start = (await poll(base, ["a", "b"])).body.cursor;
    const pending = poll(base, ["a", "b"], start, 20);
    await waitFor(() => herald.stats().pollWaiters === 1, 10_000, "the long-poll to be held");
    const first = await herald.publish("a", "e", { n: 0 });
    expect((await pending).body.cursor).toBe(first);

    // Events on a, b and elsewhere while the poller is away: the hub still has a's and b's.
    const ids: string[] = [];
    for (let n = 1; n <= 10; n++) {
      const id = await herald.publish(["a", "b", "c"][n % 3]!, "e", { n });
      if (n % 3 !== 2) ids.push(id);
    }
    const reads = broker.snapshots;
    const wakes = herald.stats().pollWakes;
    const late = (await poll(base, ["a", "b"], first, 20)).body;
    expect(late.events.map((e) => e.id)).toEqual(ids);
    expect(late.cursor).toBe(ids[ids.length - 1]);
    expect(broker.snapshots).toBe(reads); // answered from the events in hand
    expect(herald.stats().pollWakes).toBe(wakes + 1);

    // More events on a than the hub keeps in hand: the same poll reads the log, once.
    for (let n = 0; n < 100; n++) await herald.publish("a", "e", { n });
    const again = (await poll(base, ["a", "b"], late.cursor, 20)).body;
    expect(again.events.map((e) => (e.data as { n: number }).n)).toEqual([...Array(100).keys()]);
    expect(broker.snapshots).toBe(reads + 1);
  });

  it("reads the log once when the hub cannot vouch for the cursor, and answers at once", async () => {
    const { herald, broker, base } = await serve(path);
    const start = (await poll(base, ["a", "b"])).body.cursor;
    // Events on a and b before any long-poll: the hub does not follow them yet; one read.
    const two = await herald.publish("a", "e", { n: 2 });
    await herald.publish("c", "e", {});
    const three = await herald.publish("b", "e", { n: 3 });
    const reads = broker.snapshots;
    const reply = (await poll(base, ["a", "b"], start, 20)).body;
    expect(reply.events.map((e) => e.id)).toEqual([two, three]);
    expect(reply.cursor).toBe(three);
    expect(broker.snapshots - reads).toBe(1);
    expect(herald.stats()).toMatchObject({ pollWaiters: 0, pollReads: 1 });
  });

  it("resumes losslessly across many events and channels, on both the fast and the slow path", async () => {
    const { herald, broker, base } = await serve(path);
    const random = prng(path === "node" ? 17 : 29);
    const channels = ["a", "b", "c", "d"]; // nobody follows d: it only moves the broker-wide position
    const followers = [["a"], ["b"], ["a", "b"], ["a", "b", "c"], ["c"], ["a"], ["b", "c"]];
    const published: { channel: string; n: number; id: string }[] = [];
    let publishing = true;
    let requests = 0;

    // Every poller starts from the head before the first publish.
    const starts = await Promise.all(followers.map(async (follows) => (await poll(base, follows)).body.cursor));
    requests += starts.length;
    const pollers = followers.map(async (follows, index) => {
      const got: { channel: string; n: number; id: string }[] = [];
      let cursor = starts[index]!;
      const expected = () => published.filter((p) => follows.includes(p.channel)).length;
      while (publishing || got.length < expected()) {
        // Some pollers come back at once (their cursor is the last event's predecessor); the others
        // dawdle now and then, so events pile up after their cursor (the log is read).
        if (index % 2 === 1 && random() < 0.3) await new Promise((r) => setTimeout(r, random() * 30));
        const { status, body } = await poll(base, follows, cursor, 2);
        requests++;
        expect(status).toBe(200);
        expect(body.gaps).toEqual([]);
        for (const e of body.events) got.push({ channel: e.channel, n: (e.data as { n: number }).n, id: e.id });
        cursor = body.cursor;
      }
      return { follows, got };
    });

    await waitFor(() => herald.stats().pollWaiters > 0, 10_000, "pollers to be held");
    for (let n = 0; n < 400; n++) {
      const channel = channels[Math.floor(random() * channels.length)]!;
      const id = await herald.publish(channel, "e", { n });
      published.push({ channel, n, id });
      const pause = random();
      if (pause < 0.3) await new Promise((r) => setImmediate(r));
      else if (pause < 0.4) await new Promise((r) => setTimeout(r, random() * 10));
    }
    publishing = false;
    for (const { follows, got } of await Promise.all(pollers)) {
      const expected = published.filter((p) => follows.includes(p.channel));
      expect(got).toEqual(expected); // every event once, in order, with its id
    }
    const stats = herald.stats();
    expect(stats.pollWakes).toBeGreaterThan(0); // answered from the events in hand
    expect(stats.pollReads).toBeGreaterThan(0); // and from the log
    expect(stats.pollDelivered).toBeGreaterThan(0);
    expect(broker.snapshots).toBeLessThanOrEqual(requests); // at most one read per request
    expect(broker.subscribes.get("d")).toBeUndefined();
  }, 60_000);

  it("answers polls around an event nested too deep to re-serialize, embedding its stored JSON as it is", async () => {
    const { herald, broker, base } = await serve(path);
    const start = (await poll(base, ["deep"])).body.cursor;
    const before = await herald.publish("deep", "e", { n: 1 });
    // A held waiter, woken by the deep event itself.
    const held = poll(base, ["deep"], before, 20);
    await waitFor(() => herald.stats().pollWaiters === 1, 10_000, "the long-poll to be held");
    const nested = "[".repeat(5000) + "]".repeat(5000);
    const deep = await broker.publish("deep", "e", nested);
    const deepId = `${deep.epoch}-${deep.seq}`;
    const woken = await held;
    expect(woken.status).toBe(200);
    expect(woken.body.events.map((e) => e.id)).toEqual([deepId]);
    expect(woken.text).toContain(`"data":${nested}}`);
    const after = await herald.publish("deep", "e", { n: 3 });

    for (const wait of [undefined, 20]) {
      // Short and long polls from before it: all three events, the nested one as it was stored.
      const reply = await poll(base, ["deep"], start, wait);
      expect(reply.status).toBe(200);
      expect(reply.body.events.map((e) => e.id)).toEqual([before, deepId, after]);
      expect(reply.text).toContain(`"data":${nested}}`);
      expect(reply.body.events[2]!.data).toEqual({ n: 3 });
      expect(reply.body.cursor).toBe(after);
    }
    // A long-poll held with the deep event as the next one is answered with it, then the channel goes on.
    const next = poll(base, ["deep"], after, 20);
    await waitFor(() => herald.stats().pollWaiters === 1, 10_000, "the long-poll to be held");
    const again = await broker.publish("deep", "e", nested);
    const reply = await next;
    expect(reply.status).toBe(200);
    expect(reply.body.events.map((e) => e.id)).toEqual([`${again.epoch}-${again.seq}`]);
    const last = await herald.publish("deep", "e", { n: 5 });
    const tail = await poll(base, ["deep"], reply.body.cursor, 20);
    expect(tail.body.events.map((e) => e.data)).toEqual([{ n: 5 }]);
    expect(tail.body.cursor).toBe(last);
  });

  it("answers a stored text that is not JSON as null data, so polls before it go on", async () => {
    const { herald, broker, base } = await serve(path);
    const start = (await poll(base, ["bad"])).body.cursor;
    const held = poll(base, ["bad"], start, 20);
    await waitFor(() => herald.stats().pollWaiters === 1, 10_000, "the long-poll to be held");
    const bad = await broker.publish("bad", "e", "{not json");
    const woken = await held;
    expect(woken.status).toBe(200);
    expect(woken.body.events.map((e) => [e.id, e.data])).toEqual([[`${bad.epoch}-${bad.seq}`, null]]);
    const after = await herald.publish("bad", "e", { ok: true });
    for (const wait of [undefined, 20]) {
      const reply = await poll(base, ["bad"], start, wait);
      expect(reply.status).toBe(200);
      expect(reply.body.events.map((e) => e.data)).toEqual([null, { ok: true }]);
      expect(reply.body.cursor).toBe(after);
    }
  });

  it("keeps the reply's shape: events in the SSE envelope, then cursor, retryMs and gaps", async () => {
    const { herald, base } = await serve(path);
    const start = (await poll(base, ["a"])).body.cursor;
    const id = await herald.publish("a", "hello", { text: 'quote " and \\ and \n', list: [1, null] });
    for (const wait of [undefined, 20]) {
      const reply = await poll(base, ["a"], start, wait);
      expect(Object.keys(reply.body)).toEqual(["events", "cursor", "retryMs", "gaps"]);
      expect(reply.body).toEqual({
        events: [
          {
            channel: "a",
            event: "hello",
            id,
            ts: reply.body.events[0]!.ts,
            data: { text: 'quote " and \\ and \n', list: [1, null] },
          },
        ],
        cursor: id,
        retryMs: 250,
        gaps: [],
      });
      expect(Object.keys(reply.body.events[0]!)).toEqual(["channel", "event", "id", "ts", "data"]);
    }
  });

  it("subscribes a channel followed only by pollers upstream once, not once per poll cycle; stats count held polls", async () => {
    const { herald, broker, base } = await serve(path);
    let cursor = (await poll(base, ["p"])).body.cursor;
    for (let cycle = 0; cycle < 20; cycle++) {
      const pending = poll(base, ["p"], cursor, 20);
      await waitFor(() => herald.stats().pollWaiters === 1, 10_000, "the long-poll to be held");
      const id = await herald.publish("p", "e", { cycle });
      const reply = (await pending).body;
      expect(reply.events.map((e) => e.id)).toEqual([id]);
      cursor = reply.cursor;
    }
    expect(broker.subscribes.get("p")).toBe(1);

    // Three held polls on p (one of them also on q): counted while held, each woken by one event.
    const before = herald.stats().pollDelivered;
    const held = [poll(base, ["p"], cursor, 20), poll(base, ["p"], cursor, 20), poll(base, ["p", "q"], cursor, 20)];
    await waitFor(() => herald.stats().pollWaiters === 3, 10_000, "three long-polls to be held");
    expect(herald.stats().subscribers).toBe(0);
    await herald.publish("p", "e", {});
    await Promise.all(held);
    expect(herald.stats().pollWaiters).toBe(0);
    expect(herald.stats().pollDelivered - before).toBe(3);
    expect(broker.subscribes.get("p")).toBe(1);
  });
});
