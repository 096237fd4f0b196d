/**
 * The client on the poll transport and transport negotiation, against a real server through a
 * real HTTP proxy: a proxy that buffers every response until it ends (SSE then never arrives)
 * makes the client fall back to long-polling and receive every event; when the proxy stops
 * buffering, the client upgrades back to SSE, losing and duplicating nothing. Also: tokens renewed
 * poll after poll, a hidden page pauses polling and catches up when shown, and the randomized
 * resume test on the poll transport.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { Broker } from "../src/brokers/types.js";
import { RedisBroker } from "../src/brokers/redis.js";
import { startRedis, type TestRedis } from "./redis/redis-server.js";
import { createHerald, MemoryBroker, type Herald } from "../src/server/index.js";
import { createHeraldClient, type HeraldClient, type VisibilityTarget } from "../src/client/index.js";
import { waitFor } from "./helpers.js";
import { resumeUnderCuts } from "./contract/resume-under-cuts.js";

const heralds: Herald[] = [];
let redis: TestRedis | undefined;
/** One redis-server for the file, started by the first test that needs it. */
const redisServer = async (): Promise<TestRedis> => (redis ??= await startRedis());
afterAll(async () => {
  await redis?.stop();
});
const servers: http.Server[] = [];
const clients: HeraldClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await Promise.all(heralds.splice(0).map((h) => h.close()));
});

async function listen(server: http.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** A Herald app with a cookie-less session: every request is user "u1" (so tokens are in play). */
async function app(
  limits: Parameters<typeof createHerald>[0] extends infer O ? (O & object)["limits"] : never = {},
  broker: Broker = new MemoryBroker({ maxEventsPerChannel: 100_000 }),
) {
  const herald = createHerald({
    broker,
    getUserId: () => "u1",
    limits: { connectPerIp: false, connectPerUser: false, ...limits },
  });
  heralds.push(herald);
  const server = http.createServer((req, res) => void herald.handleNodeRoutes(req, res));
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const port = await listen(server);
  return { herald, port, sockets };
}

/**
 * An HTTP proxy that, while `buffering`, holds each response until it has ended (as some
 * corporate proxies do), and otherwise streams it through. Counts the requests per path.
 */
async function proxy(targetPort: number) {
  const state = { buffering: true, paths: [] as string[] };
  const port = await listen(
    http.createServer((req, res) => {
      state.paths.push(new URL(req.url ?? "/", "http://x").pathname);
      const upstream = http.request(
        { host: "127.0.0.1", port: targetPort, path: req.url, method: req.method, headers: req.headers },
        (up) => {
          if (!state.buffering) {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
            return;
          }
          const chunks: Buffer[] = [];
          up.on("data", (c: Buffer) => chunks.push(c));
          up.on("end", () => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            res.end(Buffer.concat(chunks));
          });
        },
      );
      upstream.on("error", () => res.destroy());
      res.on("close", () => upstream.destroy());
      req.pipe(upstream);
    }),
  );
  return { state, url: `http://127.0.0.1:${port}` };
}

function tokenGetter(origin: string) {
  return async () => {
    const response = await fetch(`${origin}/api/realtime/token`, { method: "POST" });
    if (!response.ok) throw new Error(`token ${response.status}`);
    return ((await response.json()) as { token: string }).token;
  };
}

