/**
 * Why WebSocket connections end, as the metrics and the lifecycle log report it: the same
 * vocabulary as SSE and long-poll where they overlap (`client_closed`, `slow_consumer`,
 * `rate_limited`, `too_many_connections`, `unauthorized`, `server_closing`), and the socket's own
 * (`terminated`, `protocol_error`, `heartbeat_timeout`). Real `ws` clients on a real server; each case is
 * provoked the way a client would, then `/metrics` is scraped.
 */
import Pusher from "pusher";
import { afterEach, describe, expect, it } from "vitest";
import { rawConnect, type RawClient } from "../pusher/raw.js";
import { signSocketAuth } from "../../src/pusher/index.js";
import { waitFor } from "../helpers.js";
import { APP, scrape, startObserved, type ObservedServer } from "./fixture.js";

const servers: ObservedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const signin = (c: RawClient, id: string) => {
  const userData = JSON.stringify({ id });
  c.send("pusher:signin", {
    user_data: userData,
    auth: signSocketAuth(APP.key, APP.secret, `${c.socketId}::user::${userData}`),
  });
  return c.waitFrame((f) => f.event === "pusher:signin_success" || f.event === "pusher:error", 20_000);
};

const reasonsOf = (m: Map<string, number>) =>
  Object.fromEntries(
    [...m]
      .filter(([key]) => key.startsWith('herald_disconnects_total{transport="websocket"'))
      .map(([key, value]) => [/reason="([^"]+)"/.exec(key)![1]!, value]),
  );

describe("WebSocket disconnect reasons", () => {
  it("reports each way a socket ends by its own reason, in the metrics and the log", async () => {
    const server = await startObserved(
      { limits: { connectPerIp: false, maxConnectionsPerUser: 1 } },
      { messageRate: { capacity: 20, refillPerSecond: 1 }, maxBufferedBytes: 64 * 1024, closeGraceMs: 200 },
    );
    servers.push(server);
    const { port, herald, pusher } = server;

    // The client closes.
    const leaving = await rawConnect(port);
    leaving.ws.close(1000);
    await leaving.closed;

    // A flood of messages: the message bucket runs dry (4100).
    const flooding = await rawConnect(port);
    for (let i = 0; i < 100; i++) flooding.send("pusher:ping", {});
    expect((await flooding.closed).code).toBe(4100);

    // A sign-in whose signature does not match (4009).
    const forger = await rawConnect(port);
    forger.send("pusher:signin", { user_data: JSON.stringify({ id: "mallory" }), auth: `${APP.key}:00` });
    expect((await forger.closed).code).toBe(4009);

    // A second connection of a user past maxConnectionsPerUser (4100), while the first stays.
    const alice = await rawConnect(port);
    expect((await signin(alice, "alice")).event).toBe("pusher:signin_success");
    const aliceAgain = await rawConnect(port);
    expect(await signin(aliceAgain, "alice")).toMatchObject({ data: { code: 4100 } });
    await aliceAgain.closed;

    // A frame over the server's maxPayload: ws reports a protocol error and closes (1009).
    const oversized = await rawConnect(port);
    oversized.ws.send("x".repeat(300 * 1024));
    expect((await oversized.closed).code).toBe(1009);

    // A subscriber that stops reading: its unsent frames pass maxBufferedBytes (4100).
    const stalled = await rawConnect(port);
    stalled.send("pusher:subscribe", { channel: "ticks" });
    await stalled.waitFrame((f) => f.event === "pusher_internal:subscription_succeeded", 20_000);
    (stalled.ws as unknown as { _socket: import("node:net").Socket })._socket.pause();
    for (let sent = 0; herald.stats().transports.websocket!.dropped === 0 && sent < 200_000; sent += 500) {
      await Promise.all(Array.from({ length: 500 }, () => herald.publish("ticks", "t", "y".repeat(200))));
    }
    expect(herald.stats().transports.websocket!.dropped).toBe(1);

    // The app ends a user's connections through the HTTP API (4009).
    const dave = await rawConnect(port);
    expect((await signin(dave, "dave")).event).toBe("pusher:signin_success");
    const sdk = new Pusher({ ...APP, host: "127.0.0.1", port: String(port), useTLS: false });
    expect((await sdk.terminateUserConnections("dave")).status).toBe(200);
    expect((await dave.closed).code).toBe(4009);

    await waitFor(() => pusher.connectionCount() === 1, 20_000, "every socket but alice's to be gone");
    // The server shuts down: alice's socket gets 4200.
    await pusher.close();
    expect((await alice.closed).code).toBe(4200);

    const m = await scrape(`${server.base}/metrics`);
    expect(reasonsOf(m)).toEqual({
      client_closed: 1,
      rate_limited: 1,
      unauthorized: 1,
      too_many_connections: 1,
      protocol_error: 1,
      slow_consumer: 1,
      terminated: 1,
      server_closing: 1,
    });
    const closed = server.logs.filter((l) => l.msg === "connection closed" && l.transport === "websocket");
    expect(closed.map((l) => l.reason).sort()).toEqual(
      [
        "client_closed",
        "protocol_error",
        "rate_limited",
        "server_closing",
        "slow_consumer",
        "terminated",
        "too_many_connections",
        "unauthorized",
      ].sort(),
    );
  }, 120_000);

  it("reports a client that does not answer pusher:ping as heartbeat_timeout (4201)", async () => {
    const server = await startObserved({}, { activityTimeout: 1, pongTimeoutMs: 200 });
    servers.push(server);
    const quiet = await rawConnect(server.port);
    await quiet.waitFrame((f) => f.event === "pusher:ping", 20_000);
    expect((await quiet.closed).code).toBe(4201);
    await waitFor(() => server.pusher.connectionCount() === 0, 20_000, "the socket to be gone");
    const m = await scrape(`${server.base}/metrics`);
    expect(reasonsOf(m)).toEqual({ heartbeat_timeout: 1 });
    expect(server.logs.filter((l) => l.msg === "connection closed")).toMatchObject([
      { transport: "websocket", reason: "heartbeat_timeout" },
    ]);
  }, 60_000);
});
