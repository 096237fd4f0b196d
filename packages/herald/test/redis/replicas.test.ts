/**
 * `RedisBroker({ replicas })`: a publish is accepted only once that many replicas hold it (`WAIT`
 * after the publish script, on the same connection), on a real redis-server and a real replica.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisBroker } from "../../src/brokers/redis.js";
import { startRedis, type TestRedis } from "./redis-server.js";

let master: TestRedis;
let replica: TestRedis | undefined;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  master = await startRedis();
});
afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => {});
  await replica?.stop();
  await master?.stop();
});

describe("publishes that wait for a replica", () => {
  it("are refused (broker_unavailable) while no replica confirms, and accepted, on the replica, once one does", async () => {
    const broker = new RedisBroker({ url: master.url, prefix: "rep", replicas: 1, replicaTimeoutMs: 200 });
    closers.push(() => broker.close());
    await expect(broker.publish("orders", "placed", '{"n":1}')).rejects.toMatchObject({ code: "broker_unavailable" });

    replica = await startRedis(["--replicaof", "127.0.0.1", String(master.port)]);
    const admin = new Redis(master.port, "127.0.0.1");
    closers.push(() => admin.quit());
    const online = async () => /slave0:.*state=online/.test(await admin.info("replication"));
    const deadline = Date.now() + 20_000;
    while (!(await online())) {
      if (Date.now() > deadline) throw new Error("the replica did not come online");
      await new Promise((r) => setTimeout(r, 50));
    }

    const stored = await broker.publish("orders", "placed", '{"n":2}');
    // The replica holds it: the log read there (a replica answers reads) has the accepted event.
    const onReplica = new Redis(replica.port, "127.0.0.1");
    closers.push(() => onReplica.quit());
    const entries = (await onReplica.xrange("{rep}:log:orders", "-", "+")) as [string, string[]][];
    expect(entries.map(([id]) => id)).toContain(`${stored.seq}-0`);
  }, 40_000);
});
