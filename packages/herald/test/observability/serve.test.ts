/**
 * `herald serve`'s operations side, as a child process (the bin's source through tsx): JSON log
 * lines on stdout, /healthz, /readyz, and /metrics behind HERALD_METRICS_TOKEN, on the main port
 * or on HERALD_METRICS_PORT.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { readUntil, waitFor } from "../helpers.js";
import { parseScrape } from "./fixture.js";

const BIN = fileURLToPath(new URL("../../src/bin/herald.ts", import.meta.url));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

interface Served {
  url: string;
  /** Everything written on stdout so far. */
  out(): string;
}

/** Starts `herald serve --port 0` and resolves once it logs `pattern` (its first group: a port). */
async function serve(env: Record<string, string>, pattern = /listening on http:\/\/[^:]+:(\d+)/): Promise<Served> {
  const child = spawn(process.execPath, ["--import", "tsx", BIN, "serve", "--port", "0"], {
    env: { ...process.env, HERALD_LOG_LEVEL: "debug", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  await waitFor(() => pattern.test(out) || child.exitCode !== null, 30_000, "herald serve to start");
  if (child.exitCode !== null) throw new Error(`herald serve exited: ${out}`);
  return { url: `http://127.0.0.1:${pattern.exec(out)![1]}`, out: () => out };
}

describe("herald serve: operations", () => {
  it("logs JSON lines, answers /healthz and /readyz, and /metrics with the bearer token", async () => {
    const served = await serve({ HERALD_METRICS_TOKEN: "scrape-me" });
    const lines = () =>
      served
        .out()
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines().find((l) => String(l.msg).startsWith("listening on"))).toMatchObject({
      level: 30,
      component: "herald serve",
      metrics: true,
    });
    expect((await fetch(`${served.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${served.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, draining: false, broker: "ok" });
    expect((await fetch(`${served.url}/metrics`)).status).toBe(401);

    // An SSE connection opens and closes: a debug line each, and the counters move.
    const controller = new AbortController();
    const sse = await fetch(`${served.url}/sse?channel=news`, { signal: controller.signal });
    expect(sse.status).toBe(200);
    controller.abort();
    await waitFor(() => lines().some((l) => l.msg === "connection closed"), 20_000, "the close line");
    const metrics = await fetch(`${served.url}/metrics`, { headers: { authorization: "Bearer scrape-me" } });
    expect(metrics.status).toBe(200);
    const samples = parseScrape(await metrics.text());
    expect(samples.get('herald_connections_opened_total{transport="sse"}')).toBe(1);
    expect(samples.get('herald_disconnects_total{transport="sse",reason="client_closed"}')).toBe(1);
    expect(lines().find((l) => l.msg === "connection opened")).toMatchObject({
      level: 20,
      component: "herald",
      transport: "sse",
      channels: 1,
    });
  }, 60_000);

  it("serves /metrics, /healthz and /readyz on HERALD_METRICS_PORT instead of the main port; HERALD_METRICS_NAMESPACES labels by prefix", async () => {
    const served = await serve(
      { HERALD_METRICS_PORT: "0", HERALD_METRICS_NAMESPACES: "on" },
      /operations on http:\/\/[^:]+:(\d+)/,
    );
    const main = /listening on http:\/\/[^:]+:(\d+)/.exec(served.out())![1];
    const controller = new AbortController();
    const sse = await fetch(`http://127.0.0.1:${main}/sse?channel=room-1`, { signal: controller.signal });
    expect(sse.status).toBe(200);
    await readUntil(sse.body!, (t) => t.includes("herald:connected"), 20_000);
    const ops = await fetch(`${served.url}/metrics`);
    expect(ops.status).toBe(200);
    const text = await ops.text();
    controller.abort();
    expect(text).toContain("# TYPE herald_connections gauge");
    expect(parseScrape(text).get('herald_subscriptions{transport="sse",namespace="room"}')).toBe(1);
    expect((await fetch(`${served.url}/readyz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${main}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${main}/healthz`)).status).toBe(200);
  }, 60_000);
});
