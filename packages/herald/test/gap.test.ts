import { afterEach, describe, expect, it } from "vitest";
import { createHerald, MemoryBroker, type Herald } from "../src/server/index.js";
import { openUntilConnected } from "./helpers.js";

let herald: Herald;
afterEach(() => herald?.close());

const open = (query: string) => openUntilConnected(herald, query);

describe("gap detection", () => {
  it("reports a gap per channel for a cursor from a previous epoch (restart), then goes live", async () => {
    const before = createHerald();
    const oldId = await before.publish("a", "e", 1);
    await before.close();
    herald = createHerald(); // a new process: new epoch
    await herald.publish("a", "e", 2);
    const events = await open(`channel=a&channel=b&lastEventId=${oldId}`);
    const gaps = events.filter((e) => e.event === "herald:gap").map((e) => JSON.parse(e.data));
    expect(gaps).toEqual([
      { channel: "a", reason: "epoch", cursor: oldId },
      { channel: "b", reason: "epoch", cursor: oldId },
    ]);
    expect(events.at(-1)!.event).toBe("herald:connected");
    // Nothing from the new epoch is replayed against an old cursor: the app refetches state instead.
    expect(events.filter((e) => !e.event)).toEqual([]);
  });

  it("reports a retention gap when the cursor fell out of the log, then replays what is retained", async () => {
    herald = createHerald({ broker: new MemoryBroker({ maxEventsPerChannel: 3 }) });
    const first = await herald.publish("a", "e", 0);
    for (let i = 1; i <= 5; i++) await herald.publish("a", "e", i);
    const events = await open(`channel=a&lastEventId=${first}`);
    expect(events[0]!.event).toBe("herald:gap");
    expect(JSON.parse(events[0]!.data)).toMatchObject({ channel: "a", reason: "retention" });
    expect(events.filter((e) => !e.event).map((e) => JSON.parse(e.data).data)).toEqual([3, 4, 5]);
  });

  it("reports a retention gap when events aged out", async () => {
    let now = 1_000_000;
    herald = createHerald({ broker: new MemoryBroker({ maxAgeMs: 1000, now: () => now }) });
    const first = await herald.publish("a", "e", 0);
    await herald.publish("a", "e", 1);
    now += 5000;
    const events = await open(`channel=a&lastEventId=${first}`);
    expect(events.map((e) => e.event)).toEqual(["herald:gap", "herald:connected"]);
  });

  it("reports an epoch gap for a cursor past the log's head (writes a failover lost), and one only for that partition", async () => {
    herald = createHerald({ broker: new MemoryBroker({ partitions: 8 }) });
    const a = await herald.publish("orders", "e", 1); // orders and chat are in two partitions
    const b = await herald.publish("chat", "e", 2);
    // A cursor whose chat position is past anything the log holds: as after a master lost its last writes.
    const [, epoch] = /^(?:\d+:)?([a-z0-9]+)-/.exec(b)!;
    const ahead = `${a}.${b.split(":")[0]}:${epoch}-99`;
    const events = await open(`channel=orders&channel=chat&lastEventId=${ahead}`);
    const gaps = events.filter((e) => e.event === "herald:gap").map((e) => JSON.parse(e.data));
    expect(gaps).toEqual([{ channel: "chat", reason: "epoch", cursor: ahead }]);
  });

  it("does not report a gap for a cursor inside retention", async () => {
    herald = createHerald({ broker: new MemoryBroker({ maxEventsPerChannel: 3 }) });
    await herald.publish("a", "e", 0);
    const id = await herald.publish("a", "e", 1);
    await herald.publish("a", "e", 2);
    const events = await open(`channel=a&lastEventId=${id}`);
    expect(events.map((e) => e.event ?? JSON.parse(e.data).data)).toEqual([2, "herald:connected"]);
  });
});
