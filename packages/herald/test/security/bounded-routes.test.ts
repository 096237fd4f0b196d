/**
 * Issue 13, items 1-3 and 11: every JSON route is rate limited per user and per address (429 with
 * Retry-After), tokens carry at most the stream's channel limit, tasks have a per-user concurrency
 * cap, the client's address is found the same way on both paths (trusting a proxy's header only
 * when told to), and authorizePublish only ever sees validated names.
 */
import { afterEach, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  createClientPublisher,
  createHerald,
  createTasks,
  createTokens,
  MemoryTokenStore,
  type Herald,
} from "../../src/server/index.js";
import { createNodeHandler, createRouteHandlers } from "../../src/next/index.js";
import { clientAddress } from "../../src/server/http/limits/client-ip.js";
import { DEFAULT_ROUTE_LIMITS, Limits } from "../../src/server/http/limits/limits.js";
import { startServer, waitFor, type TestServer } from "../helpers.js";

let herald: Herald | undefined;
let server: TestServer | undefined;
let nodeServer: http.Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  nodeServer?.closeAllConnections();
  await new Promise((r) => (nodeServer ? nodeServer.close(r) : r(null)));
  nodeServer = undefined;
  await herald?.close();
  herald = undefined;
});

const post = (url: string, headers: Record<string, string> = {}) => new Request(url, { method: "POST", headers });
const get = (url: string, headers: Record<string, string> = {}) => new Request(url, { headers });

describe("the token route", () => {
  it("is rate limited per user: 429 rate_limited with Retry-After, other users unaffected", async () => {
    herald = createHerald();
    const { POST } = createRouteHandlers({ herald, tokens: createTokens(), getUserId: (r) => r.headers.get("x-user") });
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 100; i++) {
      const res = await POST(post("http://app.local/api/realtime/token", { "x-user": "mallory" }));
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(
      DEFAULT_ROUTE_LIMITS.token.perUser.capacity + 1,
    );
    expect(limited).toBeDefined();
    expect(Number(limited!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await limited!.json()).error.code).toBe("rate_limited");
    const other = await POST(post("http://app.local/api/realtime/token", { "x-user": "alice" }));
    expect(other.status).toBe(200);
  });

  it("is rate limited per address, signed-in users or not (Node path, socket address)", async () => {
    herald = createHerald();
    const handler = createNodeHandler({
      herald,
      tokens: createTokens(),
      getUserId: (req) => String(req.headers["x-user"]),
    });
    nodeServer = http.createServer((req, res) => void (handler(req, res) || res.writeHead(404).end()));
    await new Promise<void>((r) => nodeServer!.listen(0, "127.0.0.1", r));
    const port = (nodeServer.address() as AddressInfo).port;
    const statuses: number[] = [];
    // A different user each time: only the per-address bucket can stop this.
    const { capacity, refillPerSecond } = DEFAULT_ROUTE_LIMITS.token.perIp;
    const start = Date.now();
    for (let i = 0; i < capacity + 20; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/api/realtime/token`, {
        method: "POST",
        headers: { "x-user": `u${i}` },
      });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    // The bucket refills while the loop runs (slowly on a loaded machine): at most what it held
    // plus what it earned meanwhile.
    const earned = Math.ceil(((Date.now() - start) / 1000) * refillPerSecond);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(capacity + earned + 1);
  });

  it("refuses more channels than a stream may follow with 400 too_many_channels, storing nothing", async () => {
    herald = createHerald();
    const store = new MemoryTokenStore();
    const tokens = createTokens({ store });
    const { POST } = createRouteHandlers({ herald, tokens, getUserId: () => "mallory" });
    const query = Array.from({ length: 33 }, (_, i) => `channel=c${i}`).join("&");
    const res = await POST(post(`http://app.local/api/realtime/token?${query}`));
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ code: "too_many_channels", limit: 32 });
    // The issue's 1,000 channels: refused by the URL cap (414) before parsing.
    const huge = Array.from({ length: 1000 }, (_, i) => `channel=c${i}`).join("&");
    expect((await POST(post(`http://app.local/api/realtime/token?${huge}`))).status).toBe(414);
    const ok = await POST(
      post(`http://app.local/api/realtime/token?${Array.from({ length: 32 }, (_, i) => `channel=c${i}`).join("&")}`),
    );
    expect(ok.status).toBe(200);
    expect(store.size).toBe(1);
    // The library itself bounds it, whatever route calls it.
    await expect(tokens.issue("u", { channels: Array.from({ length: 33 }, (_, i) => `c${i}`) })).rejects.toMatchObject({
      code: "too_many_channels",
      status: 400,
    });
    await expect(tokens.issue("u", { channels: ["bad\r\nname"] })).rejects.toMatchObject({ code: "invalid_channel" });
    expect(store.size).toBe(1);
  });
});

