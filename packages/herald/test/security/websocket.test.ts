/**
 * The WebSocket path keeps the rules the HTTP path keeps (issue 16): origin, `allowAnonymous` and
 * channel rules, per-address connection caps, a channel cap per socket, a message rate, client
 * events validated like `POST …/publish` and rated per user and address, unsent bytes counted per
 * frame, and a closed socket destroyed after the close grace. Real `ws` clients on a real server.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { APP, closeAll, startPusher, waitFor } from "../pusher/fixture.js";
import { rawConnect, type RawClient } from "../pusher/raw.js";
import { signSocketAuth } from "../../src/pusher/index.js";
import type { HeraldOptions } from "../../src/server/index.js";

afterEach(closeAll);

type Client = RawClient;

/** Opens a socket with `headers`; resolves once established, rejects with the HTTP status if refused. */
const connect = (port: number, headers: Record<string, string> = {}): Promise<Client> =>
  rawConnect(port, undefined, headers);

const subscribeResult = (c: Client, channel: string) =>
  c.waitFrame(
    (f) =>
      f.channel === channel &&
      (f.event === "pusher_internal:subscription_succeeded" || f.event === "pusher:subscription_error"),
  );

/** A Herald with sessions read from a `user=` cookie, as an app's `getUserId` would. */
const withSessions = (extra: Partial<HeraldOptions> = {}): HeraldOptions => ({
  getUserId: (request) => /(?:^|;\s*)user=([\w-]+)/.exec(request.header("cookie") ?? "")?.[1] ?? null,
  limits: { connectPerIp: false },
  ...extra,
});

describe("WebSocket: the HTTP path's admission and channel rules", () => {
  it("refuses a foreign Origin before the upgrade, with Herald's JSON error", async () => {
    const { port } = await startPusher({}, withSessions());
    const refused = await connect(port, { Origin: "https://evil.example", Cookie: "user=alice" }).catch(
      (e: { status: number; body: string }) => e,
    );
    expect(refused).toMatchObject({ status: 403 });
    expect(JSON.parse((refused as { body: string }).body)).toMatchObject({ error: { code: "origin_not_allowed" } });
    // Same origin (and non-browser clients, which send none) are served.
    const same = await connect(port, { Origin: `http://127.0.0.1:${port}`, Cookie: "user=alice" });
    same.send("pusher:subscribe", { channel: "activity" });
    expect((await subscribeResult(same, "activity")).event).toBe("pusher_internal:subscription_succeeded");
  });

  it("with allowAnonymous: false, an anonymous socket gets nothing public; a signed-in one does", async () => {
    const { port, herald } = await startPusher({}, withSessions({ allowAnonymous: false }));
    const anonymous = await connect(port);
    for (const channel of ["activity", "dashboard", "firehose"]) {
      anonymous.send("pusher:subscribe", { channel });
      const result = await subscribeResult(anonymous, channel);
      expect(result.event).toBe("pusher:subscription_error");
      expect(JSON.parse(result.data as string)).toMatchObject({ status: 401 });
    }
    const alice = await connect(port, { Cookie: "user=alice" });
    alice.send("pusher:subscribe", { channel: "activity" });
    expect((await subscribeResult(alice, "activity")).event).toBe("pusher_internal:subscription_succeeded");
    await herald.publish("activity", "signin", { user: "bob" });
    await alice.waitFrame((f) => f.event === "signin");
    expect(anonymous.frames.some((f) => f.event === "signin")).toBe(false);
  });

  it("applies the instance's authorize callback to public channels", async () => {
    const { port } = await startPusher(
      {},
      withSessions({ authorize: (principal, channel) => channel !== "staff" || principal?.userId === "admin" }),
    );
    const alice = await connect(port, { Cookie: "user=alice" });
    alice.send("pusher:subscribe", { channel: "staff" });
    const refused = await subscribeResult(alice, "staff");
    expect(refused.event).toBe("pusher:subscription_error");
    expect(JSON.parse(refused.data as string)).toMatchObject({ status: 403 });
    const admin = await connect(port, { Cookie: "user=admin" });
    admin.send("pusher:subscribe", { channel: "staff" });
    expect((await subscribeResult(admin, "staff")).event).toBe("pusher_internal:subscription_succeeded");
  });

  it("caps connections per address, counted with SSE, and frees the slot when a socket goes", async () => {
    const { port, herald } = await startPusher({}, { limits: { connectPerIp: false, maxConnectionsPerIp: 3 } });
    const open = [await connect(port), await connect(port), await connect(port)];
    const refused = await connect(port).catch((e: { status: number; body: string }) => e);
    expect(refused).toMatchObject({ status: 429 });
    expect(JSON.parse((refused as { body: string }).body)).toMatchObject({ error: { code: "too_many_connections" } });
    // SSE from the same address is refused too: one count for both transports.
    const sse = await fetch(`http://127.0.0.1:${port}/sse?channel=news`);
    expect(sse.status).toBe(429);
    await sse.body?.cancel();
    open[0]!.ws.close();
    await open[0]!.closed;
    await waitFor(() => herald.core.limits.connectionsFrom("127.0.0.1") === 2);
    await connect(port);
  });

  it("caps channels per socket at the instance's maxChannelsPerConnection", async () => {
    const { port } = await startPusher({}, { limits: { connectPerIp: false }, maxChannelsPerConnection: 4 });
    const c = await connect(port);
    for (let i = 0; i < 5; i++) c.send("pusher:subscribe", { channel: `room-${i}` });
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => subscribeResult(c, `room-${i}`)));
    expect(results.filter((r) => r.event === "pusher_internal:subscription_succeeded")).toHaveLength(4);
    const error = results.find((r) => r.event === "pusher:subscription_error")!;
    expect(JSON.parse(error.data as string)).toMatchObject({ status: 429, type: "LimitReached" });
  });
});

