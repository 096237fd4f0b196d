/**
 * `POST …/channels` (issue #20): an open SSE stream changes its channel set without reconnecting.
 * A channel added while events flow on it and on the stream's other channels gets its events since
 * the client's cursor once each and in order, then live, and the other channels lose nothing; a
 * removed channel delivers nothing more; refusals (another user's stream or token, a refused
 * channel, a reused token, a bad body, an unknown id, limits) answer the right status and code and
 * leave the stream as it was; presence channels join and leave with the stream's user. On the memory
 * broker and on Redis (two instances: the events come over the bus), on the Node and the Fetch
 * adapter. Real servers on port 0, real streams read with fetch.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createParser } from "eventsource-parser";
import { createHerald, MemoryBroker, type Herald, type HeraldOptions } from "../src/server/index.js";
import { heraldRedis } from "../src/redis/index.js";
import { pipeResponse, startRoutes, waitFor } from "./helpers.js";
import { CursorTracker } from "../src/client/cursor-tracker.js";
import { decodeCursor, parsePosition } from "../src/protocol/cursor.js";
import { startRedis, type TestRedis } from "./redis/redis-server.js";
import { startServe } from "./pusher/serve-process.js";
import type { ChildProcess } from "node:child_process";

interface Received {
  /** `message` for app events, else the control event's name. */
  type: string;
  channel: string | undefined;
  id: string | undefined;
  data: Record<string, unknown>;
}

/** An open stream, read in the background. */
interface Stream {
  readonly connectionId: string;
  readonly received: Received[];
  /** Ids of the app events of `channel`, in arrival order. */
  ids(channel: string): string[];
  /** The id of the last app event received (the client's cursor), or the connected cursor. */
  cursor(): string;
  close(): void;
}

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

let redis: TestRedis | undefined;
afterAll(async () => {
  await redis?.stop();
});

const uid = (cookie: string | null) => /(?:^|; )uid=([a-z]+)/.exec(cookie ?? "")?.[1] ?? null;

function makeHerald(extra: HeraldOptions = {}): Herald {
  const herald = createHerald({
    getUserId: (request) => uid(request.header("cookie")),
    authorizePrivate: (principal, channel) => principal !== null && channel.startsWith("presence-room-"),
    limits: { connectPerIp: false },
    ...extra,
  });
  closers.push(() => herald.close());
  return herald;
}

/** The routes on the Node adapter. */
async function nodeBase(herald: Herald): Promise<string> {
  const routes = await startRoutes(herald);
  closers.push(() => routes.cut());
  return routes.base;
}

/** The routes through `herald.routes` (the Fetch adapter, as Next.js runs it), streamed onto node:http. */
async function fetchBase(herald: Herald): Promise<string> {
  const server = http.createServer((req, res) => void bridge(herald, req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/realtime`;
}

async function bridge(herald: Herald, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const controller = new AbortController();
  res.on("close", () => controller.abort());
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const post = req.method === "POST";
  const request = new Request(`http://${req.headers.host}${req.url}`, {
    method: req.method,
    headers,
    body: post ? Buffer.concat(chunks) : undefined,
    signal: controller.signal,
  });
  await pipeResponse(res, await (post ? herald.routes.POST : herald.routes.GET)(request));
}

