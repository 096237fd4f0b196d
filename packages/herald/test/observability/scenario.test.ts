/**
 * The scripted scenario of issue 18: SSE, long-poll and WebSocket clients connect; events are
 * published; one client is cut and resumes; one resumes across an epoch (a gap); one token is
 * refused; one request is rate limited; one slow consumer is dropped; one task runs to the end and
 * one is canceled. Then `/metrics` is scraped over HTTP and every value is checked exactly, and
 * so are the lifecycle log lines (through a real pino logger). Real parts throughout: node:http on
 * port 0, prom-client, pino, fetch, ws.
 */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { rawConnect } from "../pusher/raw.js";
import { waitFor } from "../helpers.js";
import { SseReader, scrape, startObserved, type ObservedServer } from "./fixture.js";

let server: ObservedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const connected = (text: string) => text.includes("event: herald:connected");
const count = (text: string, what: string) => text.split(what).length - 1;

describe("observability: the scripted scenario", () => {
  it("scrapes exact values from /metrics and writes the lifecycle lines", async () => {
    server = await startObserved({
      maxBufferedBytes: 16 * 1024,
      limits: { routes: { token: { perUser: { capacity: 1, refillPerSecond: 0.0001 } } } },
    });
    const { herald, base, port } = server;
    const post = (path: string, user: string) =>
      fetch(`${base}/${path}`, { method: "POST", headers: { "x-user": user } });

    // A token for alice; bob's second token request is rate limited (one per user here).
    const { token } = (await (await post("token", "alice")).json()) as { token: string };
    expect((await post("token", "bob")).status).toBe(200);
    const limited = await post("token", "bob");
    expect(limited.status).toBe(429);

    // A refused token.
    const refused = await fetch(`${base}/sse?channel=news&token=nope.nope`);
    expect(refused.status).toBe(401);
    const refusedCode = ((await refused.json()) as { error: { code: string } }).error.code;
    expect(refusedCode).toMatch(/^token_/);

    // Two SSE subscribers (alice with her token, one anonymous), a long-poll, a WebSocket.
    const alice = new SseReader(`${base}/sse?channel=news&token=${token}`);
    const anon = new SseReader(`${base}/sse?channel=news`);
    await alice.until(connected, "alice connected");
    await anon.until(connected, "anon connected");
    const first = (await (await fetch(`${base}/poll?channel=news`)).json()) as { cursor: string };
    const held = fetch(`${base}/poll?channel=news&lastEventId=${first.cursor}&wait=20`).then(
      (r) => r.json() as Promise<{ events: unknown[] }>,
    );
    const ws = await rawConnect(port);
    ws.send("pusher:subscribe", { channel: "news" });
    await ws.waitFrame((f) => f.event === "pusher_internal:subscription_succeeded", 20_000);
    await waitFor(() => herald.stats().pollWaiters === 1, 20_000, "the long-poll to be held");

    const mid = await scrape(`${base}/metrics`);
    expect(mid.get('herald_connections{transport="sse"}')).toBe(2);
    expect(mid.get('herald_connections{transport="poll"}')).toBe(1);
    expect(mid.get('herald_connections{transport="websocket"}')).toBe(1);
    expect(mid.get('herald_subscriptions{transport="websocket"}')).toBe(1);
    expect(mid.get("herald_channels")).toBe(1);
    // The socket is on no presence channel; the gauge is there, at 0 (namespaces.test.ts counts members).
    expect(mid.get('herald_presence_members{transport="websocket"}')).toBe(0);

    // Three events, one at a time (each reaches everyone before the next).
    const ticks = () => ws.frames.filter((f) => f.event === "tick").length;
    for (let i = 1; i <= 3; i++) {
      await herald.publish("news", "tick", { i });
      await alice.until((t) => count(t, '"event":"tick"') === i, `alice tick ${i}`);
      await anon.until((t) => count(t, '"event":"tick"') === i, `anon tick ${i}`);
      await waitFor(() => ticks() === i, 20_000, `websocket tick ${i}`);
      if (i === 1) expect((await held).events).toHaveLength(1);
    }

    // A cut: anon leaves after the second event, then resumes from it and gets the third (recovered).
    const afterSecond = [...anon.text.matchAll(/"event":"tick","id":"([^"]+)"/g)][1]![1]!;
    await anon.close();
    await waitFor(() => herald.stats().subscribers === 1, 20_000, "the cut to reach the server");
    const resumed = new SseReader(`${base}/sse?channel=news&lastEventId=${afterSecond}`);
    await resumed.until((t) => connected(t) && count(t, '"event":"tick"') === 1, "the resumed replay");
    // A resume across an epoch the log no longer has: a gap.
    const lost = new SseReader(`${base}/sse?channel=news&lastEventId=zzzz-1`);
    await lost.until(connected, "the gap resume");
    expect(lost.text).toContain("event: herald:gap");

    // A slow consumer: a Fetch-path stream nobody reads, over the 16 KiB cap after one big event.
    const stalled = new AbortController();
    const unread = await herald.routes.GET(new Request(`${base}/sse?channel=firehose`, { signal: stalled.signal }));
    expect(unread.status).toBe(200);
    await waitFor(() => herald.stats().subscribers === 4, 20_000, "the stalled subscriber to attach");
    const before = herald.stats().delivered;
    await herald.publish("firehose", "blob", { blob: "x".repeat(20 * 1024) });
    await waitFor(() => herald.stats().delivered === before + 1, 20_000, "the first blob written");
    await herald.publish("firehose", "blob", { blob: "y".repeat(20 * 1024) });
    await waitFor(() => herald.stats().dropped === 1, 20_000, "the stalled subscriber to be dropped");

    // A rejected publish.
    await expect(herald.publish("not a channel!", "tick", {})).rejects.toThrow();

    // Tasks: one succeeds, one is canceled while it runs.
    let running = false;
    const done = await herald.tasks.start("alice", async () => "ok");
    const long = await herald.tasks.start("alice", async (ctx) => {
      running = true;
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    });
    await waitFor(() => running, 20_000, "the long task to run");
    await herald.tasks.cancel(long.id, "alice");
    expect((await herald.tasks.wait(done.id, "alice")).status).toBe("succeeded");
    await herald.tasks.wait(long.id, "alice");

    // Everyone leaves.
    await Promise.all([alice.close(), resumed.close(), lost.close()]);
    ws.ws.close();
    await waitFor(
      () => herald.stats().subscribers === 0 && herald.stats().transports.websocket?.connections === 0,
      20_000,
      "everyone to leave",
    );
    stalled.abort();

    const m = await scrape(`${base}/metrics`);
    const expected: Record<string, number> = {
      // Gauges, once everyone left.
      'herald_connections{transport="sse"}': 0,
      'herald_connections{transport="poll"}': 0,
      'herald_connections{transport="websocket"}': 0,
      herald_buffered_bytes: 0,
      herald_tasks_running: 0,
      'herald_presence_members{transport="sse"}': 0,
      'herald_presence_members{transport="websocket"}': 0,
      // sse: alice, anon, the resumed one, the gap one, the stalled one; poll: first and held; one socket.
      'herald_connections_opened_total{transport="sse"}': 5,
      'herald_connections_opened_total{transport="poll"}': 2,
      'herald_connections_opened_total{transport="websocket"}': 1,
      'herald_disconnects_total{transport="sse",reason="client_closed"}': 4,
      'herald_disconnects_total{transport="sse",reason="slow_consumer"}': 1,
      'herald_disconnects_total{transport="poll",reason="answered"}': 2,
      'herald_disconnects_total{transport="websocket",reason="client_closed"}': 1,
      // 3 ticks + 2 blobs + per task: task.started, running, and its end (3 each).
      'herald_publishes_total{result="ok"}': 11,
      'herald_publishes_total{result="rejected"}': 1,
      herald_publish_duration_seconds_count: 11,
      // 3 ticks to 2 SSE subscribers, 2 blobs to the stalled one; 1 to the held poll; 3 to the socket.
      'herald_deliveries_total{transport="sse"}': 8,
      'herald_deliveries_total{transport="poll"}': 1,
      'herald_deliveries_total{transport="websocket"}': 3,
      'herald_slow_consumer_drops_total{transport="sse"}': 1,
      'herald_slow_consumer_drops_total{transport="websocket"}': 0,
      'herald_resumes_total{transport="sse",result="recovered"}': 1,
      'herald_resumes_total{transport="sse",result="gap"}': 1,
      herald_gaps_total: 1,
      herald_tokens_issued_total: 2,
      [`herald_tokens_refused_total{reason="${refusedCode}"}`]: 1,
      [`herald_requests_refused_total{route="sse",code="${refusedCode}"}`]: 1,
      'herald_requests_refused_total{route="token",code="rate_limited"}': 1,
      'herald_rate_limited_total{route="token"}': 1,
      herald_tasks_started_total: 2,
      'herald_tasks_finished_total{status="succeeded"}': 1,
      'herald_tasks_finished_total{status="canceled"}': 1,
      herald_redis_errors_total: 0,
      // The bus lag is observed once per event received on a channel this process follows: the 3
      // ticks and 2 blobs (nobody here followed the tasks' channels).
      herald_bus_lag_seconds_count: 5,
    };
    const actual = Object.fromEntries(Object.keys(expected).map((key) => [key, m.get(key)]));
    expect(actual).toEqual(expected);
    // No other refusal, disconnect reason or publish result than those.
    const families = ["herald_requests_refused_total{", "herald_disconnects_total{", "herald_publishes_total{"];
    const extra = [...m.keys()].filter((k) => families.some((f) => k.startsWith(f)) && !(k in expected));
    expect(extra).toEqual([]);
    // Every metric the Grafana dashboard (docs/grafana/herald-dashboard.json) queries is in the scrape.
    const dashboard = readFileSync(new URL("../../../../docs/grafana/herald-dashboard.json", import.meta.url), "utf8");
    const used = new Set([...dashboard.matchAll(/\bherald_[a-z_]+/g)].map((match) => match[0]));
    expect(used.size).toBeGreaterThan(15);
    const scraped = new Set([...m.keys()].map((key) => key.split("{", 1)[0]!));
    expect([...used].filter((name) => !scraped.has(name))).toEqual([]);
    // Bytes: the SSE frames written live (the first blob; the second was never written), and the poll answers' bodies, are counted.
    expect(m.get('herald_delivered_bytes_total{transport="sse"}')).toBeGreaterThan(20 * 1024);
    expect(m.get('herald_delivered_bytes_total{transport="poll"}')).toBeGreaterThan(0);

    // The same story in the logs, never with a token, a payload, a channel name or a user id.
    const logs = server.logs;
    const lines = (msg: string) => logs.filter((l) => l.msg === msg);
    expect(logs.every((l) => l.component === "herald")).toBe(true);
    expect(lines("connection opened")).toHaveLength(8);
    expect(lines("connection closed")).toHaveLength(8);
    expect(lines("connection opened").every((l) => l.level === 20)).toBe(true);
    const slowClose = lines("connection closed").find((l) => l.reason === "slow_consumer")!;
    expect(slowClose).toMatchObject({ transport: "sse", channels: 1 });
    expect(typeof slowClose.durationMs).toBe("number");
    expect(lines("request refused")).toMatchObject([{ route: "sse", code: refusedCode, count: 1, level: 30 }]);
    expect(lines("rate limited")).toMatchObject([{ route: "token", code: "rate_limited", count: 1 }]);
    expect(lines("slow consumer dropped")).toMatchObject([{ transport: "sse", level: 40 }]);
    expect(lines("gap told to a resuming client")).toMatchObject([{ transport: "sse", reason: "epoch", channels: 1 }]);
    expect(lines("task started")).toHaveLength(2);
    expect(lines("task succeeded")).toMatchObject([{ taskId: done.id, status: "succeeded" }]);
    expect(lines("task canceled")).toMatchObject([{ taskId: long.id, status: "canceled" }]);
    expect(lines("publish rejected")).toMatchObject([{ code: "invalid_channel", level: 20 }]);
    const text = server.logText();
    for (const secret of [token, "nope.nope", "alice", "bob", "news", "firehose", "xxxxxxxx", "tick"]) {
      expect(text).not.toContain(secret);
    }

    // After close: draining in the logs, readiness says no.
    await server.herald.close();
    expect(server.logs.filter((l) => l.msg === "draining")).toHaveLength(1);
    expect(await server.herald.ready()).toEqual({ ready: false, draining: true, broker: "ok" });
  }, 120_000);
});
