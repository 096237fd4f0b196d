/**
 * RedisBroker's catch-up (issue 17's starvation report): while it holds live messages to read the
 * log, every channel of the process is held, the ones subscribed meanwhile included, and what it
 * releases goes out in one `seq` order. A subscriber of several channels (the Hub writes each
 * connection's events in `seq` order and skips anything at or below what it wrote) would otherwise
 * skip the held events of one channel once a newer event of another had gone out: lost, with no
 * gap. A message still missing when the catch-up releases (lost after its read) is caught up again
 * instead of being stepped over.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { RedisBroker, type RedisBrokerOptions } from "../../src/brokers/redis.js";
import type { StoredEvent } from "../../src/brokers/types.js";
import { waitFor } from "../helpers.js";
import { startRedis, type TestRedis } from "./redis-server.js";

let redis: TestRedis;
let prefixCount = 0;
const brokers: RedisBroker[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

function broker(options: RedisBrokerOptions = {}): RedisBroker {
  const b = new RedisBroker({ url: redis.url, prefix: `c${prefixCount}`, ...options });
  brokers.push(b);
  return b;
}

/** B's pub/sub connection, to make it miss a message behind its back. */
const subOf = (b: RedisBroker) => (b as unknown as { sub: Redis }).sub;

describe("RedisBroker catch-up", () => {
  it("holds a channel subscribed while a catch-up is pending, and releases every channel in seq order", async () => {
    prefixCount++;
    const publisher = broker();
    const b = broker();
    const got: StoredEvent[] = [];
    const listener = (event: StoredEvent) => got.push(event);
    await b.subscribe("y", listener).ready;
    await publisher.publish("y", "e", "0");
    await waitFor(() => got.length === 1, 5000, "the first event");
    // B misses one message on y; the next one tells it, and it holds every channel to catch up.
    await subOf(b).unsubscribe(`c${prefixCount}:bus:y`);
    await publisher.publish("y", "e", "missed");
    await subOf(b).subscribe(`c${prefixCount}:bus:y`);
    await publisher.publish("y", "e", "1");
    const channels = (b as unknown as { channels: Map<string, { held: unknown[] | null }> }).channels;
    await waitFor(() => channels.get("y")!.held !== null, 5000, "the catch-up to hold y");
    // Meanwhile the process starts following x too (a subscriber of x and y arrives).
    await b.subscribe("x", listener).ready;
    await publisher.publish("y", "e", "2");
    await publisher.publish("x", "e", "3");
    await waitFor(() => got.length === 5, 10_000, "every event");
    expect(got.map((e) => e.json)).toEqual(["0", "missed", "1", "2", "3"]);
    expect(got.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("catches up again when a message is still missing as it releases", async () => {
    prefixCount++;
    const publisher = broker();
    const b = broker();
    const got: StoredEvent[] = [];
    await b.subscribe("y", (event) => got.push(event)).ready;
    await publisher.publish("y", "e", "0");
    await waitFor(() => got.length === 1, 5000, "the first event");
    const bus = `c${prefixCount}:bus:y`;
    const miss = async (json: string) => {
      await subOf(b).unsubscribe(bus);
      await publisher.publish("y", "e", json);
      await subOf(b).subscribe(bus);
    };
    // Right after the catch-up has read the log, another message is lost and the next one is held.
    // (The catch-up reads the log through `snapshotGone`: the snapshot and what retention removed.)
    const internals = b as unknown as {
      snapshotGone: (...args: Parameters<RedisBroker["snapshot"]>) => Promise<unknown>;
      channels: Map<string, { held: unknown[] | null }>;
    };
    const snapshot = internals.snapshotGone.bind(b);
    let reads = 0;
    internals.snapshotGone = async (...args) => {
      const snap = await snapshot(...args);
      if (++reads === 1) {
        await miss("missed 2");
        await publisher.publish("y", "e", "2");
        await waitFor(() => (internals.channels.get("y")?.held?.length ?? 0) >= 2, 5000, "the next message held");
      }
      return snap;
    };
    await miss("missed 1");
    await publisher.publish("y", "e", "1"); // tells B it missed one: it catches up
    await waitFor(() => got.length >= 5, 10_000, "every event");
    expect(got.map((e) => e.json)).toEqual(["0", "missed 1", "1", "missed 2", "2"]);
    expect(reads).toBeGreaterThanOrEqual(2);
  });
});
