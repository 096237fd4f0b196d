/**
 * The wire itself, with a raw `ws` client: handshake, frames (data as a JSON string, Herald's `id`
 * field), ping/pong and the idle timeout, error codes, client events and their rate limit.
 */
import { afterEach, describe, expect, it } from "vitest";
import { PusherJs } from "./pusher-js.js";
import { signSocketAuth } from "../../src/pusher/index.js";
import { APP, closeAll, collect, connected, next, startPusher, subscribed, waitFor } from "./fixture.js";
import { rawConnect, type RawClient } from "./raw.js";

afterEach(closeAll);

const auth = (socketId: string, channel: string, channelData?: string) =>
  signSocketAuth(
    APP.key,
    APP.secret,
    channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`,
  );

async function join(c: RawClient, channel: string, channelData?: string): Promise<void> {
  const needsAuth = /^(private-|presence-)/.test(channel);
  c.send("pusher:subscribe", {
    channel,
    ...(needsAuth ? { auth: auth(c.socketId, channel, channelData) } : {}),
    ...(channelData ? { channel_data: channelData } : {}),
  });
  await c.waitFrame((f) => f.event === "pusher_internal:subscription_succeeded" && f.channel === channel);
}

describe("handshake and frames", () => {
  it("establishes with a socket id and activity timeout, and answers pusher:ping", async () => {
    const f = await startPusher({ activityTimeout: 30 });
    const c = await rawConnect(f.port);
    expect(c.frames[0]!.event).toBe("pusher:connection_established");
    expect(JSON.parse(c.frames[0]!.data as string)).toEqual({ socket_id: c.socketId, activity_timeout: 30, herald: 1 });
    expect(c.socketId).toMatch(/^\d+\.\d+$/);
    c.send("pusher:ping", {});
    await c.waitFrame((fr) => fr.event === "pusher:pong");
  });

  it("sends event data as a JSON string, with Herald's event id in `id`", async () => {
    const f = await startPusher();
    const c = await rawConnect(f.port);
    await join(c, "news");
    const id = await f.herald.publish("news", "story", { a: 1 });
    const frame = await c.waitFrame((fr) => fr.event === "story");
    expect(frame).toEqual({ event: "story", channel: "news", data: '{"a":1}', id });
    expect(id).toMatch(/^[a-z0-9]+-\d+$/);
  });

  it("closes unknown app keys with 4001 and a missing protocol with 4008, after a pusher:error", async () => {
    const f = await startPusher();
    const bad = await rawConnect(f.port, "/app/nope?protocol=7");
    expect(bad.frames[0]).toEqual({ event: "pusher:error", data: { code: 4001, message: expect.any(String) } });
    expect((await bad.closed).code).toBe(4001);
    const noProtocol = await rawConnect(f.port, "/app/app-key");
    expect((await noProtocol.closed).code).toBe(4008);
    const old = await rawConnect(f.port, "/app/app-key?protocol=3");
    expect((await old.closed).code).toBe(4007);
  });

  it("refuses connections over maxConnections with 4100 (pusher-js backs off and retries)", async () => {
    const f = await startPusher({ maxConnections: 1 });
    const first = await rawConnect(f.port);
    const second = await rawConnect(f.port);
    expect(second.frames[0]).toMatchObject({ event: "pusher:error", data: { code: 4100 } });
    expect((await second.closed).code).toBe(4100);
    first.ws.close();
  });

  it("pusher-js with an unknown key gets error 4001 and does not retry", async () => {
    const f = await startPusher();
    const client = new PusherJs("wrong-key", {
      cluster: "herald",
      wsHost: "127.0.0.1",
      wsPort: f.port,
      forceTLS: false,
      enabledTransports: ["ws"],
      disableStats: true,
    });
    const errors: unknown[] = [];
    const states: string[] = [];
    client.connection.bind("error", (e: unknown) => errors.push(e));
    client.connection.bind("state_change", (s: { current: string }) => states.push(s.current));
    await waitFor(() => JSON.stringify(errors).includes("4001"), 5000);
    expect(errors[0]).toMatchObject({ error: { data: { code: 4001 } } });
    await new Promise((r) => setTimeout(r, 1500));
    // Refused: pusher-js does not retry a 4000-4099 close.
    expect(states).not.toContain("connected");
    expect(errors).toHaveLength(1);
    client.disconnect();
  });

  it("pings a silent client after activity_timeout and closes it with 4201 when no pong comes", async () => {
    const f = await startPusher({ activityTimeout: 1, pongTimeoutMs: 300 });
    const c = await rawConnect(f.port);
    await c.waitFrame((fr) => fr.event === "pusher:ping", 3000);
    expect((await c.closed).code).toBe(4201);
    const alive = await rawConnect(f.port);
    await alive.waitFrame((fr) => fr.event === "pusher:ping", 3000);
    alive.send("pusher:pong", {});
    await new Promise((r) => setTimeout(r, 500));
    expect(alive.ws.readyState).toBe(alive.ws.OPEN);
  });

  it("refuses #server-to-user-{id} to a socket not signed in as that user", async () => {
    const f = await startPusher();
    const c = await rawConnect(f.port);
    c.send("pusher:subscribe", { channel: "#server-to-user-u42" });
    const err = await c.waitFrame((fr) => fr.event === "pusher:subscription_error");
    expect(JSON.parse(err.data as string)).toMatchObject({ status: 403 });
  });

  it("checks the presence signature over the exact channel_data sent", async () => {
    const f = await startPusher();
    const c = await rawConnect(f.port);
    const channelData = '{"user_id":"u1",  "user_info":{"n":1}}';
    c.send("pusher:subscribe", {
      channel: "presence-x",
      auth: auth(c.socketId, "presence-x", JSON.stringify(JSON.parse(channelData))),
      channel_data: channelData,
    });
    const err = await c.waitFrame((fr) => fr.event === "pusher:subscription_error");
    expect(JSON.parse(err.data as string)).toMatchObject({ status: 401 });
    await join(c, "presence-x", channelData);
    const ok = c.frames.find((fr) => fr.event === "pusher_internal:subscription_succeeded")!;
    expect(JSON.parse(ok.data as string)).toEqual({ presence: { ids: ["u1"], hash: { u1: { n: 1 } }, count: 1 } });
  });
});

describe("client events", () => {
  it("relays client events on private and presence channels to the others, not the sender", async () => {
    const f = await startPusher();
    const [a, b] = [f.client({ user_id: "a" }), f.client({ user_id: "b" })];
    await Promise.all([connected(a), connected(b)]);
    const [ca, cb] = await Promise.all([subscribed(a, "private-chat"), subscribed(b, "private-chat")]);
    const echo = collect(ca, "client-typing");
    const got = next(cb, "client-typing");
    expect(ca.trigger("client-typing", { who: "a" })).toBe(true);
    expect(await got).toEqual({ who: "a" });
    const [pa, pb] = await Promise.all([subscribed(a, "presence-chat"), subscribed(b, "presence-chat")]);
    const withUser = new Promise<unknown>((resolve) =>
      pb.bind("client-hi", (data: unknown, meta: unknown) => resolve({ data, meta })),
    );
    pa.trigger("client-hi", { x: 1 });
    expect(await withUser).toEqual({ data: { x: 1 }, meta: { user_id: "a" } });
    await new Promise((r) => setTimeout(r, 100));
    expect(echo).toEqual([]);
  });

  it("refuses client events on public channels and past 10 per second (4301, connection kept)", async () => {
    const f = await startPusher();
    const a = await rawConnect(f.port);
    const b = await rawConnect(f.port);
    await join(a, "private-burst");
    await join(b, "private-burst");
    await join(a, "public-room");
    a.send("client-x", { n: 0 }, "public-room");
    await a.waitFrame(
      (fr) => fr.event === "pusher:error" && String((fr.data as { message: string }).message).includes("private"),
    );
    for (let n = 1; n <= 14; n++) a.send("client-x", { n }, "private-burst");
    const limited = await a.waitFrame(
      (fr) => fr.event === "pusher:error" && (fr.data as { code: number }).code === 4301,
    );
    expect(limited.data).toMatchObject({ code: 4301 });
    await waitFor(() => b.frames.filter((fr) => fr.event === "client-x").length === 9, 3000);
    await new Promise((r) => setTimeout(r, 200));
    // 10 in the window: one went to the public channel, 9 got through.
    expect(b.frames.filter((fr) => fr.event === "client-x").length).toBe(9);
    expect(a.ws.readyState).toBe(a.ws.OPEN);
    await new Promise((r) => setTimeout(r, 1000));
    a.send("client-x", { n: 99 }, "private-burst");
    await b.waitFrame((fr) => fr.event === "client-x" && fr.data === '{"n":99}');
  });
});

describe("client event limits", () => {
  it("refuses client events over 10 KB and on channels the socket is not subscribed to, connection kept", async () => {
    const f = await startPusher();
    const a = await rawConnect(f.port);
    await join(a, "private-big");
    a.send("client-big", { blob: "x".repeat(10 * 1024) }, "private-big");
    await a.waitFrame(
      (fr) => fr.event === "pusher:error" && /larger than 10240/.test((fr.data as { message: string }).message),
    );
    a.send("client-x", {}, "private-elsewhere");
    await a.waitFrame(
      (fr) => fr.event === "pusher:error" && /subscribed/.test((fr.data as { message: string }).message),
    );
    expect(a.ws.readyState).toBe(a.ws.OPEN);
  });

  it("refuses client events when the app turns them off", async () => {
    const f = await startPusher({ clientEvents: false });
    const a = await rawConnect(f.port);
    await join(a, "private-quiet");
    a.send("client-x", {}, "private-quiet");
    await a.waitFrame((fr) => fr.event === "pusher:error" && /disabled/.test((fr.data as { message: string }).message));
  });
});

describe("resilience", () => {
  it("pusher-js reconnects after the socket is cut and resubscribes", async () => {
    const f = await startPusher();
    const client = f.client();
    await connected(client);
    const channel = await subscribed(client, "live");
    const first = client.connection.socket_id;
    const states: string[] = [];
    client.connection.bind("state_change", (s: { current: string }) => states.push(s.current));
    f.cutAll();
    await waitFor(() => states.join() === "connecting,connected", 10_000, "a reconnection");
    expect(client.connection.socket_id).not.toBe(first);
    await waitFor(
      () => f.pusher.connectionCount() === 1 && (channel as unknown as { subscribed: boolean }).subscribed,
      10_000,
    );
    await new Promise((r) => setTimeout(r, 50));
    const got = next(channel, "after");
    await f.sdk.trigger("live", "after", { ok: true });
    expect(await got).toEqual({ ok: true });
  });

  it("delivers to 200 pusher-js clients on one channel", async () => {
    const f = await startPusher();
    const clients = Array.from({ length: 200 }, () => f.client());
    await Promise.all(clients.map(connected));
    const channels = await Promise.all(clients.map((c) => subscribed(c, "crowd")));
    const got = channels.map((ch) => next(ch, "wave", 10_000));
    await f.sdk.trigger("crowd", "wave", { n: 1 });
    expect(new Set((await Promise.all(got)).map((d) => JSON.stringify(d)))).toEqual(new Set(['{"n":1}']));
    const info = await (await f.sdk.get({ path: "/channels/crowd", params: { info: "subscription_count" } })).json();
    expect(info).toEqual({ occupied: true, subscription_count: 200 });
  }, 30_000);
});
