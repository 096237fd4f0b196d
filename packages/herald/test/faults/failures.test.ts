/**
 * Fault scenarios, part 2: the token route fails (network error, 500, an HTML 502 page, too slow),
 * a stream goes silent (a dead NAT entry, and a fully dead network), a 429 storm, and 50 clients
 * returning after an outage. Same checks as part 1: state sequence, every event exactly once and
 * in order, and the time to `connected` recorded for the closing table.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { createTokens, tokenAuthenticator } from "../../src/server/index.js";
import { printTable, rows, sleep, startRig, waitFor, type Observed, NPM_EVENTSOURCE } from "./harness.js";
import { startTcpProxy } from "./tcp-proxy.js";

afterAll(() => printTable());

type TokenMode = "ok" | "500" | "502" | "slow";

/** A small token route the test controls, behind its own proxy (to fail it by network error). */
async function startTokenRoute(tokens: ReturnType<typeof createTokens>) {
  let mode: TokenMode = "ok";
  let calls = 0;
  const server = http.createServer((_req, res) => {
    calls++;
    const current = mode;
    if (current === "500") {
      res.writeHead(500, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ error: { code: "internal", message: "boom" } }));
    }
    if (current === "502") {
      res.writeHead(502, { "content-type": "text/html" });
      return void res.end(
        "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
      );
    }
    const answer = () =>
      void tokens.issue("u1").then((token) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ token }));
      });
    if (current === "slow") setTimeout(answer, 5000);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy = await startTcpProxy((server.address() as AddressInfo).port);
  return {
    proxy,
    get calls() {
      return calls;
    },
    set(next: TokenMode) {
      mode = next;
    },
    /** What an app's getToken does: fetch the route, throw unless it answered a token. */
    getToken: async (): Promise<string> => {
      const res = await fetch(`${proxy.url}token`, { cache: "no-store" });
      if (!res.ok) throw new Error(`token route answered ${res.status}`);
      const body = (await res.json()) as { token?: string };
      if (!body.token) throw new Error("token route answered no token");
      return body.token;
    },
    async close() {
      await proxy.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Every event 0..total-1 exactly once, in order, and a state sequence without `failed`. */
function expectComplete(seen: Observed, total: number) {
  expect(seen.received).toEqual(Array.from({ length: total }, (_, n) => n));
  expect(seen.states()).toBe("connecting connected reconnecting connected");
}

/**
 * The token route fails (`how`) while the stream is cut, for 3 s, while 10 events are published;
 * then it recovers. The client keeps retrying (never `failed`) and resumes without loss.
 */
async function tokenFailure(scenario: string, how: "network" | TokenMode, expectedError: string) {
  const tokens = createTokens();
  const route = await startTokenRoute(tokens);
  const rig = await startRig({ authenticate: tokenAuthenticator(tokens) });
  try {
    const seen = rig.client({ getToken: route.getToken, tokenTimeoutMs: 1000 });
    await waitFor(() => seen.client.state === "connected", 10_000, "first connection");
    await rig.publish(10);
    await waitFor(() => seen.received.length === 10, 10_000, "events before the failure");

    if (how === "network") {
      route.proxy.set({ refuse: true });
      route.proxy.resetAll(); // fetch keeps connections alive: they go with the network
    } else route.set(how);
    const failingCalls = route.calls;
    rig.proxy.resetAll(); // the stream drops: the next attempt needs a token
    await rig.publish(10, 300);
    await waitFor(() => seen.errors.includes(expectedError), 10_000, expectedError);
    route.proxy.set({});
    route.set("ok");
    const back = Date.now();
    await waitFor(() => seen.connectedAt(back) !== null, 60_000, "reconnection once the token route works");
    const toConnected = seen.connectedAt(back)! - back;
    await rig.publish(10);
    await waitFor(() => seen.received.length >= 30, 10_000, "every event");
    await sleep(50);

    expectComplete(seen, 30);
    if (how !== "network") expect(route.calls).toBeGreaterThan(failingCalls);
    rows.push({
      scenario,
      transport: "fetch",
      toConnectedMs: toConnected,
      lost: seen.lost(30),
      duplicates: seen.duplicates(),
      reconnects: seen.reconnectReasons().length,
      note: `reasons ${[...new Set(seen.reconnectReasons())].join(",")}`,
    });
  } finally {
    await rig.close();
    await route.close();
  }
}

describe.concurrent("failing token route", () => {
  it("network error: retried with backoff, never failed", async () => {
    await tokenFailure("token route: network error", "network", "token_fetch_failed");
  }, 90_000);
  it("500: retried with backoff, never failed", async () => {
    await tokenFailure("token route: 500", "500", "token_fetch_failed");
  }, 90_000);
  it("HTML 502 page: retried with backoff, never failed", async () => {
    await tokenFailure("token route: HTML 502", "502", "token_fetch_failed");
  }, 90_000);
  it("slower than tokenTimeoutMs: retried with backoff, never failed", async () => {
    await tokenFailure("token route: 5 s slow (timeout 1 s)", "slow", "token_timeout");
  }, 90_000);
});

describe.concurrent("silent connections (heartbeat 500 ms)", () => {
  /**
   * The open stream stops carrying bytes without closing (`freezeOpen`); with `blackhole`, new
   * connections are accepted and hang too, for 3 s. The client must notice within ~2 heartbeats.
   */
  async function stall(scenario: string, blackholeMs: number, transport: "fetch" | "eventsource" = "fetch") {
    const rig = await startRig({ heartbeatMs: 500 });
    try {
      const seen = rig.client({
        connectTimeoutMs: 2000,
        ...(transport === "eventsource" ? { EventSource: NPM_EVENTSOURCE } : {}),
      });
      await waitFor(() => seen.client.state === "connected", 10_000, "first connection");
      await rig.publish(10);
      await waitFor(() => seen.received.length === 10, 10_000, "events before the stall");

      const stalledAt = Date.now();
      rig.proxy.freezeOpen();
      if (blackholeMs > 0) rig.proxy.set({ blackhole: true });
      void rig.publish(10, 100);
      // 2 × 500 ms + a 1 s margin, plus slack for a loaded machine: a bounded wait, not a speed test.
      await waitFor(() => seen.reconnectReasons().includes("stalled"), 5000, "the stall to be noticed");
      const detectedMs = seen.transitions.find((t) => t.reason === "stalled")!.at - stalledAt;
      await sleep(Math.max(0, stalledAt + blackholeMs - Date.now()));
      rig.proxy.set({});
      const back = blackholeMs > 0 ? Date.now() : stalledAt;
      await waitFor(() => seen.connectedAt(back) !== null, 60_000, "reconnection");
      const toConnected = seen.connectedAt(back)! - back;
      await waitFor(() => rig.published === 20, 5000, "publishing during the stall");
      await rig.publish(10);
      await waitFor(() => seen.received.length >= 30, 10_000, "every event");
      await sleep(50);

      expectComplete(seen, 30);
      rows.push({
        scenario,
        transport,
        toConnectedMs: blackholeMs > 0 ? toConnected : `${toConnected} (from stall)`,
        lost: seen.lost(30),
        duplicates: seen.duplicates(),
        reconnects: seen.reconnectReasons().length,
        note: `stall noticed after ${detectedMs} ms; reasons ${[...new Set(seen.reconnectReasons())].join(",")}`,
      });
    } finally {
      await rig.close();
    }
  }

  it("a dead NAT entry: the open stream goes silent, new connections work", async () => {
    await stall("silent stall (open stream frozen)", 0);
  }, 60_000);

  it("a dead network: the stream goes silent and new connections hang for 3 s", async () => {
    await stall("silent stall + blackhole 3 s", 3000);
  }, 60_000);

  it("a dead NAT entry, seen through an EventSource that hides comments (heartbeats are events)", async () => {
    await stall("silent stall (open stream frozen)", 0, "eventsource");
  }, 60_000);
});

describe.concurrent("crowds", () => {
  it("429 storm: the per-IP limit refuses most of 12 clients; they back off and all connect", async () => {
    const rig = await startRig({ limits: { connectPerIp: { capacity: 3, refillPerSecond: 1 } } });
    try {
      const start = Date.now();
      const clients = Array.from({ length: 12 }, () => rig.client());
      await waitFor(() => clients.every((c) => c.client.state === "connected"), 90_000, "every client connected");
      const allConnected = Date.now() - start;
      const refused = rig.requests.filter((r) => r.status === 429).length;
      expect(refused).toBeGreaterThan(0);
      await rig.publish(10);
      await waitFor(() => clients.every((c) => c.received.length >= 10), 10_000, "every event");
      await sleep(50);
      for (const c of clients) {
        expect(c.received).toEqual(Array.from({ length: 10 }, (_, n) => n));
        expect(c.transitions.some((t) => t.next === "failed")).toBe(false);
      }
      rows.push({
        scenario: "429 storm (12 clients, burst 3, 1/s)",
        transport: "fetch",
        toConnectedMs: `${allConnected} (all, from start)`,
        lost: clients.reduce((n, c) => n + c.lost(10), 0),
        duplicates: clients.reduce((n, c) => n + c.duplicates(), 0),
        reconnects: clients.reduce((n, c) => n + c.reconnectReasons().length, 0),
        note: `${refused} × 429 of ${rig.requests.length} requests`,
      });
    } finally {
      await rig.close();
    }
  }, 120_000);

  it("50 clients returning after a 5 s outage are spread out by jitter", async () => {
    const rig = await startRig({ limits: { connectPerIp: false } });
    try {
      const clients = Array.from({ length: 50 }, () => rig.client());
      await waitFor(() => clients.every((c) => c.client.state === "connected"), 30_000, "every client connected");
      await rig.publish(5);
      await waitFor(() => clients.every((c) => c.received.length === 5), 10_000, "events before the outage");

      const cutAt = Date.now();
      rig.proxy.set({ refuse: true });
      rig.proxy.resetAll();
      await rig.publish(5, 500);
      await sleep(Math.max(0, cutAt + 5000 - Date.now()));
      rig.proxy.set({});
      const back = Date.now();
      const before = rig.requests.length;
      await waitFor(() => clients.every((c) => c.connectedAt(back) !== null), 90_000, "every client back");
      const attempts = rig.requests.slice(before).map((r) => r.at - back);
      await rig.publish(5);
      await waitFor(() => clients.every((c) => c.received.length >= 15), 10_000, "every event");
      await sleep(50);

      for (const c of clients) expectComplete(c, 15);
      // Spread: the attempts reaching the server fall in more than one second, and no 100 ms
      // holds even half of them.
      const perSecond = histogram(attempts, 1000);
      const per100ms = histogram(attempts, 100);
      expect(attempts.length).toBeGreaterThanOrEqual(50);
      expect(perSecond.size).toBeGreaterThan(1);
      expect(Math.max(...per100ms.values())).toBeLessThan(attempts.length / 2);
      const times = clients.map((c) => c.connectedAt(back)! - back).sort((a, b) => a - b);
      rows.push({
        scenario: "50 clients after a 5 s outage",
        transport: "fetch",
        toConnectedMs: `p50 ${times[24]} / max ${times[49]}`,
        lost: clients.reduce((n, c) => n + c.lost(15), 0),
        duplicates: clients.reduce((n, c) => n + c.duplicates(), 0),
        reconnects: clients.reduce((n, c) => n + c.reconnectReasons().length, 0),
        note: `attempts/s after return: ${[...perSecond].map(([s, n]) => `${s}s:${n}`).join(" ")}; max/100ms ${Math.max(...per100ms.values())}`,
      });
    } finally {
      await rig.close();
    }
  }, 150_000);
});

/** Counts values per `width`-wide bucket (bucket start → count), in order. */
function histogram(values: number[], width: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const v of [...values].sort((a, b) => a - b)) {
    const bucket = Math.floor(v / width);
    out.set(bucket, (out.get(bucket) ?? 0) + 1);
  }
  return out;
}
