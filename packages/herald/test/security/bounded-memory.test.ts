/**
 * Issue 13, items 5, 6, 12 (headers), 13 (slow headers), 14 and 15: expiry by time without waiting
 * for traffic, replays checked against the unread-bytes cap as they are written, rotated stalled
 * readers torn down and counted until they are gone, and the request-head limits of hardenServer.
 */
import { afterEach, describe, expect, it } from "vitest";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import {
  createHerald,
  hardenServer,
  HARDENED_SERVER_OPTIONS,
  MemoryBroker,
  MemoryTaskStore,
  MemoryTokenStore,
  type Herald,
} from "../../src/server/index.js";
import { Limits } from "../../src/server/http/limits/limits.js";
import { startServer, waitFor, type TestServer } from "../helpers.js";
import type { Sweeper } from "../../src/timers/sweeper.js";

let herald: Herald | undefined;
let server: TestServer | undefined;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await server?.close();
  server = undefined;
  await herald?.close();
  herald = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("expiry by time, without waiting for traffic", () => {
  it("MemoryBroker drops events past maxAgeMs on idle channels (and lets go of their logs)", async () => {
    const broker = new MemoryBroker({ maxAgeMs: 150, sweepIntervalMs: 50 });
    cleanups.push(() => broker.close());
    const json = JSON.stringify({ pad: "x".repeat(200) });
    for (let c = 0; c < 200; c++) for (let i = 0; i < 20; i++) await broker.publish(`idle-${c}`, "e", json);
    expect(broker.channelCount).toBe(200);
    await waitFor(() => broker.channelCount === 0, 3000, "idle channels to expire");
    // A client resuming from before them is still told it missed events.
    const read = await broker.read("idle-7", 0, 10);
    expect(read).toEqual({ events: [], trimmed: true });
  });

  it("MemoryBroker's sweep timer stops on close() and does not hold the process", async () => {
    const broker = new MemoryBroker({ maxAgeMs: 60_000 });
    await broker.publish("a", "e", "1");
    const sweeper = (broker as unknown as { sweeper: Sweeper }).sweeper;
    expect(sweeper.running).toBe(true);
    expect(sweeper.holdsProcess).toBe(false);
    await broker.close();
    expect(sweeper.running).toBe(false);
  });

  it("the token store sweeps expired tokens and tombstones on its own", async () => {
    const store = new MemoryTokenStore({ sweepIntervalMs: 50 });
    cleanups.push(() => store.close());
    for (let i = 0; i < 100; i++) {
      await store.put(`t${i}`, { userId: "u", channels: null, secretHash: "h", expiresAt: 0 }, 100);
      await store.markUsed(`u${i}`, 100);
    }
    expect(store.size).toBe(100);
    expect(store.tombstones).toBe(100);
    await waitFor(() => store.size === 0 && store.tombstones === 0, 3000, "tokens to expire");
  });

  it("the task store sweeps finished tasks past their TTL on its own", async () => {
    const store = new MemoryTaskStore({ sweepIntervalMs: 50 });
    cleanups.push(() => store.close());
    const task = (id: string) => ({
      id,
      ownerId: "u",
      title: null,
      status: "succeeded" as const,
      progress: 100,
      steps: [],
      text: "",
      result: null,
      error: null,
      createdAt: 0,
      updatedAt: 0,
      seq: 0,
      cursor: "x-0",
    });
    for (let i = 0; i < 100; i++) await store.put(task(`t${i}`), 100);
    await store.put({ ...task("running"), status: "running" });
    expect(store.size).toBe(101);
    await waitFor(() => store.size === 1, 3000, "finished tasks to expire");
  });

  it("rate-limit buckets expire once refilled, and their number is capped by maxTrackedKeys", async () => {
    const limits = new Limits({
      connectPerIp: { capacity: 2, refillPerSecond: 20 },
      connectPerUser: false,
      routes: { token: { perUser: { capacity: 2, refillPerSecond: 20 }, perIp: false } },
      maxTrackedKeys: 50,
    });
    cleanups.push(() => limits.close());
    for (let i = 0; i < 500; i++) {
      limits.attemptFromIp(`10.0.${i >> 8}.${i & 255}`);
      limits.route("token", `user-${i}`, undefined);
    }
    expect(limits.trackedKeys()).toBe(100); // 50 per limiter: the LRU cap
    await waitFor(() => limits.trackedKeys() === 0, 3000, "buckets to expire");
  });
});

describe("replays and the unread-bytes cap", () => {
  it("a resume that would replay megabytes to a client that does not read is cut at the cap", async () => {
    const cap = 256 * 1024;
    herald = createHerald({ maxBufferedBytes: cap });
    const big = "x".repeat(15_000);
    for (let i = 0; i < 300; i++) await herald.publish("feed", "e", big); // ~4.5 MB
    const epoch = await herald.broker.epoch();
    const res = await herald.handleRequest(new Request(`http://x/?channel=feed&lastEventId=${epoch}-0`));
    expect(res.status).toBe(200);
    // The client never reads; the hub must have dropped it instead of queueing the whole replay.
    // It gets the close grace (5 s) to start reading; then it is dropped.
    await waitFor(() => herald!.stats().subscribers === 0, 10_000, "the replaying reader to be dropped");
    expect(herald.stats().dropped).toBe(1);
    const text = await res.text();
    expect(text.length).toBeLessThan(cap + 2 * 64 * 1024 + 64 * 1024);
    expect(text).toContain("slow_consumer");
    expect(text).not.toContain("herald:connected");
  }, 20_000);

  it("a reading client still gets its whole replay", async () => {
    herald = createHerald({ maxBufferedBytes: 256 * 1024 });
    server = await startServer(herald);
    const big = "y".repeat(15_000);
    for (let i = 0; i < 100; i++) await herald.publish("feed", "e", big);
    const epoch = await herald.broker.epoch();
    const res = await fetch(`${server.url}?channel=feed&lastEventId=${epoch}-0`);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("herald:connected")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text.slice(-300) + text.slice(0, 300)).toContain("herald:connected");
    expect(text.match(/^id: /gm)).toHaveLength(101); // 100 events and herald:connected
    await reader.cancel();
  });
});

