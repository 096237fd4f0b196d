/**
 * Transport negotiation tells a restarting server from a buffering proxy. Through a real HTTP proxy
 * in front of a real Herald, the stream route fails the ways `next dev` fails while it recompiles or
 * restarts (503s, refused connections, one request held with no answer) while the poll route
 * works: the client stays on SSE and receives every event, where counting those failures like a
 * buffering proxy used to move it to long-polling for minutes. A proxy that really buffers still
 * moves it to long-polling (see poll-transport.test.ts).
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createHerald, type Herald } from "../src/server/index.js";
import { createHeraldClient, type HeraldClient } from "../src/client/index.js";
import { failureCounts } from "../src/client/transport.js";
import { waitFor } from "./helpers.js";

type Mode = "pass" | "sse-503" | "refuse" | "sse-hold";

const closers: (() => Promise<void>)[] = [];
const clients: HeraldClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const close of closers.splice(0).reverse()) await close();
});

async function listen(server: http.Server): Promise<number> {
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return (server.address() as AddressInfo).port;
}

/** A Herald app (every request is user "u1") behind a proxy whose treatment of requests the test sets. */
async function rig(): Promise<{ herald: Herald; url: string; set(mode: Mode): void; cut(): void; seen: string[] }> {
  const herald = createHerald({ getUserId: () => "u1", limits: { connectPerIp: false, connectPerUser: false } });
  closers.push(() => herald.close());
  const target = await listen(http.createServer((req, res) => void herald.handleNodeRoutes(req, res)));
  let mode: Mode = "pass";
  const open = new Set<http.ServerResponse>();
  const seen: string[] = [];
  const port = await listen(
    http.createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const stream = path.endsWith("/sse");
      seen.push(`${mode} ${path.split("/").pop()}`);
      if (mode === "refuse") return void req.socket.destroy();
      if (stream && mode === "sse-503") {
        res.writeHead(503, { "Content-Type": "text/html" }).end("<h1>Compiling…</h1>");
        return;
      }
      if (stream && mode === "sse-hold") return; // held with no answer, as a route compiling
      const upstream = http.request(
        { host: "127.0.0.1", port: target, path: req.url, method: req.method, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      open.add(res);
      res.on("close", () => {
        open.delete(res);
        upstream.destroy();
      });
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    }),
  );
  return {
    herald,
    url: `http://127.0.0.1:${port}`,
    set: (next) => (mode = next),
    cut: () => {
      for (const res of open) res.destroy();
    },
    seen,
  };
}

describe("negotiation: a restarting server is not a buffering proxy", () => {
  it("classifies failures: only a stream head followed by nothing, or a 200 that is no stream, counts against SSE", () => {
    expect(failureCounts("sse", false, undefined)).toBe(false); // connection refused
    expect(failureCounts("sse", false, 503)).toBe(false); // compiling, deploying
    expect(failureCounts("sse", false, 404)).toBe(false);
    expect(failureCounts("sse", true, undefined)).toBe(true); // head, then the stream broke
    expect(failureCounts("sse", false, 200)).toBe(true); // a 200 that is not a stream
    expect(failureCounts("poll", false, undefined)).toBe(true);
  });

  it("stays on SSE through refused connections, 503s and a held request while polling works, losing nothing", async () => {
    const r = await rig();
    const client = createHeraldClient({
      url: `${r.url}/api/realtime/sse`,
      getToken: async () => {
        const response = await fetch(`${r.url}/api/realtime/token`, { method: "POST" });
        if (!response.ok) throw new Error(`token ${response.status}`);
        return ((await response.json()) as { token: string }).token;
      },
      sseOpenTimeoutMs: 400,
      backoff: { baseMs: 30, capMs: 120 },
      onlineTarget: null,
      visibilityTarget: null,
    });
    clients.push(client);
    const transports: string[] = [];
    client.on("transport", (t) => transports.push(t));
    const got: number[] = [];
    client.subscribe<{ n: number }>("feed", (e) => got.push(e.data.n));
    await waitFor(() => client.state === "connected", 10_000, "connected on SSE");
    let n = 0;
    const publish = async (count: number) => {
      for (let i = 0; i < count; i++) await r.herald.publish("feed", "tick", { n: n++ });
    };
    await publish(3);
    await waitFor(() => got.length === 3, 10_000, "the first events");

    // A restart: the process is gone (refused), then the stream route answers 503 while it
    // compiles, and one request is held with no answer past the open timeout.
    r.set("refuse");
    r.cut();
    await publish(3);
    // Requests that reached the proxy in a mode (a refused token request is a failed attempt too).
    const requests = (mode: Mode, path = "") => r.seen.filter((s) => s.startsWith(`${mode} ${path}`)).length;
    await waitFor(() => requests("refuse") >= 4, 10_000, "refused attempts");
    r.set("sse-503");
    await waitFor(() => requests("sse-503", "sse") >= 4, 10_000, "503 attempts");
    r.set("sse-hold");
    await waitFor(() => requests("sse-hold", "sse") >= 2, 10_000, "held attempts");
    r.set("pass");
    await publish(3);
    await waitFor(() => client.state === "connected" && got.length === 9, 15_000, "back on the stream");

    expect(got).toEqual([...Array(9).keys()]);
    expect(transports).toEqual(["sse"]);
    expect(client.transport).toBe("sse");
    expect(r.seen.some((s) => s.endsWith(" poll"))).toBe(false);
  }, 60_000);
});
