import { describe, expect, it } from "vitest";
import { MemoryBroker } from "../../brokers/memory.js";
import { Hub } from "./hub.js";
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