describe("WebSocket: client events and message floods", () => {
  /** A socket subscribed to `private-room` (signed as an app's auth endpoint would). */
  async function inRoom(port: number): Promise<Client> {
    const c = await connect(port);
    c.send("pusher:subscribe", {
      channel: "private-room",
      auth: signSocketAuth(APP.key, APP.secret, `${c.socketId}:private-room`),
    });
    expect((await subscribeResult(c, "private-room")).event).toBe("pusher_internal:subscription_succeeded");
    return c;
  }

  it("refuses a client event nested deeper than 16 levels; the channel's log stays readable", async () => {
    const { port, herald } = await startPusher({}, { limits: { connectPerIp: false } });
    const [a, b] = [await inRoom(port), await inRoom(port)];
    const deep = "[".repeat(5000) + "]".repeat(5000); // 10,000 bytes: within the size cap
    a.ws.send(`{"event":"client-poison","channel":"private-room","data":${deep}}`);
    const error = await a.waitFrame((f) => f.event === "pusher:error");
    expect(JSON.stringify(error.data)).toContain("nested deeper than 16");
    // As a string of JSON too (pusher-js sends objects; a raw client may send text).
    a.send("client-poison", deep, "private-room");
    await waitFor(() => a.frames.filter((f) => f.event === "pusher:error").length === 2);
    a.send("client-ok", { depth: [[[1]]] }, "private-room");
    await b.waitFrame((f) => f.event === "client-ok");
    expect(b.frames.some((f) => f.event === "client-poison")).toBe(false);
    const { events } = await herald.broker.read("private-room", 0, 100);
    expect(events.map((e) => e.event)).toEqual(["client-ok"]);
  });

  it("rates client events per address across sockets (the publish route's bucket), not per socket", async () => {
    const { port } = await startPusher(
      {},
      { limits: { connectPerIp: false, routes: { publish: { perIp: { capacity: 5, refillPerSecond: 0.001 } } } } },
    );
    const sockets = [await inRoom(port), await inRoom(port), await inRoom(port)];
    const listener = await inRoom(port);
    for (const [i, s] of sockets.entries()) for (let n = 0; n < 3; n++) s.send("client-n", { i, n }, "private-room");
    await waitFor(() => sockets.flatMap((s) => s.frames).filter((f) => f.event === "pusher:error").length === 4);
    const limited = sockets.flatMap((s) => s.frames).filter((f) => f.event === "pusher:error");
    expect(limited.every((f) => (f.data as { code: number }).code === 4301)).toBe(true);
    await waitFor(() => listener.frames.filter((f) => f.event === "client-n").length === 5);
  });

  it("closes a socket that floods messages with 4100, having answered no more than the burst", async () => {
    const { port, pusher } = await startPusher(
      { messageRate: { capacity: 50, refillPerSecond: 1 } },
      { limits: { connectPerIp: false } },
    );
    const c = await connect(port);
    for (let i = 0; i < 200; i++) c.send("pusher:ping", {});
    expect((await c.closed).code).toBe(4100);
    expect(pusher.connectionCount()).toBe(0);
    expect(c.frames.filter((f) => f.event === "pusher:pong").length).toBeLessThanOrEqual(50);
    expect(c.frames.at(-1)).toMatchObject({ event: "pusher:error", data: { code: 4100 } });
  });

  it("closes a subscriber that reads nothing and destroys its socket after the close grace", async () => {
    const maxBufferedBytes = 64 * 1024;
    const { port, pusher, herald } = await startPusher(
      { maxBufferedBytes, closeGraceMs: 200 },
      { limits: { connectPerIp: false } },
    );
    const c = await connect(port);
    c.send("pusher:subscribe", { channel: "ticks" });
    await subscribeResult(c, "ticks");
    const raw = (c.ws as unknown as { _socket: import("node:net").Socket })._socket;
    raw.pause(); // a client that stops reading its socket (and so never answers the close)
    // Tiny events: their bytes alone would take a very long time to reach the cap.
    let sent = 0;
    while (pusher.connectionCount() > 0 && sent < 200_000) {
      await Promise.all(Array.from({ length: 500 }, () => herald.publish("ticks", "t", 1)));
      sent += 500;
    }
    expect(pusher.connectionCount()).toBe(0);
    // Its connection slot is held until the socket is gone: the server destroys it after the grace
    // (without that, `ws` would wait 30 s for a closing handshake that never comes).
    await waitFor(() => herald.core.limits.connectionsFrom("127.0.0.1") === 0);
  });
});

