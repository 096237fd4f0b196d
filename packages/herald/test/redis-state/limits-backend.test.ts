/**
 * The pluggable rate-limit backend: `flexibleBackend` over rate-limiter-flexible's memory and Redis
 * limiters, behind the same synchronous `Limits` checks as the default token buckets.
 */
import { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flexibleBackend, type RateLimiterBackend } from "../../src/server/http/limits/backend.js";
import { Limits } from "../../src/server/http/limits/limits.js";
import { startRedis, type TestRedis } from "../redis/redis-server.js";

let redis: TestRedis;
let conn: Redis;
beforeAll(async () => {
  redis = await startRedis();
  conn = new Redis(redis.url);
});
afterAll(async () => {
  await conn?.quit();
  await redis?.stop();
});

/**
 * Waits until the store has answered what was sent: a PING on the same connection is answered
 * after every command before it (one connection answers in order), then the answers' callbacks run.
 * (A fixed 10 ms was a race on a busy machine.)
 */
const tick = async () => {
  await conn.ping();
  await new Promise((r) => setImmediate(r));
};
const only = (backend: RateLimiterBackend) =>
  new Limits({
    backend,
    connectPerIp: false,
    connectPerUser: false,
    routes: { token: { perUser: { capacity: 3, refillPerSecond: 1 }, perIp: false } },
  });

/** Counts how many of `n` attempts pass, all in the same turn (no answer from the store between). */
function burst(limits: Limits, n: number, user = "u"): { passed: number; retryAfter?: number } {
  let passed = 0;
  let retryAfter: number | undefined;
  for (let i = 0; i < n; i++) {
    try {
      limits.route("token", user, undefined);
      passed++;
    } catch (error) {
      expect(error).toMatchObject({ code: "rate_limited", status: 429 });
      retryAfter = (error as { retryAfter?: number }).retryAfter;
    }
  }
  return { passed, retryAfter };
}

describe("flexibleBackend", () => {
  it("over RateLimiterMemory: a process alone counts exactly, even in one burst; Retry-After is the window's rest", async () => {
    const limits = only(flexibleBackend(({ points, duration }) => new RateLimiterMemory({ points, duration })));
    expect(burst(limits, 10)).toEqual({ passed: 3, retryAfter: 3 });
    await tick();
    expect(burst(limits, 1).passed).toBe(0);
    expect(burst(limits, 3, "other").passed).toBe(3);
    expect(limits.trackedKeys()).toBe(2);
    limits.close();
    expect(limits.trackedKeys()).toBe(0);
  });

  it("over RateLimiterRedis: two processes share one count; past it each lets at most one more through", async () => {
    const backend = () =>
      flexibleBackend(
        ({ name, points, duration }) =>
          new RateLimiterRedis({ storeClient: conn, keyPrefix: `lb:${name}`, points, duration }),
      );
    const a = only(backend());
    const b = only(backend());
    expect(burst(a, 2).passed).toBe(2);
    await tick();
    expect(burst(b, 1).passed).toBe(1); // 3 of 3 used, between them
    await tick();
    // A believes one is left (its last answer); B knows none is. A's attempt is counted and refused by Redis.
    const more = burst(a, 1).passed + burst(b, 1).passed;
    expect(more).toBeLessThanOrEqual(1);
    await tick();
    expect(burst(a, 5).passed + burst(b, 5).passed).toBe(0);
    a.close();
    b.close();
  });

  it("a store that fails lets attempts through and reports the error", async () => {
    const errors: unknown[] = [];
    const broken = new RateLimiterMemory({ points: 1, duration: 1 });
    broken.consume = () => Promise.reject(new Error("store down"));
    const limits = only(flexibleBackend(() => broken, { onError: (e) => errors.push(e) }));
    expect(burst(limits, 3).passed).toBe(3);
    await tick();
    expect(burst(limits, 3).passed).toBe(3);
    expect(errors.length).toBeGreaterThan(0);
    limits.close();
  });
});
