/**
 * `herald serve` as a child process (the bin's source run through tsx): /healthz, pusher-js and the
 * SDK against it, SSE at /sse, HERALD_REDIS_URL across two servers, and draining on SIGTERM.
 */
import type { ChildProcess } from "node:child_process";
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PusherJs } from "./pusher-js.js";
import { readUntil } from "../helpers.js";
import { startRedis, type TestRedis } from "../redis/redis-server.js";
import {
  closeAll,
  collect,
  connected,
  next,
  pusherClient,
  sdkFor,
  startAuthServer,
  subscribed,
  waitFor,
} from "./fixture.js";
import { startServe } from "./serve-process.js";

const children: ChildProcess[] = [];
const serve = (env?: Record<string, string>, args?: string[]) => startServe(children, env, args);
const clients: PusherJs[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await closeAll();
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

function client(port: number, url: string, params: Record<string, string> = {}): PusherJs {
  const c = pusherClient(port, url, params);
  clients.push(c);
  return c;
}

describe("herald serve", () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it("answers /healthz, serves pusher-js, the HTTP API and SSE, and drains on SIGTERM", async () => {
    const { child, port, url } = await serve();
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true });

    const c = client(port, url);
    await connected(c);
    const channel = await subscribed(c, "public-news");
    const controller = new AbortController();
    const res = await fetch(`${url}/sse?channel=public-news`, { signal: controller.signal });
    const first = await readUntil(res.body!, (t) => t.includes("herald:connected"));
    // Default credentials: app-id / app-key / app-secret.
    const got = next(channel, "story");
    await sdkFor(port).trigger("public-news", "story", { n: 1 });
    expect(await got).toEqual({ n: 1 });
    let text = first.text;
    const decoder = new TextDecoder();
    while (!text.includes('"event":"story"')) text += decoder.decode((await first.reader.read()).value);
    // SSE serves public channels only here: private ones are for authorized Pusher connections.
    expect((await fetch(`${url}/sse?channel=private-x`)).status).toBe(403);

    const errors: unknown[] = [];
    c.connection.bind("error", (e: unknown) => errors.push(e));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(JSON.stringify(errors)).toContain("4200");
    controller.abort();
  });

  it("passes the channel scenarios: private, presence per user, client events, cache, sendToUser", async () => {
    const { port } = await serve();
    const sdk = sdkFor(port);
    const authUrl = await startAuthServer(sdk);
    const mk = (params: Record<string, string> = {}) => client(port, authUrl, params);
    const [alice, alice2, bob, wrong, other] = [
      mk({ user_id: "alice" }),
      mk({ user_id: "alice" }),
      mk({ user_id: "bob" }),
      mk({ mode: "wrong-secret" }),
      mk({ mode: "other-socket" }),
    ];
    await Promise.all([alice, alice2, bob, wrong, other].map(connected));

    const priv = await subscribed(alice, "private-orders");
    const placed = next(priv, "placed");
    await sdk.trigger("private-orders", "placed", { id: 1 });
    expect(await placed).toEqual({ id: 1 });
    for (const refused of [wrong, other]) {
      const error = await subscribed(refused, "private-orders").catch((e: { detail: unknown }) => e.detail);
      expect(error).toMatchObject({ status: 401 });
    }

    const lobby = await subscribed(bob, "presence-lobby");
    const added = collect(lobby, "pusher:member_added");
    const removed = collect(lobby, "pusher:member_removed");
    const a1 = await subscribed(alice, "presence-lobby");
    await subscribed(alice2, "presence-lobby");
    await waitFor(() => added.length === 1);
    const users = (await (await sdk.get({ path: "/channels/presence-lobby/users" })).json()) as {
      users: { id: string }[];
    };
    expect(users.users.map((u) => u.id).sort()).toEqual(["alice", "bob"]);

    const typing = next(lobby, "client-typing");
    a1.trigger("client-typing", { who: "alice" });
    expect(await typing).toEqual({ who: "alice" });
    alice2.unsubscribe("presence-lobby");
    alice.unsubscribe("presence-lobby");
    await waitFor(() => removed.length === 1);
    expect(added).toHaveLength(1);

    await sdk.trigger("cache-price", "tick", { p: 9 });
    expect(await next(bob.subscribe("cache-price"), "tick")).toEqual({ p: 9 });

    bob.signin();
    await (bob.user as unknown as { signinDonePromise: Promise<void> }).signinDonePromise;
    await waitFor(
      () =>
        (bob.user as unknown as { serverToUserChannel?: { subscribed: boolean } }).serverToUserChannel?.subscribed ===
        true,
    );
    const note = new Promise((resolve) => bob.user.bind("note", resolve));
    await sdk.sendToUser("bob", "note", { hi: "bob" });
    expect(await note).toEqual({ hi: "bob" });
  });

  it("uses HERALD_APP_* credentials and HERALD_REDIS_URL: a trigger on one server reaches a client of another", async () => {
    const env = {
      HERALD_APP_ID: "my-app",
      HERALD_APP_KEY: "my-key",
      HERALD_APP_SECRET: "my-secret",
      HERALD_REDIS_URL: redis.url,
    };
    const [one, two] = await Promise.all([serve(env), serve(env)]);
    const c = new PusherJs("my-key", {
      cluster: "herald",
      wsHost: "127.0.0.1",
      wsPort: two.port,
      forceTLS: false,
      enabledTransports: ["ws"],
      disableStats: true,
    });
    clients.push(c);
    await connected(c);
    const channel = await subscribed(c, "scaled");
    const got = next(channel, "e");
    const sdk = sdkFor(one.port, { appId: "my-app", key: "my-key", secret: "my-secret" });
    await sdk.trigger("scaled", "e", { across: true });
    expect(await got).toEqual({ across: true });
    await expect(sdkFor(one.port).trigger("scaled", "e", {})).rejects.toMatchObject({ status: 404 });
  });
});