/** Opens `…/sse` as `user` (cookie) with a fresh token of theirs; resolves once `herald:connected` arrived. */
async function openStream(herald: Herald, base: string, channels: string[], user = "alice"): Promise<Stream> {
  const query = new URLSearchParams(channels.map((c) => ["channel", c]));
  query.set("token", await herald.tokens.issue(user));
  const controller = new AbortController();
  const response = await fetch(`${base}/sse?${query}`, {
    headers: { cookie: `uid=${user}` },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const received: Received[] = [];
  const parser = createParser({
    onEvent: (e) => {
      const data = JSON.parse(e.data) as Record<string, unknown>;
      const type = e.event ?? "message";
      received.push({ type, channel: data.channel as string | undefined, id: e.id, data });
    },
  });
  const decoder = new TextDecoder();
  void (async () => {
    try {
      for await (const chunk of response.body!) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    } catch {
      /* closed */
    }
  })();
  closers.push(() => controller.abort());
  await waitFor(() => received.some((r) => r.type === "herald:connected"), 10_000, "herald:connected");
  const connected = received.find((r) => r.type === "herald:connected")!;
  return {
    connectionId: connected.data.connectionId as string,
    received,
    // Each event's own position: the first of its id (a subscriber of several partitions gets its cursor).
    ids: (channel) =>
      received.filter((r) => r.type === "message" && r.channel === channel).map((r) => r.id!.split(".")[0]!),
    // What the client would resume from: the connected cursor, each event's id merged in.
    cursor: () => {
      const tracker = new CursorTracker();
      tracker.advance(connected.data.cursor as string);
      for (const r of received) if (r.type === "message" && r.id) tracker.advance(r.id);
      return tracker.cursor!;
    },
    close: () => controller.abort(),
  };
}

/** A memory broker that runs `duringSnapshot` (once) before its next snapshot: a change's log read. */
class PausingBroker extends MemoryBroker {
  duringSnapshot: (() => Promise<void>) | undefined;

  override async snapshot(...args: Parameters<MemoryBroker["snapshot"]>): ReturnType<MemoryBroker["snapshot"]> {
    const during = this.duringSnapshot;
    this.duringSnapshot = undefined;
    if (during) await during();
    return super.snapshot(...args);
  }
}

interface Answer {
  status: number;
  body: { connectionId?: string; channels?: string[]; error?: { code: string } };
  headers: Headers;
}

/** `POST …/channels` with `body` (JSON unless it is a string), as `user`. */
async function change(base: string, body: unknown, user = "alice", contentType = "application/json"): Promise<Answer> {
  const response = await fetch(`${base}/channels`, {
    method: "POST",
    headers: { "content-type": contentType, cookie: `uid=${user}` },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Answer["body"], headers: response.headers };
}

/**
 * Publishes on `news` and `sports` in turn (from `publisher`) while `stream` follows `news`, adds
 * `sports` from the stream's cursor mid-flow, and checks every event arrived once and in order.
 */
async function addWhileFlowing(subscribed: Herald, publisher: Herald, base: string): Promise<void> {
  const stream = await openStream(subscribed, base, ["news"]);
  const published: Record<string, string[]> = { news: [], sports: [] };
  let running = true;
  const pump = (async () => {
    for (let i = 0; running; i++) {
      const channel = i % 2 === 0 ? "news" : "sports";
      published[channel]!.push(await publisher.publish(channel, "tick", { i }));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  })();
  // The client's cursor a while back: sports events published since then are caught up, the ones
  // published during the request arrive live while the change is made.
  await waitFor(() => stream.ids("news").length >= 3, 10_000, "news events");
  const lastEventId = stream.cursor();
  await waitFor(() => stream.ids("news").length >= 10, 10_000, "more news events");
  const answer = await change(base, {
    connectionId: stream.connectionId,
    channels: ["news", "sports"],
    lastEventId,
    token: await subscribed.tokens.issue("alice"),
  });
  expect(answer.status).toBe(200);
  expect(answer.body).toEqual({ connectionId: stream.connectionId, channels: ["news", "sports"] });
  const atAnswer = stream.ids("sports").length;
  await waitFor(() => stream.ids("sports").length >= atAnswer + 10, 10_000, "live sports events");
  running = false;
  await pump;
  for (const channel of ["news", "sports"]) published[channel]!.push(await publisher.publish(channel, "end", {}));
  await waitFor(
    () =>
      stream.ids("news").includes(published.news!.at(-1)!) && stream.ids("sports").includes(published.sports!.at(-1)!),
    10_000,
    "the last events",
  );
  // The old channel lost nothing; the added one got every event after the cursor once, in order.
  expect(stream.ids("news")).toEqual(published.news);
  const from = decodeCursor(lastEventId);
  const expected = published.sports!.filter((id) => {
    const at = parsePosition(id)!;
    return at.seq > from.get(at.partition)!.seq;
  });
  expect(expected.length).toBeGreaterThan(10);
  expect(stream.ids("sports")).toEqual(expected);
  expect(stream.received.filter((r) => r.type === "herald:gap")).toEqual([]);
}

describe("POST …/channels", () => {
  it("adds a channel while events flow: its events since lastEventId once and in order, the old channel loses nothing", async () => {
    const herald = makeHerald();
    await addWhileFlowing(herald, herald, await nodeBase(herald));
    expect(herald.stats().subscriptions).toBe(2);
    expect(herald.stats().transports.sse!.connections).toBe(1);
  });

  it("with the log in partitions (the two channels in two): the connected cursor covers the added channel's", async () => {
    const herald = makeHerald({ broker: new MemoryBroker({ partitions: 8 }) });
    await addWhileFlowing(herald, herald, await nodeBase(herald));
  });

  it("on the Fetch adapter (herald.routes) too", async () => {
    const herald = makeHerald();
    await addWhileFlowing(herald, herald, await fetchBase(herald));
  });

  it("events published while the change reads the log arrive once (from the catch-up), and the kept channel's in order", async () => {
    const broker = new PausingBroker();
    const herald = makeHerald({ broker });
    const base = await nodeBase(herald);
    const stream = await openStream(herald, base, ["news"]);
    const n0 = await herald.publish("news", "e", {});
    await waitFor(() => stream.ids("news").length === 1, 10_000, "n0");
    const lastEventId = stream.cursor();
    const s1 = await herald.publish("sports", "e", {});
    const n1 = await herald.publish("news", "e", {});
    await waitFor(() => stream.ids("news").length === 2, 10_000, "n1");
    let s2 = "";
    let n2 = "";
    broker.duringSnapshot = async () => {
      // sports is followed by now (its live events queue for the stream) and these are in the snapshot.
      const delivered = herald.stats().delivered;
      s2 = await herald.publish("sports", "e", {});
      n2 = await herald.publish("news", "e", {});
      await waitFor(() => herald.stats().delivered >= delivered + 2, 10_000, "the hub to take s2 and n2");
    };
    const token = await herald.tokens.issue("alice");
    const answer = await change(base, {
      connectionId: stream.connectionId,
      channels: ["news", "sports"],
      lastEventId,
      token,
    });
    expect(answer.status).toBe(200);
    expect(s2).not.toBe("");
    const s3 = await herald.publish("sports", "e", {});
    const n3 = await herald.publish("news", "e", {});
    await waitFor(() => stream.ids("sports").includes(s3) && stream.ids("news").includes(n3), 10_000, "s3 and n3");
    expect(stream.ids("sports")).toEqual([s1, s2, s3]);
    expect(stream.ids("news")).toEqual([n0, n1, n2, n3]);
  });

  it("removes a channel: nothing more of it arrives, and the kept one goes on", async () => {
    const herald = makeHerald();
    const base = await nodeBase(herald);
    const stream = await openStream(herald, base, ["news", "sports"]);
    await herald.publish("sports", "before", {});
    await waitFor(() => stream.ids("sports").length === 1, 10_000, "the first sports event");
    const token = await herald.tokens.issue("alice");
    const answer = await change(base, { connectionId: stream.connectionId, channels: ["news"], token });
    expect(answer.status).toBe(200);
    expect(answer.body.channels).toEqual(["news"]);
    expect(herald.stats().subscriptions).toBe(1);
    expect(herald.subscriberCount("sports")).toBe(0);
    await herald.publish("sports", "after", {});
    const last = await herald.publish("news", "after", {});
    await waitFor(() => stream.ids("news").includes(last), 10_000, "the news event");
    expect(stream.ids("sports")).toHaveLength(1);
    expect(stream.ids("news")).toEqual([last]);
  });

  it("tells one herald:gap for an added channel whose cursor's events are gone (retention, another epoch)", async () => {
    const herald = makeHerald({ broker: new MemoryBroker({ maxEventsPerChannel: 3 }) });
    const base = await nodeBase(herald);
    const old = await herald.publish("sports", "old", { n: 0 });
    for (let n = 1; n < 10; n++) await herald.publish("sports", "old", { n });
    const stream = await openStream(herald, base, ["news"]);
    const token = () => herald.tokens.issue("alice");
    const body = { connectionId: stream.connectionId, channels: ["news", "sports"] };
    expect((await change(base, { ...body, lastEventId: old, token: await token() })).status).toBe(200);
    await waitFor(() => stream.received.some((r) => r.type === "herald:gap"), 10_000, "the retention gap");
    const gaps = () => stream.received.filter((r) => r.type === "herald:gap").map((r) => r.data);
    expect(gaps()).toEqual([{ channel: "sports", reason: "retention", cursor: old }]);
    // The three events retention kept come after the gap.
    await waitFor(() => stream.ids("sports").length === 3, 10_000, "the kept events");
    // Dropped and added again from a cursor of another epoch: one gap, reason epoch.
    expect(
      (await change(base, { connectionId: stream.connectionId, channels: ["news"], token: await token() })).status,
    ).toBe(200);
    const foreign = "zzz0-5";
    expect((await change(base, { ...body, lastEventId: foreign, token: await token() })).status).toBe(200);
    await waitFor(() => gaps().length === 2, 10_000, "the epoch gap");
    expect(gaps()[1]).toEqual({ channel: "sports", reason: "epoch", cursor: foreign });
    const next = await herald.publish("sports", "new", {});
    await waitFor(() => stream.ids("sports").includes(next), 10_000, "a live sports event");
    expect(herald.stats().gaps).toBe(2);
  });

  it("refuses another user's stream or token, a refused channel, a reused token, a bad body, an unknown id; the stream is unchanged", async () => {
    const herald = makeHerald();
    const base = await nodeBase(herald);
    const alice = await openStream(herald, base, ["news"]);
    const bob = await openStream(herald, base, ["news"], "bob");
    const token = (user = "alice") => herald.tokens.issue(user);
    const id = alice.connectionId;
    const expectRefused = async (answer: Promise<Answer>, status: number, code: string) => {
      const { status: got, body } = await answer;
      expect({ status: got, code: body.error?.code }).toEqual({ status, code });
    };
    // Another user's stream, with my token; my stream with another user's token; no token at all.
    await expectRefused(
      change(base, { connectionId: bob.connectionId, channels: ["news", "sports"], token: await token() }),
      403,
      "connection_user_mismatch",
    );
    await expectRefused(
      change(base, { connectionId: id, channels: ["news", "sports"], token: await token("bob") }, "bob"),
      403,
      "connection_user_mismatch",
    );
    await expectRefused(
      change(base, { connectionId: id, channels: ["news", "sports"] }),
      403,
      "connection_user_mismatch",
    );
    // A channel the rules refuse (another user's), a token bound to other channels.
    await expectRefused(
      change(base, { connectionId: id, channels: ["news", "user-bob"], token: await token() }),
      403,
      "forbidden",
    );
    const bound = await herald.tokens.issue("alice", { channels: ["news"] });
    await expectRefused(
      change(base, { connectionId: id, channels: ["news", "sports"], token: bound }),
      403,
      "forbidden",
    );
    // A reused token.
    const once = await token();
    expect((await change(base, { connectionId: id, channels: ["news", "user-alice"], token: once })).status).toBe(200);
    await expectRefused(change(base, { connectionId: id, channels: ["news"], token: once }), 401, "token_used");
    // Bad bodies.
    const valid = { connectionId: id, channels: ["news"], token: await token() };
    await expectRefused(change(base, "{not json"), 400, "invalid_request");
    await expectRefused(change(base, JSON.stringify(valid), "alice", "text/plain"), 400, "invalid_request");
    await expectRefused(change(base, { ...valid, connectionId: 7 }), 400, "invalid_request");
    await expectRefused(change(base, { ...valid, channels: "news" }), 400, "invalid_request");
    await expectRefused(change(base, { ...valid, channels: [] }), 400, "invalid_request");
    await expectRefused(change(base, { ...valid, channels: ["bad name"] }), 400, "invalid_channel");
    await expectRefused(change(base, { ...valid, lastEventId: "nope" }), 400, "invalid_cursor");
    const many = Array.from({ length: 33 }, (_, i) => `c${i}`);
    await expectRefused(change(base, { ...valid, channels: many }), 400, "too_many_channels");
    await expectRefused(change(base, { ...valid, channels: ["x".repeat(5000)] }), 413, "payload_too_large");
    // An id no stream of this process has.
    await expectRefused(
      change(base, { connectionId: "00000000-0000-4000-8000-000000000000", channels: ["news"], token: await token() }),
      404,
      "unknown_connection",
    );
    // Alice's stream still follows news and user-alice (the one change that passed), nothing else.
    await herald.publish("sports", "e", {});
    await herald.publish("user-bob", "e", {});
    const mine = await herald.publish("user-alice", "e", {});
    const last = await herald.publish("news", "e", {});
    await waitFor(() => alice.ids("news").includes(last), 10_000, "the news event");
    expect(alice.ids("user-alice")).toEqual([mine]);
    expect(alice.ids("sports")).toEqual([]);
    expect(alice.ids("user-bob")).toEqual([]);
    expect(herald.stats().subscriptions).toBe(3);
    expect(herald.stats().counters.refused.channels).toMatchObject({ connection_user_mismatch: 3, forbidden: 2 });
  });

  it("counts a change as a connection attempt: past the per-user rate, 429 with Retry-After", async () => {
    const herald = makeHerald({
      limits: { connectPerIp: false, connectPerUser: { capacity: 2, refillPerSecond: 0.01 } },
    });
    const base = await nodeBase(herald);
    const stream = await openStream(herald, base, ["news"]);
    const body = async () => ({
      connectionId: stream.connectionId,
      channels: ["news"],
      token: await herald.tokens.issue("alice"),
    });
    expect((await change(base, await body())).status).toBe(200);
    const refused = await change(base, await body());
    expect(refused.status).toBe(429);
    expect(refused.body.error?.code).toBe("rate_limited");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("joins an added presence channel as the stream's user and leaves a removed one", async () => {
    const herald = makeHerald({ presence: { userInfo: (id) => ({ name: id }) } });
    const base = await nodeBase(herald);
    const room = "presence-room-1";
    const bob = await openStream(herald, base, [room], "bob");
    const alice = await openStream(herald, base, ["news"]);
    const presence = (stream: Stream) => stream.received.filter((r) => r.type === "herald:presence").map((r) => r.data);
    const token = () => herald.tokens.issue("alice");
    expect(
      (await change(base, { connectionId: alice.connectionId, channels: ["news", room], token: await token() })).status,
    ).toBe(200);
    await waitFor(() => presence(alice).length === 1, 10_000, "alice's member list");
    expect(presence(alice)[0]).toMatchObject({ channel: room, type: "members", me: "alice" });
    expect((presence(alice)[0]!.members as { id: string }[]).map((m) => m.id).sort()).toEqual(["alice", "bob"]);
    await waitFor(() => presence(bob).some((p) => p.type === "added"), 10_000, "bob sees alice come");
    expect(presence(bob).find((p) => p.type === "added")).toMatchObject({
      member: { id: "alice", info: { name: "alice" } },
    });
    expect(herald.stats().transports.sse!.presenceMembers).toBe(2);
    expect(
      (await change(base, { connectionId: alice.connectionId, channels: ["news"], token: await token() })).status,
    ).toBe(200);
    await waitFor(() => presence(bob).some((p) => p.type === "removed"), 10_000, "bob sees alice leave");
    expect(herald.stats().transports.sse!.presenceMembers).toBe(1);
  });
});

describe("POST …/channels on Redis", () => {
  beforeAll(async () => {
    redis = await startRedis();
  });

  it("adds a channel while another instance publishes: every event once and in order", async () => {
    const prefix = `chg${Date.now().toString(36)}`;
    const subscribed = makeHerald({ redis: heraldRedis(redis!.url, { prefix }) });
    const publisher = makeHerald({ redis: heraldRedis(redis!.url, { prefix }) });
    await addWhileFlowing(subscribed, publisher, await nodeBase(subscribed));
  });

  it("the same with the log in 32 partitions (the two channels on two)", async () => {
    const prefix = `chp${Date.now().toString(36)}`;
    const subscribed = makeHerald({ redis: heraldRedis(redis!.url, { prefix, broker: { partitions: 32 } }) });
    const publisher = makeHerald({ redis: heraldRedis(redis!.url, { prefix, broker: { partitions: 32 } }) });
    await addWhileFlowing(subscribed, publisher, await nodeBase(subscribed));
  });

  it("a stream open on another instance is unknown here (404): the client reconnects instead", async () => {
    const prefix = `chg${Date.now().toString(36)}b`;
    const one = makeHerald({ redis: heraldRedis(redis!.url, { prefix }) });
    const two = makeHerald({ redis: heraldRedis(redis!.url, { prefix }) });
    const stream = await openStream(one, await nodeBase(one), ["news"]);
    // Tokens live in Redis: one issued by either instance is good on both.
    const token = await one.tokens.issue("alice");
    const answer = await change(await nodeBase(two), {
      connectionId: stream.connectionId,
      channels: ["sports"],
      token,
    });
    expect(answer.status).toBe(404);
    expect(answer.body.error?.code).toBe("unknown_connection");
  });
});

describe("POST /channels on herald serve", () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const child of children) child.kill("SIGKILL");
  });

  it("serves /channels beside /sse, its CORS preflight included", async () => {
    const origin = "https://app.example";
    const { url } = await startServe(children, { HERALD_CORS_ORIGINS: origin });
    const controller = new AbortController();
    closers.push(() => controller.abort());
    const response = await fetch(`${url}/sse?channel=news`, { headers: { origin }, signal: controller.signal });
    const reader = response.body!.getReader();
    let text = "";
    while (!text.includes("herald:connected")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended: ${text}`);
      text += new TextDecoder().decode(value);
    }
    const connectionId = /"connectionId":"([^"]+)"/.exec(text)![1]!;
    const preflight = await fetch(`${url}/channels`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(origin);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
    const post = (body: unknown, from = origin) =>
      fetch(`${url}/channels`, {
        method: "POST",
        headers: { origin: from, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const answer = await post({ connectionId, channels: ["news", "sports"] });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("access-control-allow-origin")).toBe(origin);
    expect(await answer.json()).toEqual({ connectionId, channels: ["news", "sports"] });
    // serve without HERALD_TOKEN_SECRET serves public channels only; another origin is refused.
    const refused = await post({ connectionId, channels: ["news", "private-x"] });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as Answer["body"]).error?.code).toBe("forbidden");
    const foreign = await post({ connectionId, channels: ["news"] }, "https://evil.example");
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as Answer["body"]).error?.code).toBe("origin_not_allowed");
  });
});
