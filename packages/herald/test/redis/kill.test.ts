/**
 * Two Herald processes on one Redis, subscribers on one of them; that process is killed (SIGKILL)
 * mid-stream. Its clients reconnect to the other and resume from their cursor: every event that
 * was published reaches every client exactly once, in order, with no gap.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventSource } from "eventsource";
import { RedisBroker } from "../../src/brokers/redis.js";
import { createHerald, type Herald } from "../../src/server/index.js";
import { waitFor } from "../helpers.js";
import { watch } from "../watcher.js";
import { startRedis, type TestRedis } from "./redis-server.js";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "herald-process.ts");
let redis: TestRedis;
const children: ChildProcess[] = [];
/** The clients' closes. */
const cleanups: (() => unknown)[] = [];
let publisher: Herald | undefined;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const close of cleanups) close();
  for (const child of children) child.kill("SIGKILL");
  await publisher?.close();
  await redis?.stop();
});

/** Starts a Herald process; resolves with it and its URL. */
function heraldProcess(prefix: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, redis.url, prefix], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const port = /PORT (\d+)/.exec(out)?.[1];
      if (port) resolve({ child, url: `http://127.0.0.1:${port}/` });
    });
    child.once("exit", (code) => reject(new Error(`herald process exited early (${code})`)));
  });
}

describe("a Herald process killed mid-stream", () => {
  it("its clients resume on another process without loss, duplicates or gaps", async () => {
    const prefix = "kill";
    const [a, b] = await Promise.all([heraldProcess(prefix), heraldProcess(prefix)]);
    publisher = createHerald({ broker: new RedisBroker({ url: redis.url, prefix }) });
    const target = { url: a.url };
    const origin = a.url;
    class Switching extends EventSource {
      constructor(url: string | URL, init?: { withCredentials?: boolean }) {
        super(String(url).replace(origin, target.url), init);
      }
    }
    const channels = ["x", "y", "z"];
    const watchers = Array.from({ length: 10 }, () => watch(origin, channels, cleanups, Switching));
    await waitFor(() => watchers.every((w) => w.client.state === "connected"), 20_000, "connected to A");

    const counts = new Map(channels.map((c) => [c, 0]));
    const TOTAL = 900;
    for (let i = 0; i < TOTAL; i++) {
      const channel = channels[i % 3]!;
      const n = counts.get(channel)!;
      counts.set(channel, n + 1);
      await publisher.publish(channel, "tick", { n });
      if (i === 300) {
        a.child.kill("SIGKILL"); // mid-stream: no goodbye, sockets reset
        target.url = b.url; // the next connections go to B, with each client's cursor
      }
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(
      () => watchers.every((w) => [...w.received].every(([channel, list]) => list.length >= counts.get(channel)!)),
      30_000,
      "every client to hold every event",
    );
    await new Promise((r) => setTimeout(r, 100)); // a duplicate would have arrived by now
    for (const w of watchers) {
      for (const [channel, list] of w.received) {
        expect(list).toEqual(Array.from({ length: counts.get(channel)! }, (_, n) => n));
      }
    }
    expect(watchers.flatMap((w) => w.gaps)).toEqual([]);
    expect(a.child.signalCode).toBe("SIGKILL");
    // Every client lost its connection to A and carried on with B.
    expect(watchers.every((w) => w.reconnects >= 1)).toBe(true);
    expect(watchers.every((w) => w.client.state === "connected")).toBe(true);
  }, 90_000);
});