describe("herald serve: presence across processes (one Redis)", () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it("member_added and member_removed reach every server's sockets once, also when a server dies", async () => {
    const env = { HERALD_REDIS_URL: redis.url, HERALD_PRESENCE_TTL_MS: "900" };
    const [one, two] = await Promise.all([serve(env), serve(env)]);
    const auth = await startAuthServer(sdkFor(one.port));
    const member = async (port: number, userId: string) => {
      const c = client(port, auth, { user_id: userId });
      await connected(c);
      const channel = await subscribed(c, "presence-room");
      return {
        c,
        channel,
        added: collect(channel, "pusher:member_added") as { id: string }[],
        removed: collect(channel, "pusher:member_removed") as { id: string }[],
      };
    };
    const ann = await member(one.port, "ann");
    const bob = await member(two.port, "bob");
    // Bob (on the second server) was told of Ann in his member list; Ann (on the first) of Bob.
    expect(Object.keys((bob.channel as unknown as { members: { members: object } }).members.members).sort()).toEqual([
      "ann",
      "bob",
    ]);
    await waitFor(() => ann.added.length === 1);
    expect(ann.added[0]!.id).toBe("bob");
    // Cid on the first server, then Cid leaves: both servers' members hear it once.
    const cid = await member(one.port, "cid");
    await waitFor(() => ann.added.length === 2 && bob.added.length === 1);
    cid.c.disconnect();
    await waitFor(() => ann.removed.length === 1 && bob.removed.length === 1);
    expect([ann.removed[0]!.id, bob.removed[0]!.id]).toEqual(["cid", "cid"]);
    // The second server dies: its member (Bob) expires and the first server announces it.
    two.child.kill("SIGKILL");
    await waitFor(() => ann.removed.length === 2, 15_000);
    expect(ann.removed[1]!.id).toBe("bob");
    expect(ann.added.map((m) => m.id)).toEqual(["bob", "cid"]);
  });
});

describe("herald serve: credentials and hardening", () => {
  it("refuses the default secret off loopback and under NODE_ENV=production, unless told", async () => {
    const open = await serve({}, ["--host", "0.0.0.0"]).catch((e: Error) => e);
    expect(String(open)).toMatch(/exited \(1\).*refusing to listen on 0\.0\.0\.0 with the default secret/s);
    const production = await serve({ NODE_ENV: "production" }).catch((e: Error) => e);
    expect(String(production)).toMatch(/exited \(1\).*NODE_ENV=production/s);
    // Told to (a deliberate choice), or given a secret: it starts, on any interface.
    const allowed = await serve({ NODE_ENV: "production" }, ["--host", "127.0.0.1", "--allow-default-credentials"]);
    expect((await fetch(`${allowed.url}/healthz`)).status).toBe(200);
    const configured = await serve({ HERALD_APP_SECRET: "a-real-secret-of-some-length" }, ["--host", "0.0.0.0"]);
    expect((await fetch(`http://127.0.0.1:${configured.port}/healthz`)).status).toBe(200);
  });

  it("has the Node hardening: past 32 sockets from one address without a request head, new ones are closed", async () => {
    const { port } = await serve();
    const sockets = Array.from({ length: 40 }, () => {
      const socket = net.connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n"); // never finishes its head
      return socket;
    });
    try {
      await waitFor(() => sockets.filter((s) => s.destroyed || s.readableEnded).length >= 8);
      // A complete request from the same address is still answered once the slow ones are gone.
      for (const s of sockets) s.destroy();
      await waitFor(() => sockets.every((s) => s.destroyed));
      // Once the server has seen them go (it counts them on its side), a request is answered.
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.status,
          () => 0,
        );
        if (status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      expect(status).toBe(200);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});