describe("rotated stalled readers", () => {
  it("are torn down after the close grace and keep their connection slot until their socket is gone", async () => {
    herald = createHerald({
      rotateAfterMs: 300,
      maxBufferedBytes: 64 * 1024 * 1024,
      limits: { connectPerIp: false, maxConnectionsPerIp: 4 },
    });
    server = await startServer(herald);
    const port = Number(new URL(server.url).port);
    // Readers that never read: the kernel buffers fill, the server's writes back up.
    const stalled: net.Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const socket = net.connect(port, "127.0.0.1");
      socket.on("error", () => {});
      await new Promise((r) => socket.once("connect", r));
      socket.write("GET /?channel=flood HTTP/1.1\r\nHost: x\r\n\r\n");
      await new Promise((r) => socket.once("data", r));
      socket.pause();
      stalled.push(socket);
    }
    cleanups.push(() => stalled.forEach((s) => s.destroy()));
    await waitFor(() => herald!.stats().subscribers === 4);
    const serverSide = [...server.sockets];
    expect(serverSide).toHaveLength(4);
    const payload = "z".repeat(60_000);
    for (let i = 0; i < 400; i++) await herald.publish("flood", "e", payload); // ~24 MB to each
    await waitFor(() => herald!.stats().subscribers === 0, 5000, "rotation");
    // The streams rotated but the sockets are still there: they still count.
    expect(herald.core.limits.connectionsFrom("127.0.0.1")).toBe(4);
    const refused = await fetch(`${server.url}?channel=other`);
    expect(refused.status).toBe(429);
    await refused.arrayBuffer();
    // After the grace (5 s) the hub destroys them, and the slots come back.
    await waitFor(() => serverSide.every((s) => s.destroyed), 10_000, "the server to destroy the stalled sockets");
    await waitFor(() => herald!.core.limits.connectionsFrom("127.0.0.1") === 0, 2000, "slots to be freed");
    expect(herald.stats().closing).toBe(0);
  }, 20_000);
});

describe("request heads (hardenServer)", () => {
  async function hardened(options: Parameters<typeof hardenServer>[1] = {}) {
    herald = createHerald();
    const srv = hardenServer(
      http.createServer(HARDENED_SERVER_OPTIONS, (req, res) => void herald!.handleNode(req, res)),
      options,
    );
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => srv.close(r)));
    cleanups.push(() => srv.closeAllConnections());
    return (srv.address() as AddressInfo).port;
  }

  it("refuses a request with more headers than the limit instead of dropping the extra ones (Origin last)", async () => {
    const port = await hardened();
    const status = await new Promise<number>((resolve, reject) => {
      const headers: Record<string, string> = { host: "127.0.0.1" };
      for (let i = 0; i < 70; i++) headers[`x-pad-${i}`] = "1";
      headers["origin"] = "https://evil.example";
      const req = http.request({ port, host: "127.0.0.1", path: "/?channel=a", headers }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(431);
    // At the limit it is served (and the Origin is seen).
    const atLimit = await new Promise<number>((resolve, reject) => {
      const headers: Record<string, string> = { host: "127.0.0.1" };
      for (let i = 0; i < 60; i++) headers[`x-pad-${i}`] = "1";
      headers["origin"] = "https://evil.example";
      const req = http.request({ port, host: "127.0.0.1", path: "/?channel=a", headers }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      req.end();
    });
    expect(atLimit).toBe(403);
  });

  it("holds at most maxPendingPerIp sockets from one address that have not sent their headers", async () => {
    const port = await hardened({ headersTimeoutMs: 10_000 });
    const sockets: net.Socket[] = [];
    let closed = 0;
    for (let i = 0; i < 200; i++) {
      const socket = net.connect(port, "127.0.0.1");
      socket.on("error", () => {});
      socket.on("close", () => closed++);
      socket.on("connect", () => socket.write("GET /?channel=a HTTP/1.1\r\n"));
      sockets.push(socket);
    }
    cleanups.push(() => sockets.forEach((s) => s.destroy()));
    await waitFor(() => closed >= 200 - 32, 5000, "excess slow-header sockets to be closed");
    await sleep(200);
    expect(200 - closed).toBeLessThanOrEqual(32);
    // A real client from the same address still gets in once it sends its head.
    const res = await fetch(`http://127.0.0.1:${port}/?channel=a`).catch(() => null);
    expect(res === null || res.status === 200).toBe(true);
    await res?.body?.cancel();
  });
});