describe("the task routes and the publish route", () => {
  it("rate limit the task list, snapshots, cancel and publish per user", async () => {
    herald = createHerald();
    const tasks = createTasks(herald);
    const publisher = createClientPublisher(herald, {
      authorizePublish: () => true,
      rate: { capacity: 1000, refillPerSecond: 1000 },
    });
    const { GET, POST } = createRouteHandlers({ herald, tasks, publisher, getUserId: (r) => r.headers.get("x-user") });
    const user = { "x-user": "mallory", "content-type": "application/json" };
    const task = await tasks.start("mallory", async () => 1);
    await tasks.wait(task.id, "mallory");
    const hammer = async (make: () => Promise<Response>, n: number) => {
      const statuses: number[] = [];
      for (let i = 0; i < n; i++) {
        const res = await make();
        statuses.push(res.status);
        if (res.status === 429) {
          expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
          expect((await res.json()).error.code).toBe("rate_limited");
          return statuses;
        }
        await res.arrayBuffer();
      }
      return statuses;
    };
    const list = await hammer(() => GET(get("http://app.local/api/realtime/tasks", user)), 200);
    expect(list.at(-1)).toBe(429);
    const snapshot = await hammer(() => GET(get(`http://app.local/api/realtime/tasks/${task.id}`, user)), 300);
    expect(snapshot.at(-1)).toBe(429);
    const cancel = await hammer(() => POST(post(`http://app.local/api/realtime/tasks/${task.id}/cancel`, user)), 200);
    expect(cancel.at(-1)).toBe(429);
    const body = JSON.stringify({ channel: "room", event: "client-x", data: 1 });
    const publish = await hammer(
      () => POST(new Request("http://app.local/api/realtime/publish", { method: "POST", headers: user, body })),
      300,
    );
    expect(publish.at(-1)).toBe(429);
    // Another user is not affected.
    const other = await GET(get("http://app.local/api/realtime/tasks", { "x-user": "alice" }));
    expect(other.status).toBe(200);
  });

  it("route limits are options: LimitOptions.routes changes or turns them off", () => {
    const limits = new Limits({
      routes: { token: { perUser: { capacity: 2, refillPerSecond: 0.01 } }, publish: false },
    });
    limits.route("token", "u", undefined);
    limits.route("token", "u", undefined);
    expect(() => limits.route("token", "u", undefined)).toThrow(expect.objectContaining({ code: "rate_limited" }));
    for (let i = 0; i < 1000; i++) limits.route("publish", "u", "1.2.3.4");
    limits.close();
  });
});

describe("tasks per user", () => {
  it("caps running tasks per user (default 5): 100 starts at once start 5, the rest get 429 too_many_tasks", async () => {
    herald = createHerald();
    const tasks = createTasks(herald);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, () => tasks.start("mallory", () => gate.then(() => "done"))),
    );
    const started = results.filter((r) => r.status === "fulfilled");
    expect(started).toHaveLength(5);
    const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ code: "too_many_tasks", status: 429 });
    // Another user still can.
    const other = await tasks.start("alice", async () => 1);
    await tasks.wait(other.id, "alice");
    // Once they end, the user may start again.
    release();
    for (const r of started) await tasks.wait((r as PromiseFulfilledResult<{ id: string }>).value.id, "mallory");
    const again = await tasks.start("mallory", async () => 2);
    await tasks.wait(again.id, "mallory");
    tasks.close?.();
  });

  it("maxRunningPerUser is an option", async () => {
    herald = createHerald();
    const tasks = createTasks(herald, { maxRunningPerUser: 1 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = await tasks.start("u", () => gate);
    await expect(tasks.start("u", async () => 1)).rejects.toMatchObject({ code: "too_many_tasks" });
    release();
    await tasks.wait(first.id, "u");
    tasks.close?.();
  });
});