describe("WebSocket: sign-in counts against the per-user connection cap", () => {
  it("refuses a sign-in past maxConnectionsPerUser (4100), across sockets", async () => {
    const { port } = await startPusher({}, { limits: { connectPerIp: false, maxConnectionsPerUser: 2 } });
    const signin = async (c: Client) => {
      const userData = JSON.stringify({ id: "alice" });
      c.send("pusher:signin", {
        user_data: userData,
        auth: signSocketAuth(APP.key, APP.secret, `${c.socketId}::user::${userData}`),
      });
      return c.waitFrame((f) => f.event === "pusher:signin_success" || f.event === "pusher:error");
    };
    expect((await signin(await connect(port))).event).toBe("pusher:signin_success");
    expect((await signin(await connect(port))).event).toBe("pusher:signin_success");
    const third = await connect(port);
    const refused = await signin(third);
    expect(refused).toMatchObject({ event: "pusher:error", data: { code: 4100 } });
    expect((await third.closed).code).toBe(4100);
  });
});

describe("the Pusher HTTP API", () => {
  it("checks the signature before reading a body: an unsigned 255 KiB body is refused unread", async () => {
    const { port } = await startPusher();
    const body = "x".repeat(255 * 1024);
    const res = await new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/apps/app-id/events",
          headers: { "content-length": body.length },
        },
        (r) => {
          r.resume();
          resolve({ status: r.statusCode!, connection: r.headers.connection });
        },
      );
      req.on("error", reject);
      // Send only the head: the answer must come without the body.
      req.flushHeaders();
    });
    expect(res).toEqual({ status: 401, connection: "close" });
  });

  it("refuses replays after the repeat window, hexadecimal and exponent timestamps, and 90 s of skew", async () => {
    let now = Date.now();
    const { port, sdk } = await startPusher({ now: () => now });
    const path = "/apps/app-id/events";
    const body = JSON.stringify({ name: "e", channels: ["news"], data: "{}" });
    // The `pusher` SDK signs the request; its query is replayed as captured.
    const signed = await captureSigned(sdk, body);
    const send = (query: string) =>
      fetch(`http://127.0.0.1:${port}${path}?${query}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
    expect((await send(signed)).status).toBe(200);
    now += 5_000;
    const replay = await send(signed);
    expect(replay.status).toBe(401);
    expect(await replay.text()).toContain("Replayed");
    const stamp = new URLSearchParams(signed).get("auth_timestamp")!;
    for (const bad of [`0x${Number(stamp).toString(16)}`, `${Number(stamp) / 1e9}e9`]) {
      const res = await send(signed.replace(`auth_timestamp=${stamp}`, `auth_timestamp=${bad}`));
      expect(res.status).toBe(401);
      expect(await res.text()).toContain("auth_timestamp");
    }
    now += 90_000;
    const fresh = await captureSigned(sdk, body, Math.floor(Date.now() / 1000));
    const skewed = await send(fresh);
    expect(skewed.status).toBe(401);
    expect(await skewed.text()).toContain("Timestamp expired");
  });

  it("refuses info=user_count on a non-presence channel before publishing anything", async () => {
    const { sdk, herald } = await startPusher();
    const res = await sdk.trigger("news", "e", { a: 1 }, { info: "user_count" }).catch((e: { status: number }) => e);
    expect(res).toMatchObject({ status: 400 });
    expect((await herald.broker.read("news", 0, 10)).events).toHaveLength(0);
  });
});

/**
 * The query string the `pusher` SDK signs for a POST of `body` to `/apps/app-id/events`, taken off
 * the wire by a one-shot server (at `timestamp` when given, by faking the SDK's clock).
 */
async function captureSigned(sdk: import("pusher"), body: string, timestamp?: number): Promise<string> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
    captured(req.url!.split("?")[1]!);
  });
  let captured: (q: string) => void = () => {};
  const got = new Promise<string>((resolve) => (captured = resolve));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const Pusher = (await import("pusher")).default;
  void sdk;
  const client = new Pusher({
    ...APP,
    host: "127.0.0.1",
    port: String(port),
    useTLS: false,
  });
  const realNow = Date.now;
  if (timestamp !== undefined) Date.now = () => timestamp * 1000;
  try {
    await client.post({ path: "/events", body: JSON.parse(body) as object });
  } finally {
    Date.now = realNow;
  }
  const query = await got;
  await new Promise<void>((r) => server.close(() => r()));
  return query;
}
