/**
 * Metrics registration and cardinality: two instances, `singleton` and a hot reload share one
 * registry without "already registered"; a private registry by default; the prefix; 10,000
 * distinct channels and users leave the number of series where it was; the health, readiness and
 * metrics routes (with the bearer token); readiness on Redis follows the server. Real prom-client,
 * real Herald routes, a real redis-server.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import pino from "pino";
import { Registry, register as defaultRegistry } from "prom-client";
import { createHerald, type Herald } from "../../src/server/index.js";
import { heraldRedis } from "../../src/redis/index.js";
import { createNodeHandler, createRouteHandlers } from "../../src/next/index.js";
import { startRedis, type TestRedis } from "../redis/redis-server.js";
import { waitFor } from "../helpers.js";
import { parseScrape } from "./fixture.js";

const opened: Herald[] = [];
let redis: TestRedis | undefined;
afterEach(async () => {
  await Promise.all(opened.splice(0).map((h) => h.close()));
  await redis?.stop();
  redis = undefined;
});

function make(options: Parameters<typeof createHerald>[0]): Herald {
  const herald = createHerald(options);
  opened.push(herald);
  return herald;
}

const text = async (herald: Herald) => (await herald.metrics!.scrape()).body;

describe("metrics registration", () => {
  it("two instances on one registry: registered once, counted together, and one leaves on close", async () => {
    const registry = new Registry();
    const a = make({ metrics: { registry } });
    const b = make({ metrics: { registry } });
    await a.publish("one", "e", {});
    await b.publish("two", "e", {});
    await b.publish("two", "e", {});
    expect(parseScrape(await text(a)).get('herald_publishes_total{result="ok"}')).toBe(3);
    await b.close();
    expect(parseScrape(await text(a)).get('herald_publishes_total{result="ok"}')).toBe(1);
  });

  it("singleton and a hot reload (the module evaluated again, a new instance on the same registry) never throw", async () => {
    const registry = new Registry();
    const name = `obs-${Math.random()}`;
    const first = make({ singleton: name, metrics: { registry } });
    expect(make({ singleton: name, metrics: { registry } })).toBe(first);
    // A hot reload: the same module's code runs again and builds a new instance on the same registry.
    const reloaded = make({ metrics: { registry } });
    await reloaded.publish("one", "e", {});
    expect(parseScrape(await text(first)).get('herald_publishes_total{result="ok"}')).toBe(1);
  });

  it("registers into a private registry by default (never prom-client's global one), under the prefix asked", async () => {
    const plain = make({ metrics: {} });
    const prefixed = make({ metrics: { prefix: "rt_" } });
    expect(await text(plain)).toContain("# TYPE herald_connections gauge");
    expect(await text(prefixed)).toContain("# TYPE rt_connections gauge");
    expect(await text(prefixed)).not.toContain("herald_");
    expect(await defaultRegistry.metrics()).not.toContain("herald_");
  });

  it("without the option there are no metrics, and the route answers 404", async () => {
    const herald = make({});
    expect(herald.metrics).toBeUndefined();
    expect((await herald.routes.GET(new Request("http://x/api/realtime/metrics"))).status).toBe(404);
  });
});

describe("cardinality", () => {
  it("10,000 distinct channels and users leave the number of series bounded", async () => {
    const herald = make({ getUserId: (r) => r.header("x-user"), metrics: {}, limits: { connectPerIp: false } });
    const series = async () => parseScrape(await text(herald)).size;
    const traffic = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const channel = `room-${i}`;
        const token = await herald.tokens.issue(`user-${i}`);
        await herald.publish(channel, "e", { i });
        const poll = await herald.routes.GET(
          new Request(`http://x/api/realtime/poll?channel=${channel}&token=${token}`),
        );
        expect(poll.status).toBe(200);
        await poll.text();
        const refused = await herald.routes.GET(
          new Request(`http://x/api/realtime/sse?channel=${channel}&token=t${i}.x`),
        );
        expect(refused.status).toBe(401);
      }
    };
    await traffic(0, 10);
    const warm = await series();
    await traffic(10, 10_000);
    expect(await series()).toBe(warm);
    const body = await text(herald);
    expect(body).not.toMatch(/room-|user-\d/);
  }, 120_000);
});

describe("health, readiness and metrics routes", () => {
  it("serves …/health, …/ready and …/metrics (bearer token asked when set) in herald.routes", async () => {
    const herald = make({ metrics: { bearerToken: "s3cret" } });
    const get = (path: string, headers: Record<string, string> = {}) =>
      herald.routes.GET(new Request(`http://x/api/realtime/${path}`, { headers }));
    const health = await get("health");
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await get("ready");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, draining: false, broker: "ok" });
    expect((await get("metrics")).status).toBe(401);
    expect((await get("metrics", { authorization: "Bearer nope" })).status).toBe(401);
    const metrics = await get("metrics", { authorization: "Bearer s3cret" });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toContain("text/plain");
    expect(await metrics.text()).toContain("herald_publishes_total");
    await herald.close();
    const draining = await get("ready");
    expect(draining.status).toBe(503);
    expect(await draining.json()).toEqual({ ready: false, draining: true, broker: "ok" });
  });

  it("herald/next's route handlers and Node handler serve them too", async () => {
    const herald = make({ metrics: {} });
    const { GET } = createRouteHandlers({ herald });
    expect((await GET(new Request("http://x/api/realtime/ready"))).status).toBe(200);
    const node = createNodeHandler({ herald });
    const server = http.createServer((req, res) => {
      if (!node(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const metrics = await fetch(`http://127.0.0.1:${port}/api/realtime/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain("# TYPE herald_connections gauge");
      expect((await fetch(`http://127.0.0.1:${port}/api/realtime/health`)).status).toBe(200);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("is not ready while its Redis is down, ready again once it is back; Redis errors are counted", async () => {
    redis = await startRedis();
    const herald = make({ redis: heraldRedis(redis.url), metrics: {}, logger: pino({ level: "silent" }) });
    expect(await herald.ready()).toMatchObject({ ready: true });
    await redis.stop();
    expect(await herald.ready()).toEqual({ ready: false, draining: false, broker: "unreachable" });
    await waitFor(() => herald.stats().counters.redisErrors > 0, 20_000, "a Redis error to be counted");
    expect(parseScrape(await text(herald)).get("herald_redis_errors_total")).toBeGreaterThan(0);
    await redis.start();
    // Each check waits for Redis' answer (at most READY_TIMEOUT_MS); ask until it says yes.
    let ready = false;
    const deadline = Date.now() + 60_000;
    while (!ready && Date.now() < deadline) ready = (await herald.ready()).ready;
    expect(ready).toBe(true);
  }, 90_000);
});
