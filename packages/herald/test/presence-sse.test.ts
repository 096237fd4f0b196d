/**
 * Presence on SSE: signed-in streams that follow a `presence-*` channel join it, get the member
 * list and see who comes and goes, once per user (a second tab is not a second member); a room
 * holds its SSE members and its WebSocket (pusher-js) members together, because both transports
 * share the instance's presence store; on Redis, members on another instance are seen too. Real
 * servers on port 0, Herald's client over its default (fetch) transport, pusher-js, redis-server.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createHerald, type Herald, type HeraldOptions } from "../src/server/index.js";
import { authorizeChannel, createPusherServer, type PusherServer } from "../src/pusher/index.js";
import { createHeraldClient, type HeraldClient } from "../src/client/index.js";
import { heraldRedis } from "../src/redis/index.js";
import { PusherJs } from "./pusher/pusher-js.js";
import { startRedis, type TestRedis } from "./redis/redis-server.js";
import { waitFor } from "./helpers.js";

const APP = { appId: "app", key: "key", secret: "secret" };
const ROOM = "presence-room-1";

let redis: TestRedis | undefined;
afterAll(async () => {
  await redis?.stop();
});
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/**
 * A Herald app on node:http (routes, the Pusher server, a pusher-js auth endpoint): the session's
 * user is the `uid` cookie; the auth endpoint signs as the `user` form field (pusher-js's `params`).
 */
async function app(extra: HeraldOptions = {}): Promise<{ herald: Herald; pusher: PusherServer; origin: string }> {
  const uid = (cookie: string | null) => /(?:^|; )uid=([a-z]+)/.exec(cookie ?? "")?.[1] ?? null;
  const herald = createHerald({
    getUserId: (request) => uid(request.header("cookie")),
    authorizePrivate: (principal, channel) => principal !== null && channel.startsWith("presence-room-"),
    presence: { userInfo: (id) => ({ name: id.toUpperCase() }) },
    limits: { connectPerIp: false },
    ...extra,
  });
  const pusher = createPusherServer({ herald, ...APP });
  const server = http.createServer((req, res) => {
    if (req.url === "/auth") {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const form = new URLSearchParams(body);
        const user = form.get("user") ?? "nobody";
        const signed = authorizeChannel(APP, form.get("socket_id")!, form.get("channel_name")!, {
          user_id: user,
          user_info: { name: user.toUpperCase() },
        });
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(signed));
      });
      return;
    }
    if (herald.handleNodeRoutes(req, res)) return;
    if (!pusher.handleRequest(req, res)) res.writeHead(404).end();
  });
  server.on("upgrade", (req, socket: Socket, head) => {
    if (!pusher.handleUpgrade(req, socket, head)) socket.destroy();
  });
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(async () => {
    await pusher.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
    await herald.close();
  });
  return { herald, pusher, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Herald's client for `user`, over SSE (or long-polling), following `channel`. */
function sseUser(origin: string, user: string, channel = ROOM, transport: "sse" | "poll" = "sse"): HeraldClient {
  const client = createHeraldClient({
    url: `${origin}/api/realtime/sse`,
    transport,
    poll: { wait: 2 },
    // The session cookie on the client-event requests (a browser sends the page's own).
    fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, cookie: `uid=${user}` } }),
    getToken: async () => {
      const response = await fetch(`${origin}/api/realtime/token`, {
        method: "POST",
        headers: { cookie: `uid=${user}` },
      });
      return ((await response.json()) as { token: string }).token;
    },
    onlineTarget: null,
    visibilityTarget: null,
  });
  client.subscribe(channel, () => undefined);
  closers.push(() => client.close());
  return client;
}

const ids = (client: HeraldClient) => (client.presence(ROOM)?.members ?? []).map((m) => m.id).sort();

