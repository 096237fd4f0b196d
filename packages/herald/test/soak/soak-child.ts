/**
 * The soak load, run in a child process with `--expose-gc` (see soak.test.ts): churn, many
 * channels, many users (tokens, per-address buckets), many tasks, stalled readers with rotation.
 * Prints one JSON line: heap used (bytes, after forced GC) at baseline, at the peak of the load,
 * and after the load has ended and the expiry timers have run.
 */
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { createHerald, createTasks, createTokens, MemoryBroker, tokenAuthenticator } from "../../src/server/index.js";

const LONG = process.env.HERALD_SOAK_LONG === "1";
const CHURN = LONG ? 20_000 : 2_000;
const CHANNELS = LONG ? 5_000 : 2_000;
const USERS = LONG ? 5_000 : 1_000;
const TASKS = LONG ? 2_000 : 400;
const STALLED_WAVES = LONG ? 10 : 3;
const STALLED_PER_WAVE = 20;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function heap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc!();
    await sleep(20);
  }
  return process.memoryUsage().heapUsed;
}

const broker = new MemoryBroker({ maxAgeMs: 2000, sweepIntervalMs: 250 });
// Tokens live 1 s, so they are gone when the load ends; their clock stands still while the users
// connect, so that a token never expires between its issue and its use on a busy machine.
let tokenClock: number | null = null;
const tokens = createTokens({ ttlMs: 1000, now: () => tokenClock ?? Date.now() });
const herald = createHerald({
  broker,
  trustProxy: 1,
  authenticate: tokenAuthenticator(tokens, { allowAnonymous: true }),
  limits: {
    connectPerIp: { capacity: 1000, refillPerSecond: 1000 },
    connectPerUser: { capacity: 1000, refillPerSecond: 1000 },
    maxConnectionsPerIp: 100,
  },
});
const rotating = createHerald({
  broker,
  rotateAfterMs: 300,
  maxBufferedBytes: 64 * 1024 * 1024,
  limits: { connectPerIp: false, maxConnectionsPerIp: STALLED_PER_WAVE },
});
const tasks = createTasks(herald, { finishedTtlMs: 1000 });

async function serve(h: typeof herald): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => void h.handleNode(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}
const main = await serve(herald);
const rot = await serve(rotating);
const agent = new http.Agent({ keepAlive: false });

/** Opens a stream, waits for `herald:connected` (and an event when `expect` is set), then leaves. */
function cycle(query: string, ip: string, publish?: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: "127.0.0.1", port: main.port, path: `/?${query}`, agent, headers: { "x-forwarded-for": ip } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          res.on("end", () => reject(new Error(`status ${res.statusCode}`)));
          return;
        }
        let text = "";
        let published = false;
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
          if (!published && text.includes("herald:connected")) {
            published = true;
            if (!publish) return void (req.destroy(), resolve());
            publish();
          }
          if (published && publish && text.includes('"event":"n"')) {
            req.destroy();
            resolve();
          }
        });
      },
    );
    req.on("error", () => resolve());
  });
}

async function pool(n: number, concurrency: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await job(next++);
    }),
  );
}

// Warm up every path once, then take the baseline.
await cycle("channel=warm", "10.9.9.9", () => void herald.publish("warm", "n", 0));
const warmTask = await tasks.start("warm", async (ctx) => ctx.text("x"));
await tasks.wait(warmTask.id, "warm");
await sleep(2500);
const baseline = await heap();
const started = Date.now();

// 1. Churn: connect, receive, disconnect; each from its own address (per-address buckets).
await pool(CHURN, 20, (i) =>
  cycle(
    `channel=churn-${i % 50}`,
    `10.1.${(i >> 8) & 255}.${i & 255}`,
    () => void herald.publish(`churn-${i % 50}`, "n", i),
  ),
);

// 2. Many channels, nobody reading: 20 events of ~1 KB each.
const kb = "c".repeat(1000);
for (let c = 0; c < CHANNELS; c++) for (let i = 0; i < 20; i++) await herald.publish(`idle-${c}`, "e", kb);

// 3. Many users: a token each (bound to their channel), used to connect once.
tokenClock = Date.now();
await pool(USERS, 20, async (u) => {
  const token = await tokens.issue(`user${u}`, { channels: [`user-${u}`] });
  await cycle(`channel=user-${u}&token=${token}`, `10.2.${(u >> 8) & 255}.${u & 255}`);
});
tokenClock = null;

// 4. Many tasks from many users (at most 5 running each), each streaming text.
await pool(TASKS, 50, async (t) => {
  const owner = `owner${t % 100}`;
  for (;;) {
    try {
      const task = await tasks.start(owner, async (ctx) => {
        for (let i = 0; i < 20; i++) ctx.text("t".repeat(400));
        ctx.progress(100);
        return { t };
      });
      await tasks.wait(task.id, owner);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== "too_many_tasks") throw error;
      await sleep(5);
    }
  }
});

// 5. Stalled readers with rotation, under flow: waves of readers that never read.
const stalled: net.Socket[] = [];
let refused = 0;
for (let wave = 0; wave < STALLED_WAVES; wave++) {
  for (let i = 0; i < STALLED_PER_WAVE; i++) {
    const socket = net.connect(rot.port, "127.0.0.1");
    socket.on("error", () => {});
    await new Promise((r) => socket.once("connect", r));
    socket.write("GET /?channel=flood HTTP/1.1\r\nHost: x\r\n\r\n");
    const head = await new Promise<string>((r) => socket.once("data", (d) => r(String(d))));
    if (!head.startsWith("HTTP/1.1 200")) refused++;
    socket.pause();
    stalled.push(socket);
  }
  const payload = "z".repeat(60_000);
  for (let i = 0; i < 100; i++) await rotating.publish("flood", "e", payload);
  await sleep(400);
}
const peak = await heap();
const loadMs = Date.now() - started;

// The load has ended. The clients that stalled are still connected (they never leave): the server
// must let go of them by itself. Wait for the expiry timers (events 2 s, tasks 1 s, close grace 5 s).
await sleep(8000);
const after = await heap();
const openStalled = stalled.filter((s) => !s.destroyed).length;
const stats = { main: herald.stats(), rotating: rotating.stats(), channels: broker.channelCount };
console.log(
  JSON.stringify({
    baseline,
    peak,
    after,
    loadMs,
    refusedStalled: refused,
    stalledSockets: stalled.length,
    openStalledClientSide: openStalled,
    stats,
    counts: { churn: CHURN, channels: CHANNELS, users: USERS, tasks: TASKS, stalledWaves: STALLED_WAVES },
  }),
);
for (const s of stalled) s.destroy();
main.server.closeAllConnections();
rot.server.closeAllConnections();
main.server.close();
rot.server.close();
await herald.close();
await rotating.close();