describe("poll transport and negotiation", () => {
  it("falls back to long-polling behind a buffering proxy, then upgrades to SSE, losing and duplicating nothing", async () => {
    const { herald, port } = await app();
    const via = await proxy(port);
    const client = createHeraldClient({
      url: `${via.url}/api/realtime/sse`,
      getToken: tokenGetter(via.url),
      sseOpenTimeoutMs: 500,
      negotiation: { probeAfterMs: 1500 },
      poll: { wait: 2 },
      backoff: { baseMs: 50, capMs: 200 },
      onlineTarget: null,
      visibilityTarget: null,
    });
    clients.push(client);
    const received: number[] = [];
    const transports: string[] = [];
    client.on("transport", (t) => transports.push(t));
    client.subscribe<{ n: number }>("feed", (e) => received.push(e.data.n));
    await waitFor(() => client.state === "connected", 15_000, "connected (on poll)");
    expect(client.transport).toBe("poll");

    let n = 0;
    for (; n < 20; n++) await herald.publish("feed", "tick", { n });
    await waitFor(() => received.length === 20, 15_000, "events over polling");

    // The proxy stops buffering: a probe opens SSE and the client moves over.
    via.state.buffering = false;
    const publishing = (async () => {
      while (client.transport !== "sse") {
        await herald.publish("feed", "tick", { n: n++ });
        await new Promise((r) => setTimeout(r, 20));
      }
      for (let i = 0; i < 20; i++) await herald.publish("feed", "tick", { n: n++ });
    })();
    await waitFor(() => client.transport === "sse", 20_000, "the upgrade to SSE");
    await publishing;
    await waitFor(() => received.length === n, 15_000, "every event after the upgrade");
    expect(received).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(transports).toEqual(["poll", "sse"]);
    expect(via.state.paths.filter((p) => p.endsWith("/poll")).length).toBeGreaterThan(1);
  }, 60_000);

  it("renews the token with every poll, and pauses while the page is hidden", async () => {
    const { herald, port } = await app();
    const origin = `http://127.0.0.1:${port}`;
    let tokens = 0;
    const listeners = new Set<() => void>();
    const page: VisibilityTarget & { visibilityState: string } = {
      visibilityState: "visible",
      addEventListener: (_type, listener) => void listeners.add(listener),
      removeEventListener: (_type, listener) => void listeners.delete(listener),
    };
    const getToken = tokenGetter(origin);
    const client = createHeraldClient({
      url: `${origin}/api/realtime/sse`,
      transport: "poll",
      poll: { wait: 0, idleMs: { baseMs: 100, capMs: 200 }, minIntervalMs: 50 },
      getToken: () => {
        tokens++;
        return getToken();
      },
      onlineTarget: null,
      visibilityTarget: page,
    });
    clients.push(client);
    const received: number[] = [];
    client.subscribe<{ n: number }>("room", (e) => received.push(e.data.n));
    await waitFor(() => client.state === "connected", 10_000, "connected");
    for (let n = 0; n < 5; n++) await herald.publish("room", "tick", { n });
    await waitFor(() => received.length === 5, 10_000, "five events");
    // Many polls, one token from the app: each answer carried the next single-use token.
    expect(tokens).toBe(1);

    page.visibilityState = "hidden";
    for (const l of listeners) l();
    await new Promise((r) => setTimeout(r, 400)); // any poll in flight returns
    for (let n = 5; n < 10; n++) await herald.publish("room", "tick", { n });
    await new Promise((r) => setTimeout(r, 600));
    expect(received).toHaveLength(5); // hidden: no polls
    page.visibilityState = "visible";
    for (const l of [...listeners]) l();
    await waitFor(() => received.length === 10, 10_000, "catching up when shown");
    expect(received).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(client.state).toBe("connected");
  }, 30_000);

  // With 4 partitions the three channels are in three: the poll cursor holds three positions.
  it.each<["memory" | "redis" | "redis, 4 partitions"]>([["memory"], ["redis"], ["redis, 4 partitions"]])(
    "resumes without loss on the poll transport while connections are cut at random (%s broker)",
    async (setup) => {
      const partitions = setup === "redis" ? 1 : 4;
      const broker = setup.startsWith("redis")
        ? new RedisBroker({ url: (await redisServer()).url, prefix: `poll-resume-${Date.now()}`, partitions })
        : undefined;
      const { herald, port, sockets } = await app({}, broker);
      const origin = `http://127.0.0.1:${port}`;
      await resumeUnderCuts(
        {
          publish: (channel, data) => herald.publish(channel, "tick", data),
          client: (random) => {
            const client = createHeraldClient({
              url: `${origin}/api/realtime/sse`,
              transport: "poll",
              poll: { wait: 5, minIntervalMs: 0 },
              getToken: tokenGetter(origin),
              backoff: { baseMs: 5, capMs: 40 },
              onlineTarget: null,
              visibilityTarget: null,
              random,
            });
            clients.push(client);
            return client;
          },
          sockets: () => sockets,
          connections: () => null,
        },
        { subscribers: 20, channels: ["a", "b", "c"], total: 1200, cutChance: 1 / 25, minCuts: 10, seed: 99 },
      );
    },
    90_000,
  );

  it("backs off on 429 and still delivers", async () => {
    const { herald, port } = await app({ connectPerUser: { capacity: 2, refillPerSecond: 4 } });
    const origin = `http://127.0.0.1:${port}`;
    const errors: string[] = [];
    const client = createHeraldClient({
      url: `${origin}/api/realtime/sse`,
      transport: "poll",
      poll: { wait: 0, idleMs: { baseMs: 50, capMs: 100 }, minIntervalMs: 0 },
      getToken: tokenGetter(origin),
      backoff: { baseMs: 50, capMs: 300 },
      onlineTarget: null,
      visibilityTarget: null,
    });
    clients.push(client);
    client.on("error", (e) => errors.push(e.code));
    const received: number[] = [];
    client.subscribe<{ n: number }>("x", (e) => received.push(e.data.n));
    await waitFor(() => client.state === "connected", 10_000, "connected");
    for (let n = 0; n < 10; n++) {
      await herald.publish("x", "tick", { n });
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(() => received.length === 10, 20_000, "every event despite 429s");
    expect(errors).toContain("rate_limited");
    expect(received).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }, 40_000);
});
