import { decodeCursor, encodeCursor } from "../../protocol/cursor.js";
import { describe, expect, it } from "vitest";
import { MemoryBroker } from "../../brokers/memory.js";
import { Hub } from "./hub.js";
import { longPoll } from "./poll.js";
import { startSession } from "./session.js";
import type { Sink } from "./sink.js";
import { Subscriber } from "./subscriber.js";

/** A sink that records each write (a unit-test stand-in for a socket). */
class RecordingSink implements Sink {
  writes: string[] = [];
  write(chunk: Uint8Array) {
    this.writes.push(Buffer.from(chunk).toString());
  }
  buffered() {
    return 0;
  }
  end() {}
  destroy() {}
  events() {
    return this.writes.join("").match(/^data: /gm)?.length ?? 0;
  }
}

async function live(hub: Hub, broker: MemoryBroker, channels: string[]) {
  const sink = new RecordingSink();
  const sub = new Subscriber(String(Math.random()), channels, sink);
  await startSession(hub, broker, sub, null, null, 1000, 15_000);
  sink.writes = [];
  return sink;
}

const tick = () => new Promise((r) => setImmediate(r));
async function until(predicate: () => boolean) {
  for (let i = 0; i < 500 && !predicate(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(predicate()).toBe(true);
}

describe("hub coalescing", () => {
  it("writes what arrives in one tick once per subscriber, the same bytes to everyone", async () => {
    const broker = new MemoryBroker();
    const hub = new Hub(broker, { coalesceMs: 0 });
    const a = await live(hub, broker, ["c"]);
    const b = await live(hub, broker, ["c"]);
    for (let i = 0; i < 20; i++) void broker.publish("c", "e", String(i));
    await until(() => a.events() === 20 && b.events() === 20);
    expect(a.writes).toHaveLength(1);
    expect(b.writes).toEqual(a.writes);
    hub.closeAll();
  });

  it("merges frames from several channels into one seq-ordered write for a multi-channel subscriber", async () => {
    const broker = new MemoryBroker();
    const hub = new Hub(broker, { coalesceMs: 0 });
    const multi = await live(hub, broker, ["x", "y"]);
    for (let i = 0; i < 6; i++) void broker.publish(i % 2 ? "x" : "y", "e", String(i));
    await until(() => multi.events() === 6);
    expect(multi.writes).toHaveLength(1);
    const order = [...multi.writes[0]!.matchAll(/"data":(\d)/g)].map((m) => Number(m[1]));
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    hub.closeAll();
  });

  it("writes an event after a quiet spell at once, and coalesces the ones that follow within the window", async () => {
    const broker = new MemoryBroker();
    const hub = new Hub(broker, { coalesceMs: 300 });
    const sink = await live(hub, broker, ["c"]);
    await broker.publish("c", "e", "1");
    await until(() => sink.events() === 1); // first one: next tick, no waiting for the window
    for (let i = 2; i <= 4; i++) {
      await broker.publish("c", "e", String(i));
      await tick();
    }
    expect(sink.writes).toHaveLength(1); // held for the window...
    await until(() => sink.events() === 4);
    expect(sink.writes).toHaveLength(2); // ...then written together
    await broker.publish("c", "e", "5");
    hub.closeAll(); // closeAll clears a pending flush timer
    await new Promise((r) => setTimeout(r, 350));
    expect(sink.events()).toBe(4);
  });
});

/** A MemoryBroker that counts upstream subscriptions still open. */
class OpenCountingBroker extends MemoryBroker {
  open = 0;
  subscribes = 0;
  override subscribe(channel: string, listener: Parameters<MemoryBroker["subscribe"]>[1]) {
    this.subscribes++;
    this.open++;
    const subscription = super.subscribe(channel, listener);
    let live = true;
    return {
      ready: subscription.ready,
      unsubscribe: () => {
        if (live) this.open--;
        live = false;
        subscription.unsubscribe();
      },
    };
  }
}

describe("hub long-poll waiters", () => {
  async function cursorOf(broker: MemoryBroker) {
    return new Map([[0, { partition: 0, epoch: await broker.epoch(), seq: await broker.head() }]]);
  }

  it("answers held waiters from the events in hand, one shared answer, and times them out on the poll clock", async () => {
    let clock = 0;
    const broker = new OpenCountingBroker();
    const hub = new Hub(broker, { coalesceMs: 0, pollClock: () => clock, pollGraceMs: 1000 });
    const cursor = await cursorOf(broker);
    const text = encodeCursor(cursor);
    const signal = new AbortController().signal;
    const a = longPoll(hub, broker, ["c"], cursor, text, 5000, signal);
    const b = longPoll(hub, broker, ["c"], cursor, text, 5000, signal);
    await until(() => hub.stats().pollWaiters === 2);
    await broker.publish("c", "e", '{"n":1}');
    const [answerA, answerB] = await Promise.all([a, b]);
    expect(answerA).toBe(answerB); // built once, shared
    expect(JSON.parse(answerA.body)).toMatchObject({ events: [{ channel: "c", data: { n: 1 } }], gaps: [] });
    expect(hub.stats()).toMatchObject({ pollWaiters: 0, pollDelivered: 2, pollWakes: 2, idleChannels: 1 });

    // Nothing comes: answered empty (the same cursor) once the clock passes the deadline.
    const next = JSON.parse(answerA.body) as { cursor: string };
    const waiting = longPoll(hub, broker, ["c"], decodeCursor(next.cursor), next.cursor, 5000, signal);
    await until(() => hub.stats().pollWaiters === 1);
    expect(hub.stats().pollReads).toBe(2); // a and b read the log (the hub did not know c yet); this one did not
    clock += 4999;
    hub.sweepPolls();
    expect(hub.stats().pollWaiters).toBe(1);
    clock += 1;
    hub.sweepPolls();
    expect(JSON.parse((await waiting).body)).toEqual({ events: [], cursor: next.cursor, retryMs: 0, gaps: [] });
    hub.closeAll();
  });

  it("keeps a channel followed only by pollers subscribed for its grace, then lets go", async () => {
    let clock = 0;
    const broker = new OpenCountingBroker();
    const hub = new Hub(broker, { coalesceMs: 0, pollClock: () => clock, pollGraceMs: 1000 });
    const cursor = await cursorOf(broker);
    const text = encodeCursor(cursor);
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const pending = longPoll(hub, broker, ["c"], cursor, text, 5000, controller.signal);
      await until(() => hub.stats().pollWaiters === 1);
      controller.abort();
      // The client's signal is looked at on the poll timer, about once a second.
      clock += 999;
      hub.sweepPolls();
      expect(hub.stats().pollWaiters).toBe(1);
      clock += 1;
      hub.sweepPolls();
      expect(JSON.parse((await pending).body)).toMatchObject({ events: [], cursor: text });
      expect(hub.stats()).toMatchObject({ pollWaiters: 0, channels: 1, idleChannels: 1 });
      clock += 999;
      hub.sweepPolls();
      expect(broker.open).toBe(1);
    }
    expect(broker.subscribes).toBe(1);
    // An SSE subscriber takes the channel out of its grace too; when it leaves, the grace starts again.
    await live(hub, broker, ["c"]);
    expect(hub.stats().idleChannels).toBe(0);
    clock += 5000;
    hub.sweepPolls();
    expect(broker.open).toBe(1);
    hub.closeAll();
    expect(broker.open).toBe(0);
    expect(hub.stats()).toMatchObject({ channels: 0, idleChannels: 0, timerActive: false });
  });

  it("lets go of a channel only SSE followed at once, as before", async () => {
    const broker = new OpenCountingBroker();
    const hub = new Hub(broker, { coalesceMs: 0 });
    await live(hub, broker, ["s"]);
    expect(broker.open).toBe(1);
    hub.closeAll();
    expect(broker.open).toBe(0);
  });

  it("answers a multi-channel waiter once, in seq order, with the events of one flush across its channels", async () => {
    const broker = new MemoryBroker();
    const hub = new Hub(broker, { coalesceMs: 0 });
    const cursor = await cursorOf(broker);
    const text = encodeCursor(cursor);
    const pending = longPoll(hub, broker, ["x", "y"], cursor, text, 5000, new AbortController().signal);
    await until(() => hub.stats().pollWaiters === 1);
    for (let i = 0; i < 6; i++) void broker.publish(i % 2 ? "x" : "y", "e", String(i));
    const reply = JSON.parse((await pending).body) as { events: { data: number; id: string }[]; cursor: string };
    expect(reply.events.map((e) => e.data)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(reply.cursor).toBe(reply.events[5]!.id);
    hub.closeAll();
  });

  it("fails held waiters with server_closing on closeAll", async () => {
    const broker = new MemoryBroker();
    const hub = new Hub(broker);
    const cursor = await cursorOf(broker);
    const pending = longPoll(
      hub,
      broker,
      ["z"],
      cursor,
      `${cursor.get(0)!.epoch}-0`,
      5000,
      new AbortController().signal,
    );
    await until(() => hub.stats().pollWaiters === 1);
    hub.closeAll();
    await expect(pending).rejects.toMatchObject({ code: "server_closing" });
    expect(hub.stats()).toMatchObject({ pollWaiters: 0, channels: 0, timerActive: false });
  });
});