describe("presence on SSE", () => {
  it("joins, lists, and tells who comes and goes, once per user, with the app's user info", async () => {
    const { herald, origin } = await app();
    const alice = sseUser(origin, "alice");
    await waitFor(() => ids(alice).join() === "alice", 10_000, "alice's own list");
    expect(alice.presence(ROOM)).toMatchObject({ me: { id: "alice", info: { name: "ALICE" } }, count: 1 });

    const added: string[] = [];
    alice.on("presence", (p) => {
      if (p.type !== "members") added.push(`${p.type} ${p.member!.id}`);
    });
    const bob = sseUser(origin, "bob");
    await waitFor(() => ids(alice).join() === "alice,bob" && ids(bob).join() === "alice,bob", 10_000, "bob seen");
    // Bob's second tab: no second member, no second "added".
    const bob2 = sseUser(origin, "bob");
    await waitFor(() => ids(bob2).join() === "alice,bob", 10_000, "bob's second tab");
    bob.close();
    await herald.publish(ROOM, "note", {}); // something after the close, so its leave has run
    expect(ids(alice)).toEqual(["alice", "bob"]); // bob still has a tab
    bob2.close();
    await waitFor(() => ids(alice).join() === "alice", 10_000, "bob's removal");
    expect(added).toEqual(["added bob", "removed bob"]);
  }, 30_000);

  it("a member whose stream reconnects at once (rotation) is not seen leaving and coming back", async () => {
    const { origin } = await app({ rotateAfterMs: 300 });
    const alice = sseUser(origin, "alice");
    await waitFor(() => ids(alice).join() === "alice", 10_000, "alice's own list");
    const seen: string[] = [];
    alice.on("presence", (p) => {
      if (p.type !== "members") seen.push(`${p.type} ${p.member!.id}`);
    });
    const bob = sseUser(origin, "bob");
    let rotations = 0;
    bob.on("state", (t) => {
      if (t.reason === "rotate") rotations++;
    });
    // Every stream here ends after 300 ms and comes straight back (alice's too).
    await waitFor(() => rotations >= 4 && bob.state === "connected", 20_000, "bob's stream rotating");
    await waitFor(() => ids(alice).join() === "alice,bob", 10_000, "both listed");
    expect(seen.filter((s) => s.endsWith("bob"))).toEqual(["added bob"]);
  }, 30_000);

  it("long-polling: a poller is a member while it polls, sees the list, and leaves when it stops", async () => {
    const { origin } = await app();
    const alice = sseUser(origin, "alice");
    await waitFor(() => ids(alice).join() === "alice", 10_000, "alice's own list");
    const seen: string[] = [];
    alice.on("presence", (p) => {
      if (p.type !== "members") seen.push(`${p.type} ${p.member!.id}`);
    });
    const bob = sseUser(origin, "bob", ROOM, "poll");
    await waitFor(() => bob.transport === "poll" && ids(bob).join() === "alice,bob", 15_000, "bob's list, polling");
    await waitFor(() => ids(alice).join() === "alice,bob", 10_000, "alice sees the poller");
    expect(bob.presence(ROOM)!.me).toMatchObject({ id: "bob" });
    // Carol comes: the poller sees her with a later answer.
    const carol = sseUser(origin, "carol");
    await waitFor(() => ids(bob).join() === "alice,bob,carol", 15_000, "the poller sees carol");
    carol.close();
    bob.close(); // stops polling: it leaves once its wait and the grace are past
    await waitFor(() => ids(alice).join() === "alice", 30_000, "the poller's removal");
    expect(seen).toEqual(["added bob", "added carol", "removed carol", "removed bob"]);
  }, 60_000);

  it("holds SSE and WebSocket members of a room together (one store for both transports)", async () => {
    const { origin } = await app();
    const alice = sseUser(origin, "alice");
    await waitFor(() => ids(alice).join() === "alice", 10_000, "alice's own list");

    const carol = new PusherJs(APP.key, {
      cluster: "",
      wsHost: "127.0.0.1",
      wsPort: Number(new URL(origin).port),
      forceTLS: false,
      enabledTransports: ["ws"],
      channelAuthorization: { endpoint: `${origin}/auth`, transport: "ajax", params: { user: "carol" } },
    });
    closers.push(() => carol.disconnect());
    const members: string[] = [];
    const channel = carol.subscribe(ROOM);
    channel.bind("pusher:subscription_succeeded", (m: { each(fn: (member: { id: string }) => void): void }) =>
      m.each((member) => members.push(member.id)),
    );
    const removed: string[] = [];
    channel.bind("pusher:member_removed", (member: { id: string }) => removed.push(member.id));
    await waitFor(() => members.length > 0, 10_000, "carol's subscription");
    expect(members.sort()).toEqual(["alice", "carol"]);
    await waitFor(() => ids(alice).join() === "alice,carol", 10_000, "alice sees carol (WebSocket)");
    expect(alice.presence(ROOM)!.members.find((m) => m.id === "carol")!.info).toEqual({ name: "CAROL" });

    alice.close();
    await waitFor(() => removed.includes("alice"), 10_000, "carol sees alice leave (SSE)");
  }, 30_000);

  it("on Redis, sees the members of another instance", async () => {
    redis ??= await startRedis();
    const prefix = `presence-sse-${Date.now()}`;
    const a = await app({ redis: heraldRedis(redis.url, { prefix })! });
    const b = await app({ redis: heraldRedis(redis.url, { prefix })! });
    const alice = sseUser(a.origin, "alice");
    await waitFor(() => ids(alice).join() === "alice", 10_000, "alice's own list");
    const bob = sseUser(b.origin, "bob");
    await waitFor(
      () => ids(alice).join() === "alice,bob" && ids(bob).join() === "alice,bob",
      10_000,
      "across instances",
    );
    bob.close();
    await waitFor(() => ids(alice).join() === "alice", 10_000, "bob's removal across instances");
  }, 30_000);

  it("client events go up as requests and come down on the stream to the others, never back to the sender", async () => {
    const { origin } = await app({
      authorizePublish: (_userId, channel, event) => channel.startsWith("presence-room-") && event === "client-typing",
    });
    const alice = sseUser(origin, "alice");
    const bob = sseUser(origin, "bob");
    const got = { alice: [] as string[], bob: [] as string[] };
    alice.subscribe<{ typing: boolean }>(ROOM, (e) => got.alice.push(`${e.event} ${e.userId} ${e.data.typing}`));
    bob.subscribe<{ typing: boolean }>(ROOM, (e) => got.bob.push(`${e.event} ${e.userId}`));
    const errors: string[] = [];
    bob.on("error", (e) => errors.push(e.code));
    await waitFor(() => ids(alice).join() === "alice,bob" && ids(bob).join() === "alice,bob", 10_000, "both in");
    bob.send!(ROOM, "client-typing", { typing: true });
    await waitFor(() => got.alice.length === 1, 10_000, "alice gets bob's typing");
    expect(got.alice).toEqual(["client-typing bob true"]);
    // Refused by authorizePublish: an error event on the sender, nothing published.
    bob.send!(ROOM, "client-shout", { typing: false });
    await waitFor(() => errors.length === 1, 10_000, "the refusal");
    expect(errors).toEqual(["forbidden"]);
    alice.send!(ROOM, "client-typing", { typing: false });
    await waitFor(() => got.bob.length === 1, 10_000, "bob gets alice's typing");
    expect(got.bob).toEqual(["client-typing alice"]); // not his own
    expect(got.alice).toEqual(["client-typing bob true"]); // not hers
  }, 30_000);

  it("refuses a presence channel to a signed-out visitor", async () => {
    const { origin } = await app();
    const response = await fetch(`${origin}/api/realtime/sse?channel=${ROOM}`);
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: { code: "forbidden" } });
  });
});
