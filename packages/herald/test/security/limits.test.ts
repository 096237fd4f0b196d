import { afterEach, describe, expect, it } from "vitest";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { EventSource } from "eventsource";
import { createHerald, hardenServer, HARDENED_SERVER_OPTIONS, type Herald } from "../../src/server/index.js";
import { createHeraldClient, type Transition } from "../../src/client/index.js";
import { startServer, waitFor, type TestServer } from "../helpers.js";
import { secureHerald } from "./fixture.js";

let herald: Herald;
let server: TestServer | undefined;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await server?.close();
  server = undefined;
  await herald?.close();
});

describe("connection floods", () => {
  it("limits connection attempts per IP with 429, Retry-After and a JSON code; accepted streams keep flowing", async () => {
    herald = createHerald({ limits: { connectPerIp: { capacity: 5, refillPerSecond: 0.1 } } });
    server = await startServer(herald);
    const es = new EventSource(`${server.url}?channel=feed`);
    cleanups.push(() => es.close());
    const got: number[] = [];
    es.onmessage = (e) => got.push(JSON.parse(e.data).data);
    await waitFor(() => herald.stats().subscribers === 1);
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${server.url}?channel=flood`);
      statuses.push(res.status);
      if (res.status === 429 && !limited) limited = res;
      else await res.body?.cancel();
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(4);
    expect(statuses.filter((s) => s === 429)).toHaveLength(36);
    expect(Number(limited!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await limited!.json()).error.code).toBe("rate_limited");
    await herald.publish("feed", "n", 1);
    await waitFor(() => got.length === 1);
  });

  it("limits connection attempts per user", async () => {
    const app = secureHerald({
      limits: { connectPerIp: false, connectPerUser: { capacity: 3, refillPerSecond: 0.01 } },
    });
    herald = app.herald;
    server = await startServer(herald);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${server.url}?channel=user-u1&token=${await app.tokens.issue("u1")}`);
      statuses.push(res.status);
      await res.body?.cancel();
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    // Another user is not affected.
    const other = await fetch(`${server.url}?channel=user-u2&token=${await app.tokens.issue("u2")}`);
    expect(other.status).toBe(200);
    await other.body!.cancel();
  });

  it("limits concurrent connections per user and frees the slot when one closes", async () => {
    const app = secureHerald({ limits: { connectPerIp: false, connectPerUser: false, maxConnectionsPerUser: 2 } });
    herald = app.herald;
    server = await startServer(herald);
    const open = async () => fetch(`${server!.url}?channel=user-u1&token=${await app.tokens.issue("u1")}`);
    const a = await open();
    const b = await open();
    const c = await open();
    expect([a.status, b.status, c.status]).toEqual([200, 200, 429]);
    expect((await c.json()).error.code).toBe("too_many_connections");
    await a.body!.cancel();
    await waitFor(() => herald.core.limits.connections("u1") === 1);
    const d = await open();
    expect(d.status).toBe(200);
    await b.body!.cancel();
    await d.body!.cancel();
    await waitFor(() => herald.core.limits.connections("u1") === 0);
  });

  it("limits concurrent connections per IP, anonymous ones included", async () => {
    herald = createHerald({ limits: { connectPerIp: false, maxConnectionsPerIp: 3 } });
    server = await startServer(herald);
    const open = () => fetch(`${server!.url}?channel=public`);
    const streams = [await open(), await open(), await open()];
    expect(streams.map((r) => r.status)).toEqual([200, 200, 200]);
    const refused = await open();
    expect(refused.status).toBe(429);
    expect((await refused.json()).error).toMatchObject({ code: "too_many_connections", limit: 3 });
    await streams[0]!.body!.cancel();
    await waitFor(() => herald.core.limits.connectionsFrom("127.0.0.1") === 2);
    const again = await open();
    expect(again.status).toBe(200);
    for (const r of [...streams.slice(1), again]) await r.body!.cancel();
    await waitFor(() => herald.core.limits.connectionsFrom("127.0.0.1") === 0);
  });

  it("the client waits at least Retry-After after a 429 before trying again", async () => {
    herald = createHerald({ limits: { connectPerIp: { capacity: 1, refillPerSecond: 0.25 } } });
    server = await startServer(herald);
    const warm = await fetch(`${server.url}?channel=x`); // uses the only token
    await warm.body!.cancel();
    const transitions: Transition[] = [];
    const client = createHeraldClient({ url: server.url, onlineTarget: null, backoff: { baseMs: 10 } });
    cleanups.push(() => client.close());
    client.on("state", (t) => transitions.push(t));
    client.subscribe("x", () => {});
    await waitFor(() => transitions.some((t) => t.next === "reconnecting"));
    const retry = transitions.find((t) => t.next === "reconnecting")!;
    expect(retry.reason).toBe("rate_limited");
    expect(retry.delayMs).toBeGreaterThanOrEqual(4000); // Retry-After: 4 (1 token at 0.25/s)
  });
});

