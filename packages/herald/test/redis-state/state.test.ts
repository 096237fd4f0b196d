/**
 * Every part of Herald on one real Redis, across two instances (as two processes would be:
 * separate connections, separate instance ids): tokens, tasks, limits, presence, and all of it
 * again after Redis restarts.
 */
import { spawn } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHerald, type Herald, type HeraldOptions } from "../../src/server/index.js";
import { heraldRedis, RedisPresenceStore, RedisTaskStore } from "../../src/redis/index.js";
import { waitFor } from "../helpers.js";
import { startRedis, type TestRedis } from "../redis/redis-server.js";
import { startTcpProxy } from "../faults/tcp-proxy.js";

let redis: TestRedis;
let prefixCount = 0;
const heralds: Herald[] = [];
const servers: http.Server[] = [];
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn();
  for (const s of servers.splice(0)) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await Promise.all(heralds.splice(0).map((h) => h.close()));
});

const uidOf = (cookie: string | null) => /(?:^|;\s*)uid=([A-Za-z0-9_-]+)/.exec(cookie ?? "")?.[1] ?? null;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One app instance: a Herald on the shared Redis behind its own HTTP server. */
async function instance(prefix: string, extra: Partial<HeraldOptions> = {}) {
  const herald = createHerald({
    getUserId: (request) => uidOf(request.header("cookie")),
    redis: heraldRedis(redis.url, { prefix, cancel: { leaseMs: 600, cancelTimeoutMs: 2000 } }),
    ...extra,
  });
  heralds.push(herald);
  const server = http.createServer((req, res) => {
    if (!herald.handleNodeRoutes(req, res)) res.writeHead(404).end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/realtime`;
  return { herald, base };
}

async function pair(extra: Partial<HeraldOptions> = {}) {
  const prefix = `s${++prefixCount}`;
  return { prefix, a: await instance(prefix, extra), b: await instance(prefix, extra) };
}

const as = (user: string) => ({ cookie: `uid=${user}` });

async function token(base: string, user: string): Promise<string> {
  const res = await fetch(`${base}/token`, { method: "POST", headers: as(user) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** Opens the SSE route with `token`; resolves with the status and, on 200, the first bytes. */
async function openSse(base: string, query: string): Promise<{ status: number; text: string; code?: string }> {
  const controller = new AbortController();
  const res = await fetch(`${base}/sse?${query}`, { signal: controller.signal });
  if (res.status !== 200) {
    const body = (await res.json()) as { error: { code: string } };
    return { status: res.status, text: "", code: body.error.code };
  }
  const reader = res.body!.getReader();
  let text = "";
  while (!text.includes("herald:connected")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  controller.abort();
  return { status: 200, text };
}

describe("the one setting", () => {
  it("is off without a URL, and a rediss:// URL turns TLS on for every connection", async () => {
    expect(heraldRedis(undefined)).toBeUndefined();
    expect(heraldRedis("")).toBeUndefined();
    const shared = heraldRedis("rediss://user:secret@127.0.0.1:1/0", { onError: () => {} })!;
    const broker = shared.broker as unknown as { cmd: Redis; sub: Redis };
    for (const connection of [shared.connection as Redis, broker.cmd, broker.sub]) {
      expect(connection.options).toMatchObject({ tls: true, password: "secret", port: 1 });
    }
    await shared.close();
  });
});

describe("tokens on Redis", () => {
  it("a token issued by one instance is accepted once, by another; the replay is token_used on either", async () => {
    const { a, b } = await pair();
    const t = await token(a.base, "alice");
    const opened = await openSse(b.base, `channel=user-alice&token=${encodeURIComponent(t)}`);
    expect(opened.status).toBe(200);
    expect(opened.text).toContain("herald:connected");
    for (const base of [a.base, b.base]) {
      const again = await openSse(base, `channel=user-alice&token=${encodeURIComponent(t)}`);
      expect(again).toMatchObject({ status: 401, code: "token_used" });
    }
  });

  it("two instances verifying one token at once: exactly one accepts it (GETDEL)", async () => {
    const { a, b } = await pair();
    for (let i = 0; i < 20; i++) {
      const t = await a.herald.tokens.issue("alice");
      const results = await Promise.allSettled([
        a.herald.tokens.verify(t, { channels: [] }),
        b.herald.tokens.verify(t, { channels: [] }),
      ]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
      expect(refused.reason).toMatchObject({ code: "token_used" });
    }
  });

  it("expires: past its lifetime a token is token_expired on any instance", async () => {
    const { a, b } = await pair();
    const t = await a.herald.tokens.issue("alice", { ttlMs: 50 });
    await sleep(80);
    await expect(b.herald.tokens.verify(t, { channels: [] })).rejects.toMatchObject({ code: "token_expired" });
  });
});

describe("tasks on Redis", () => {
  it("a task started on A is read, streamed and canceled from B; the cancel aborts the job on A", async () => {
    const { a, b } = await pair();
    let aborted = false;
    const task = await a.herald.tasks.start(
      "alice",
      async (ctx) => {
        ctx.step("work", "active");
        ctx.progress(40);
        ctx.text("hello ");
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
            resolve();
          }),
        );
        ctx.text("never");
        return "never";
      },
      { title: "Long", steps: ["work"] },
    );
    // B's broker carries A's events on task-{id}.
    const seen: string[] = [];
    const sub = b.herald.broker.subscribe(`task-${task.id}`, (event) => seen.push(event.event));
    await sub.ready;
    cleanups.push(() => sub.unsubscribe());
    // Read through B's routes.
    let snapshot: { status: string; progress: number; text: string } | undefined;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const res = await fetch(`${b.base}/tasks/${task.id}`, { headers: as("alice") });
      expect(res.status).toBe(200);
      snapshot = (await res.json()) as typeof snapshot;
      if (snapshot!.progress === 40 && snapshot!.text === "hello ") break;
      await sleep(20);
    }
    expect(snapshot).toMatchObject({ status: "running", progress: 40, text: "hello " });
    expect((await fetch(`${b.base}/tasks/${task.id}`, { headers: as("mallory") })).status).toBe(404);
    const listed = (await (await fetch(`${b.base}/tasks`, { headers: as("alice") })).json()) as {
      tasks: { id: string }[];
    };
    expect(listed.tasks.map((t) => t.id)).toContain(task.id);
    // Cancel from B.
    const canceled = await fetch(`${b.base}/tasks/${task.id}/cancel`, { method: "POST", headers: as("alice") });
    expect(canceled.status).toBe(200);
    expect(await canceled.json()).toMatchObject({ id: task.id, status: "canceled" });
    expect(aborted).toBe(true);
    expect(await a.herald.tasks.wait(task.id, "alice")).toMatchObject({ status: "canceled", text: "hello " });
    await waitFor(() => seen.includes("status"), 2000, "the canceled status on B's bus");
    // Exactly one final event went out, and the stored state stays canceled.
    await sleep(100);
    expect(await b.herald.tasks.get(task.id, "alice")).toMatchObject({ status: "canceled" });
    const again = await fetch(`${b.base}/tasks/${task.id}/cancel`, { method: "POST", headers: as("alice") });
    expect(again.status).toBe(409);
  });

  it("the snapshot survives the instance that ran it; a cancel with no runner left is recorded by B", async () => {
    const { a, b } = await pair();
    const task = await a.herald.tasks.start("alice", (ctx) => {
      ctx.progress(10);
      return new Promise(() => {}); // never ends: its instance dies with it
    });
    await waitFor(() => a.herald.tasks.running === 1, 2000, "the job to run");
    await sleep(150);
    await heralds.splice(heralds.indexOf(a.herald), 1)[0]!.close();
    expect(await b.herald.tasks.get(task.id, "alice")).toMatchObject({ id: task.id, progress: 10 });
    const started = Date.now();
    expect(await b.herald.tasks.cancel(task.id, "alice")).toMatchObject({ status: "canceled" });
    expect(Date.now() - started).toBeLessThan(1500); // once the dead runner's lease (600 ms) is gone
    expect(await b.herald.tasks.get(task.id, "alice")).toMatchObject({ status: "canceled" });
  });

  it("the store never replaces a final state, and the owner's index expires", async () => {
    const prefix = `t${++prefixCount}`;
    const conn = new Redis(redis.url);
    cleanups.push(() => conn.quit());
    const store = new RedisTaskStore(conn, { prefix });
    const base = {
      id: "t1",
      ownerId: "alice",
      title: null,
      progress: 0,
      steps: [],
      text: "",
      result: null,
      error: null,
      createdAt: 1,
      updatedAt: 1,
      seq: 0,
      cursor: "x-0",
    };
    await store.put({ ...base, status: "running" });
    expect(await conn.pttl(`{${prefix}}:owner:alice`)).toBeGreaterThan(23 * 3600_000);
    await store.put({ ...base, status: "canceled" }, 60_000);
    await store.put({ ...base, status: "running", progress: 50 }); // a late write from the job
    expect(await store.get("t1")).toMatchObject({ status: "canceled", progress: 0 });
    expect(await conn.pttl(`{${prefix}}:task:t1`)).toBeGreaterThan(50_000);
    expect((await store.list("alice")).map((t) => t.id)).toEqual(["t1"]);
    await store.delete("t1");
    expect(await store.list("alice")).toEqual([]);
  });

  it("a task that succeeded keeps its result for every instance; a cancel after it is task_finished", async () => {
    const { a, b } = await pair();
    const task = await a.herald.tasks.start("alice", async (ctx) => {
      ctx.text("done");
      return { n: 42 };
    });
    await a.herald.tasks.wait(task.id, "alice");
    expect(await b.herald.tasks.get(task.id, "alice")).toMatchObject({ status: "succeeded", result: { n: 42 } });
    await expect(b.herald.tasks.cancel(task.id, "alice")).rejects.toMatchObject({ code: "task_finished" });
  });
});

describe("limits on Redis", () => {
  it("two instances count one limit together: past it both refuse (at most one attempt each beyond it)", async () => {
    const limits = { routes: { token: { perUser: { capacity: 6, refillPerSecond: 0.1 }, perIp: false as const } } };
    const { a, b } = await pair({ limits });
    const statuses: number[] = [];
    const post = async (base: string) => {
      const res = await fetch(`${base}/token`, { method: "POST", headers: as("alice") });
      statuses.push(res.status);
      await sleep(15); // the shared count's answer reaches the instance
      return res.status;
    };
    for (let i = 0; i < 3; i++) await post(a.base);
    for (let i = 0; i < 3; i++) await post(b.base);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    // Six used in all: each instance lets at most one more through before it hears so, then refuses.
    const more: number[] = [];
    for (let i = 0; i < 4; i++) more.push(await post(a.base), await post(b.base));
    expect(more.filter((s) => s === 200).length).toBeLessThanOrEqual(2);
    expect(more.slice(-4)).toEqual([429, 429, 429, 429]);
    // Another user is not affected.
    expect((await fetch(`${a.base}/token`, { method: "POST", headers: as("bob") })).status).toBe(200);
  });

  it("each instance alone would have allowed it: with memory limits the same traffic passes", async () => {
    const limits = { routes: { token: { perUser: { capacity: 6, refillPerSecond: 0.1 }, perIp: false as const } } };
    const { a, b } = await pair({ limits, redis: undefined });
    for (const base of [a.base, b.base]) {
      for (let i = 0; i < 6; i++) {
        expect((await fetch(`${base}/token`, { method: "POST", headers: as("alice") })).status).toBe(200);
      }
    }
  });
});

describe("presence on Redis", () => {
  it("the member cap holds under concurrent joins from two stores (checked and added in one script)", async () => {
    const prefix = `p${++prefixCount}`;
    const a = new Redis(redis.url);
    const b = new Redis(redis.url);
    cleanups.push(
      () => a.quit(),
      () => b.quit(),
    );
    const one = new RedisPresenceStore(a, { prefix, ttlMs: 60_000 });
    const two = new RedisPresenceStore(b, { prefix, ttlMs: 60_000 });
    cleanups.push(
      () => one.close(),
      () => two.close(),
    );
    const results = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        (i % 2 ? one : two).join("presence-capped", `${i}.1`, { user_id: `u${i}`, user_info: null }, 100),
      ),
    );
    expect(results.filter((r) => r === "first")).toHaveLength(100);
    expect(results.filter((r) => r === "full")).toHaveLength(50);
    expect(await one.members("presence-capped")).toHaveLength(100);
    // A present user's second connection is not refused by a full channel.
    const present = results.findIndex((r) => r === "first");
    expect(await one.join("presence-capped", "999.1", { user_id: `u${present}`, user_info: null }, 100)).toBe("again");
  });

  it("members are shared, counted per user across instances, and a killed process' members expire", async () => {
    const prefix = `p${++prefixCount}`;
    const conn = new Redis(redis.url);
    cleanups.push(() => conn.quit());
    const one = new RedisPresenceStore(conn, { prefix, ttlMs: 600 });
    cleanups.push(() => one.close());
    expect(await one.join("presence-room", "1.1", { user_id: "alice", user_info: { name: "A" } })).toBe("first");
    // A process that joins then dies without leaving.
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        fileURLToPath(new URL("./presence-child.ts", import.meta.url)),
        redis.url,
        prefix,
        "600",
        "presence-room",
        "alice",
        "bob",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    cleanups.push(() => child.exitCode === null && child.kill("SIGKILL"));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("joined") && resolve());
      child.once("exit", (code) => reject(new Error(`child exited (${code})`)));
    });
    const ids = async () => (await one.members("presence-room")).map((m) => m.user_id).sort();
    expect(await ids()).toEqual(["alice", "bob"]);
    expect((await one.members("presence-room")).find((m) => m.user_id === "alice")?.user_info).toEqual({ name: "A" });
    expect(await one.channels()).toEqual(["presence-room"]);
    // Renewed while the process lives: still there after two lifetimes.
    await sleep(1300);
    expect(await ids()).toEqual(["alice", "bob"]);
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
    const killedAt = Date.now();
    while ((await ids()).includes("bob")) {
      expect(Date.now() - killedAt).toBeLessThan(2000);
      await sleep(50);
    }
    // alice stays: her connection on this process is renewed.
    expect(await ids()).toEqual(["alice"]);
    // Her last connection leaving is reported, and the channel goes away.
    expect(await one.leave("presence-room", "1.1", "alice")).toBe(true);
    expect(await ids()).toEqual([]);
    expect(await one.channels()).toEqual([]);
  });
});

describe("after a Redis restart", () => {
  it("tokens, tasks, limits and presence work again (Redis came back empty)", async () => {
    const { prefix, a, b } = await pair();
    const conn = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    conn.on("error", () => {});
    cleanups.push(() => conn.disconnect());
    const presence = new RedisPresenceStore(conn, { prefix, ttlMs: 600 });
    cleanups.push(() => presence.close());
    await presence.join("presence-x", "1.1", { user_id: "alice", user_info: null });

    await redis.stop();
    await redis.start();

    // Tokens: issued on A after the restart, accepted once on B.
    let t: string | undefined;
    const deadline = Date.now() + 5000;
    while (!t && Date.now() < deadline) {
      t = await a.herald.tokens.issue("alice").catch(() => undefined);
      if (!t) await sleep(50);
    }
    expect(t).toBeDefined();
    await expect(b.herald.tokens.verify(t, { channels: [] })).resolves.toMatchObject({ userId: "alice" });
    // Tasks: started on A, followed and canceled from B.
    let aborted = false;
    const task = await a.herald.tasks.start("alice", (ctx) => {
      ctx.progress(5);
      return new Promise((resolve) =>
        ctx.signal.addEventListener("abort", () => {
          aborted = true;
          resolve(null);
        }),
      );
    });
    await waitFor(() => a.herald.tasks.running === 1, 2000, "the job");
    expect(await b.herald.tasks.cancel(task.id, "alice")).toMatchObject({ status: "canceled" });
    expect(aborted).toBe(true);
    // Limits count again.
    expect((await fetch(`${b.base}/token`, { method: "POST", headers: as("alice") })).status).toBe(200);
    // Presence: this process' member came back with its renewal (or joins again).
    const until = Date.now() + 2000;
    let members: string[] = [];
    while (Date.now() < until) {
      members = (await presence.members("presence-x").catch(() => [])).map((m) => m.user_id);
      if (members.length > 0) break;
      await presence.join("presence-x", "1.1", { user_id: "alice", user_info: null }).catch(() => {});
    }
    expect(members).toEqual(["alice"]);
  });
});

describe("a cancel from another instance", () => {
  it("reaches a runner whose connections were down when it was asked (the request is repeated)", async () => {
    const prefix = `s${++prefixCount}`;
    const proxy = await startTcpProxy(redis.port);
    cleanups.push(() => proxy.close());
    const cancel = { cancelTimeoutMs: 5000 };
    const runner = createHerald({
      getUserId: () => null,
      redis: heraldRedis(`redis://127.0.0.1:${proxy.port}`, { prefix, cancel, onError: () => {} }),
    });
    const other = createHerald({ getUserId: () => null, redis: heraldRedis(redis.url, { prefix, cancel }) });
    heralds.push(runner, other);
    let aborted = false;
    const task = await runner.tasks.start(
      "alice",
      (ctx) =>
        new Promise((resolve) =>
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
            resolve(null);
          }),
        ),
    );
    // The runner's connections drop and stay down for a moment: the first request is published
    // while its subscriber is away (pub/sub keeps nothing for it).
    proxy.set({ refuse: true });
    proxy.resetAll();
    const restore = setTimeout(() => proxy.set({}), 500);
    cleanups.push(() => clearTimeout(restore));
    expect(await other.tasks.cancel(task.id, "alice")).toMatchObject({ status: "canceled" });
    expect(aborted).toBe(true);
  });
});
