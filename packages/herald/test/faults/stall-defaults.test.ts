/**
 * Stall detection with the defaults: a connection whose path goes silent (a stalled NAT entry: the
 * open connection forwards nothing, new connections work) is noticed and resumed from the cursor
 * well within the 10 s the defaults promise, on SSE, long-poll and the WebSocket transport, with
 * nothing lost. No option sets a heartbeat, a poll wait or a liveness timeout here: the defaults are
 * what is tested. The wait for the reconnect is bounded at 20 s, so a default bound over it (SSE's
 * was 35 s, long-poll's 55 s, WebSocket's 245 s) fails.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHerald } from "../../src/server/index.js";
import { createHeraldClient } from "../../src/client/index.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
import { startRig, waitFor, type Rig } from "./harness.js";
import { startWs, type WsFixture } from "../ws-client/fixture.js";
import type { HeraldClient } from "../../src/client/index.js";

let rig: Rig | undefined;
let fx: WsFixture | undefined;
let proxy: TcpProxy | undefined;
let closing: (() => Promise<void>) | undefined;
const clients: HeraldClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await rig?.close();
  await proxy?.close();
  await fx?.close();
  await closing?.();
  rig = fx = proxy = closing = undefined;
});

/** The reasons of every move to `reconnecting`, as the client reports them. */
function reasons(client: HeraldClient): string[] {
  const out: string[] = [];
  client.on("state", (t) => {
    if (t.next === "reconnecting") out.push(t.reason);
  });
  return out;
}

describe("stall detection with the default settings", () => {
  it("SSE: the default heartbeat lets the client notice a stalled stream and resume without loss", async () => {
    rig = await startRig();
    expect(rig.herald.core.hub.heartbeatMs).toBeLessThanOrEqual(4000);
    const seen = rig.client({ backoff: { baseMs: 50, capMs: 200 } });
    const why = reasons(seen.client);
    await waitFor(() => seen.client.state === "connected", 10_000, "connected");
    await rig.publish(5);
    await waitFor(() => seen.received.length === 5, 10_000, "events before the stall");

    rig.proxy.freezeOpen();
    await rig.publish(5);
    await waitFor(() => why.includes("stalled"), 20_000, "the stall to be noticed");
    await waitFor(() => seen.client.state === "connected" && seen.received.length === 10, 20_000, "the resume");
    expect(seen.complete(10)).toBe(true);
    expect(seen.gaps).toEqual([]);
  }, 60_000);

  it("long-poll: a held request answers within the default wait, so a stalled one is noticed and resumed", async () => {
    // Herald's routes (the poll route) on node:http, behind the proxy.
    const herald = createHerald();
    const server = http.createServer((req, res) => void herald.handleNodeRoutes(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    proxy = await startTcpProxy((server.address() as AddressInfo).port);
    closing = async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await herald.close();
    };
    const client = createHeraldClient({
      url: `${proxy.url}api/realtime/sse`,
      transport: "poll",
      backoff: { baseMs: 50, capMs: 200 },
      onlineTarget: null,
      visibilityTarget: null,
    });
    clients.push(client);
    const why = reasons(client);
    const got: number[] = [];
    client.subscribe<{ n: number }>("feed", (e) => got.push(e.data.n));
    await waitFor(() => client.state === "connected", 10_000, "connected");
    expect(client.transport).toBe("poll");
    for (let n = 0; n < 5; n++) await herald.publish("feed", "tick", { n });
    await waitFor(() => got.length === 5, 10_000, "events before the stall");

    proxy.freezeOpen();
    for (let n = 5; n < 10; n++) await herald.publish("feed", "tick", { n });
    await waitFor(() => why.includes("stalled"), 20_000, "the stall to be noticed");
    await waitFor(() => client.state === "connected" && got.length === 10, 20_000, "the resume");
    expect(got).toEqual([...Array(10).keys()]);
  }, 60_000);

  it("WebSocket: Herald's server pings its client every heartbeat, so a stalled socket is noticed and resumed", async () => {
    fx = await startWs();
    proxy = await startTcpProxy(Number(new URL(fx.origin).port));
    const client = fx.client({
      source: { url: `ws://127.0.0.1:${proxy.port}/app/app-key` },
      backoff: { baseMs: 50, capMs: 200 },
    });
    const why = reasons(client);
    const connected: { heartbeat?: number }[] = [];
    client.on("connected", (c) => connected.push(c));
    const got: number[] = [];
    client.subscribe<{ n: number }>("room", (e) => got.push(e.data.n));
    await waitFor(() => client.state === "connected", 10_000, "connected");
    expect(connected[0]!.heartbeat).toBeLessThanOrEqual(4000);
    for (let n = 0; n < 5; n++) await fx.herald.publish("room", "m", { n });
    await waitFor(() => got.length === 5, 10_000, "events before the stall");

    proxy.freezeOpen();
    for (let n = 5; n < 10; n++) await fx.herald.publish("room", "m", { n });
    await waitFor(() => why.includes("stalled"), 20_000, "the stall to be noticed");
    await waitFor(() => client.state === "connected" && got.length === 10, 20_000, "the resume");
    expect(got).toEqual([...Array(10).keys()]);
  }, 60_000);
});