describe("request size and slowloris", () => {
  async function hardened(headersTimeoutMs: number) {
    herald = createHerald();
    const srv = hardenServer(
      http.createServer(HARDENED_SERVER_OPTIONS, (req, res) => void herald.handleNode(req, res)),
      { headersTimeoutMs, requestTimeoutMs: headersTimeoutMs * 2 },
    );
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => srv.close(r)));
    cleanups.push(() => srv.closeAllConnections());
    return (srv.address() as AddressInfo).port;
  }

  it("refuses an oversized URL with 414 and oversized headers with 431", async () => {
    const port = await hardened(5000);
    const longUrl = await fetch(`http://127.0.0.1:${port}/?channel=a&pad=${"x".repeat(5000)}`);
    expect(longUrl.status).toBe(414);
    expect((await longUrl.json()).error.code).toBe("invalid_request");
    const bigHeaders = await fetch(`http://127.0.0.1:${port}/?channel=a`, { headers: { "x-pad": "y".repeat(20_000) } });
    expect(bigHeaders.status).toBe(431);
  });

  it("drops a slowloris client that trickles its headers, while a real subscriber keeps receiving", async () => {
    const port = await hardened(400);
    const es = new EventSource(`http://127.0.0.1:${port}/?channel=feed`);
    cleanups.push(() => es.close());
    const got: number[] = [];
    es.onmessage = (e) => got.push(JSON.parse(e.data).data);
    await waitFor(() => herald.stats().subscribers === 1);

    const slow = net.connect(port, "127.0.0.1");
    let closed = false;
    slow.on("close", () => (closed = true));
    slow.on("error", () => {});
    slow.write("GET /?channel=feed HTTP/1.1\r\nHost: x\r\n");
    const trickle = setInterval(() => !closed && slow.write("X-a: b\r\n"), 100);
    cleanups.push(() => clearInterval(trickle));
    await waitFor(() => closed, 10_000, "the slowloris socket to be closed");
    await herald.publish("feed", "n", 1);
    await waitFor(() => got.length === 1);
    expect(herald.stats().subscribers).toBe(1);
  });
});

describe("cross-origin", () => {
  it("refuses origins outside the allow-list and sends credentials only to listed origins", async () => {
    herald = createHerald({ cors: { origins: ["https://app.example"], credentials: true } });
    server = await startServer(herald);
    const denied = await fetch(`${server.url}?channel=a`, { headers: { Origin: "https://evil.example" } });
    expect(denied.status).toBe(403);
    expect((await denied.json()).error.code).toBe("origin_not_allowed");
    expect(denied.headers.get("access-control-allow-origin")).toBeNull();

    const allowed = await fetch(`${server.url}?channel=a`, { headers: { Origin: "https://app.example" } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(allowed.headers.get("access-control-allow-credentials")).toBe("true");
    expect(allowed.headers.get("vary")).toBe("Origin");
    await allowed.body!.cancel();

    // Same-origin and non-browser requests need no CORS.
    const same = await fetch(`${server.url}?channel=a`, { headers: { Origin: server.url.replace(/\/$/, "") } });
    expect(same.status).toBe(200);
    await same.body!.cancel();

    const preflight = await fetch(`${server.url}?channel=a`, {
      method: "OPTIONS",
      headers: { Origin: "https://app.example", "Access-Control-Request-Headers": "last-event-id" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-headers")).toContain("Last-Event-ID");
  });

  it("never pairs a wildcard origin with credentials", async () => {
    expect(() => createHerald({ cors: { origins: "*", credentials: true } })).toThrow(/credentials/);
    herald = createHerald({ cors: { origins: "*" } });
    server = await startServer(herald, { fetch: true });
    const res = await fetch(`${server.url}?channel=a`, { headers: { Origin: "https://any.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    await res.body!.cancel();
  });

  it("is same-origin only by default", async () => {
    herald = createHerald();
    server = await startServer(herald, { fetch: true });
    const res = await fetch(`${server.url}?channel=a`, { headers: { Origin: "https://other.example" } });
    expect(res.status).toBe(403);
  });
});
