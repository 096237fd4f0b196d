/**
 * The front door as a user wires it: `createHerald({ getUserId })` serving every route, on the
 * Node path and on the Fetch path (`herald.routes`, as a Next.js catch-all does), with a cookie
 * session. Signed-out visitors on public channels, tokens, the channel rules, tasks announced to
 * their owner, and no 429 in normal use (many reloads and task starts in a row).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EventSource } from "eventsource";
import { createHerald, type Herald } from "../src/server/index.js";
import { createHeraldClient, type HeraldClient } from "../src/client/index.js";
import { readUntil, waitFor } from "./helpers.js";

const heralds: Herald[] = [];
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

/** The app's session: a `uid` cookie. */
const uidOf = (cookie: string | null) => /(?:^|;\s*)uid=([A-Za-z0-9_-]+)/.exec(cookie ?? "")?.[1] ?? null;

async function app(path: "node" | "fetch") {
  const herald = createHerald({ getUserId: (request) => uidOf(request.header("cookie")) });
  heralds.push(herald);
  const statuses: number[] = [];
  const server = http.createServer((req, res) => {
    res.on("finish", () => statuses.push(res.statusCode));
    if (path === "node") {
      if (!herald.handleNodeRoutes(req, res)) res.writeHead(404).end();
      return;
    }
    void bridge(herald, req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { herald, origin, base: `${origin}/api/realtime`, statuses };
}

/** `herald.routes` behind node:http, as Next.js runs a route handler. */
async function bridge(herald: Herald, req: http.IncomingMessage, res: http.ServerResponse) {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const controller = new AbortController();
  res.on("close", () => controller.abort());
  const handler = req.method === "POST" ? herald.routes.POST : herald.routes.GET;
  const response = await handler(
    new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers,
      body: req.method === "POST" ? Buffer.concat(chunks) : undefined,
      signal: controller.signal,
    }),
  );
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (!response.body) return void res.end();
  try {
    for await (const chunk of response.body) res.write(chunk);
  } catch {
    /* the client left */
  }
  res.end();
}

async function open(url: string) {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  if (response.status !== 200) return { status: response.status, body: await response.json(), text: "" };
  const { text } = await readUntil(response.body!, (t) => t.includes("herald:connected"));
  controller.abort();
  return { status: 200, body: null, text };
}

async function token(base: string, uid: string | null, query = "") {
  const response = await fetch(`${base}/token${query}`, {
    method: "POST",
    headers: uid ? { cookie: `uid=${uid}` } : {},
  });
  return { status: response.status, body: (await response.json()) as { token?: string; userId?: string } };
}

describe.each(["node", "fetch"] as const)("the front door (%s path)", (path) => {
  it("lets a signed-out visitor read public channels, and keeps user channels to their user", async () => {
    const { base } = await app(path);
    expect((await open(`${base}/sse?channel=counter`)).status).toBe(200);
    const refused = await open(`${base}/sse?channel=user-alice`);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { code: "forbidden" } });
    expect(await token(base, null)).toMatchObject({ status: 401, body: { error: { code: "unauthorized" } } });
    // A client that can go on anonymously asks with `optional=1`: signed out is an answer, not an error.
    expect(await token(base, null, "?optional=1")).toEqual({ status: 200, body: { token: null, userId: null } });
    expect(await token(base, "carol", "?optional=1")).toMatchObject({ status: 200, body: { userId: "carol" } });

    const signedIn = await token(base, "alice");
    expect(signedIn).toMatchObject({ status: 200, body: { userId: "alice" } });
    expect((await open(`${base}/sse?channel=user-alice&token=${signedIn.body.token}`)).status).toBe(200);
    // Single use: the same token again is refused.
    const replay = await open(`${base}/sse?channel=user-alice&token=${signedIn.body.token}`);
    expect(replay).toMatchObject({ status: 401, body: { error: { code: "token_used" } } });
    // Another user's channel, even with a valid token of one's own.
    const bob = await token(base, "bob");
    expect((await open(`${base}/sse?channel=user-alice&token=${bob.body.token}`)).status).toBe(403);
  });

  it("announces a task to its owner, lists it, and keeps it from other users", async () => {
    const { herald, base } = await app(path);
    const seen: string[] = [];
    const client = createHeraldClient({
      url: `${base}/sse`,
      EventSource: EventSource as never,
      getToken: async () => (await token(base, "alice")).body.token ?? null,
      onlineTarget: null,
    });
    clients.push(client);
    client.subscribe<{ id: string }>("user-alice", (e) => seen.push(`${e.event}:${e.data.id}`));
    await waitFor(() => client.state === "connected", 10_000, "connected");

    const task = await herald.tasks.start("alice", async (ctx) => {
      ctx.progress(50);
      return { ok: true };
    });
    await waitFor(() => seen.length === 1, 10_000, "task.started");
    expect(seen).toEqual([`task.started:${task.id}`]);
    await herald.tasks.wait(task.id, "alice");

    const list = await fetch(`${base}/tasks`, { headers: { cookie: "uid=alice" } }).then((r) => r.json());
    expect(list.tasks.map((t: { id: string }) => t.id)).toEqual([task.id]);
    const mine = await fetch(`${base}/tasks/${task.id}`, { headers: { cookie: "uid=alice" } }).then((r) => r.json());
    expect(mine).toMatchObject({ id: task.id, status: "succeeded", result: { ok: true } });
    const theirs = await fetch(`${base}/tasks/${task.id}`, { headers: { cookie: "uid=bob" } });
    expect(theirs.status).toBe(404);
    expect(
      (await open(`${base}/sse?channel=task-${task.id}&token=${(await token(base, "bob")).body.token}`)).status,
    ).toBe(403);
  });

  it("meets no 429 in normal use: 30 reloads and 20 task starts in a row by one user", async () => {
    const { herald, base, statuses } = await app(path);
    const session = () =>
      createHeraldClient({
        url: `${base}/sse`,
        EventSource: EventSource as never,
        getToken: async () => (await token(base, "alice")).body.token ?? null,
        onlineTarget: null,
      });
    // A reload: a new page opens its stream (user channel and the public counter), then goes away.
    for (let i = 0; i < 30; i++) {
      const page = session();
      page.subscribe("user-alice", () => {});
      page.subscribe("counter", () => {});
      await waitFor(() => page.state === "connected", 10_000, `reload ${i}`);
      await fetch(`${base}/tasks`, { headers: { cookie: "uid=alice" } });
      page.close();
    }
    // Task starts on one page: each follows its task's channel until it ends.
    const page = session();
    clients.push(page);
    page.subscribe("user-alice", () => {});
    await waitFor(() => page.state === "connected", 10_000, "page");
    for (let i = 0; i < 20; i++) {
      const task = await herald.tasks.start("alice", async () => i);
      const done = new Promise<void>((resolve) => {
        const off = page.subscribe(`task-${task.id}`, (e) => {
          if (e.event === "result") {
            off();
            resolve();
          }
        });
      });
      await fetch(`${base}/tasks`, { headers: { cookie: "uid=alice" } });
      await done;
    }
    await waitFor(() => page.state === "connected", 10_000, "still connected");
    expect(statuses.filter((s) => s === 429)).toEqual([]);
    // Tokens and task lists answered (streams that the client closed never "finish").
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(30 * 2 + 20 * 2);
  }, 60_000);
});

describe("createHerald({ singleton })", () => {
  it("returns one instance per name, per process", async () => {
    const a = createHerald({ singleton: "front-door-test" });
    heralds.push(a);
    expect(createHerald({ singleton: "front-door-test" })).toBe(a);
    const other = createHerald({ singleton: "front-door-test-2" });
    heralds.push(other);
    expect(other).not.toBe(a);
  });
});