describe("the client's address", () => {
  it("reads X-Forwarded-For only as far as the trusted proxies wrote it", () => {
    expect(clientAddress(false, "10.0.0.1", "6.6.6.6")).toBe("10.0.0.1");
    expect(clientAddress(undefined, "10.0.0.1", "6.6.6.6")).toBe("10.0.0.1");
    expect(clientAddress(1, "10.0.0.1", "6.6.6.6, 203.0.113.7")).toBe("203.0.113.7");
    expect(clientAddress(2, "10.0.0.1", "6.6.6.6, 203.0.113.7, 10.0.0.2")).toBe("203.0.113.7");
    expect(clientAddress(true, "10.0.0.1", "203.0.113.7, 10.0.0.2")).toBe("203.0.113.7");
    expect(clientAddress(3, "10.0.0.1", "203.0.113.7")).toBe("203.0.113.7");
    expect(clientAddress(1, "10.0.0.1", null)).toBe("10.0.0.1");
    expect(clientAddress(1, undefined, "x".repeat(500))).toBeUndefined();
    expect(clientAddress(1, "10.0.0.1", "a\u0000b")).toBe("10.0.0.1");
  });

  it("behind a trusted proxy, one client cannot exhaust the per-IP cap for everyone (Node SSE path)", async () => {
    herald = createHerald({ trustProxy: 1, limits: { connectPerIp: false, maxConnectionsPerIp: 2 } });
    server = await startServer(herald);
    const open = (ip: string) => fetch(`${server!.url}?channel=a`, { headers: { "x-forwarded-for": ip } });
    const a1 = await open("203.0.113.1");
    const a2 = await open("203.0.113.1");
    const a3 = await open("203.0.113.1");
    expect([a1.status, a2.status, a3.status]).toEqual([200, 200, 429]);
    const b = await open("203.0.113.2");
    expect(b.status).toBe(200);
    // A client-supplied entry left of the proxy's is ignored.
    const spoof = await open("198.51.100.9, 203.0.113.1");
    expect(spoof.status).toBe(429);
    for (const r of [a1, a2, b]) await r.body!.cancel();
    await a3.arrayBuffer();
    await spoof.arrayBuffer();
  });

  it("without trustProxy the header is ignored: X-Forwarded-For does not buy a new slot", async () => {
    herald = createHerald({ limits: { connectPerIp: false, maxConnectionsPerIp: 1 } });
    server = await startServer(herald);
    const a = await fetch(`${server.url}?channel=a`, { headers: { "x-forwarded-for": "203.0.113.1" } });
    const b = await fetch(`${server.url}?channel=a`, { headers: { "x-forwarded-for": "203.0.113.2" } });
    expect([a.status, b.status]).toEqual([200, 429]);
    await a.body!.cancel();
    await b.arrayBuffer();
  });

  it("the Fetch path honours trustProxy too (no clientIp needed)", async () => {
    herald = createHerald({ trustProxy: 1, limits: { connectPerIp: false, maxConnectionsPerIp: 1 } });
    const open = (ip: string) =>
      herald!.handleRequest(new Request("http://x/?channel=a", { headers: { "x-forwarded-for": ip } }));
    const a = await open("203.0.113.1");
    const a2 = await open("203.0.113.1");
    const b = await open("203.0.113.2");
    expect([a.status, a2.status, b.status]).toEqual([200, 429, 200]);
    await a.body!.cancel();
    await b.body!.cancel();
    await waitFor(() => herald!.core.limits.connectionsFrom("203.0.113.1") === 0);
  });

  it("the same-origin check of the POST routes ignores X-Forwarded-Host unless a proxy is trusted", async () => {
    herald = createHerald();
    const { POST } = createRouteHandlers({ herald, tokens: createTokens(), getUserId: () => "alice" });
    const res = await POST(
      post("http://app.local/api/realtime/token", {
        origin: "https://evil.example",
        "x-forwarded-host": "evil.example",
      }),
    );
    expect(res.status).toBe(403);
    expect((await res.json()).error.code).toBe("origin_not_allowed");
  });
});

describe("client messages", () => {
  it("authorizePublish receives only validated channel and event names", async () => {
    herald = createHerald();
    const seen: [string, string][] = [];
    const publisher = createClientPublisher(herald, {
      authorizePublish: (_user, channel, event) => {
        seen.push([channel, event]);
        return true;
      },
    });
    const bad = [
      { channel: "room\r\nevent: x", event: "client-a" },
      { channel: "room", event: "client-a\r\ndata: x" },
      { channel: "room\u0000", event: "client-a" },
      { channel: "x".repeat(500), event: "client-a" },
    ];
    for (const message of bad) {
      await expect(publisher("alice", JSON.stringify({ ...message, data: 1 }))).rejects.toMatchObject({ status: 400 });
    }
    expect(seen).toEqual([]);
    await publisher("alice", JSON.stringify({ channel: "room", event: "client-a", data: 1 }));
    expect(seen).toEqual([["room", "client-a"]]);
  });
});
