/**
 * Which ioredis Herald's Redis parts run on in this test project: ioredis 5, or ioredis 6 in the
 * `ioredis6` project of vitest.config.ts (which resolves `ioredis` to the `ioredis6` dev dependency).
 * Checked on the wire, so an alias that silently fell back to v5 fails here: ioredis 6 opens each
 * connection with HELLO 3 (RESP3), ioredis 5 speaks RESP2. Every connection `heraldRedis` opens
 * (broker commands and pub/sub, stores, cancels, presence watch) is counted, after it was used.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { heraldRedis, type HeraldRedis } from "../../src/redis/index.js";
import { waitFor } from "../helpers.js";
import { startRedis, type TestRedis } from "./redis-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The ioredis major version `ioredis` resolves to in this project (vitest.config.ts). */
    ioredisMajor: 5 | 6;
  }
}

let redis: TestRedis;
let admin: Redis;
let herald: HeraldRedis;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  herald = heraldRedis(redis.url, { prefix: "major" })!;
});
afterAll(async () => {
  await herald?.close();
  await admin?.quit();
  await redis?.stop();
});

/** `resp=` of every client connected to the server (CLIENT LIST). */
async function protocols(): Promise<string[]> {
  const list = String(await admin.client("LIST"));
  return list
    .split("\n")
    .filter(Boolean)
    .map((line) => /(?:^| )resp=(\d)/.exec(line)?.[1] ?? "?");
}

it(`Herald's connections speak the protocol of ioredis ${inject("ioredisMajor")}`, async () => {
  const expected = inject("ioredisMajor") === 6 ? "3" : "2";
  // Use the connections: publish and receive through the broker, the stores, presence watching.
  const received: string[] = [];
  const subscription = herald.broker.subscribe("major", (event) => received.push(event.json));
  await subscription.ready;
  await herald.broker.publish("major", "e", '"hello"');
  await waitFor(() => received.length === 1, 10_000, "the broker's live message");
  subscription.unsubscribe();
  expect(await herald.tokenStore.wasUsed("none")).toBe(false);
  herald.presence.watch(() => {});
  await herald.presence.watching();

  // admin, the broker's two, the stores', the cancels' subscriber, presence's subscriber: six.
  let seen = await protocols();
  for (const end = Date.now() + 10_000; seen.length < 6 && Date.now() < end; seen = await protocols()) {
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(seen.length).toBeGreaterThanOrEqual(6);
  expect(seen).toEqual(seen.map(() => expected));
});
