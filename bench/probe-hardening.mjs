/**
 * `npm run build && node bench/probe-hardening.mjs`: the hostile reproductions of issue 16 against
 * a Herald + Pusher server (servers/hardening-target.mjs, a child process with default limits) and
 * against `herald serve`, with the figure each one gives now. Loopback only, bounded in count and
 * time (about a minute). Writes results/hardening.md. Not part of `npm test` (its assertions are
 * in packages/herald/test/security/websocket.test.ts and test/pusher/).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

const here = path.dirname(fileURLToPath(import.meta.url));
const rows = [];
const children = [];
const row = (probe, before, after) => {
  rows.push({ probe, before, after });
  console.log(`${probe}\n  before: ${before}\n  now:    ${after}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function start(args, env = {}) {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (chunk) => {
      out += chunk;
      const m = /port (\d+)|listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1] ?? m[2]) });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

const memory = async (port) => (await fetch(`http://127.0.0.1:${port}/probe/memory`)).json();
const MiB = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;

function open(port, path = "/app/probe-key?protocol=7") {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    ws.once("message", () => resolve({ ws, ok: true }));
    ws.once("unexpected-response", (_req, res) => resolve({ ws, ok: false, status: res.statusCode }));
    ws.once("error", () => resolve({ ws, ok: false, status: "error" }));
  });
}

async function main() {
  const target = await start(["--expose-gc", path.join(here, "servers/hardening-target.mjs")]);
  const port = target.port;

  // 5: 5,000 sockets from one address.
  const sockets = [];
  const statuses = new Map();
  for (let i = 0; i < 5000; i += 100) {
    const batch = await Promise.all(Array.from({ length: 100 }, () => open(port)));
    for (const s of batch) {
      sockets.push(s);
      const key = s.ok ? "open" : String(s.status);
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
  }
  row(
    "5,000 WebSocket connections from one address",
    "5,000 accepted (only a global cap of 100,000)",
    [...statuses]
      .map(([k, n]) =>
        k === "open"
          ? `${n} accepted`
          : k === "error"
            ? `${n} closed before their request was read (over 32 pending sockets per address)`
            : `${n} refused ${k} (attempt rate, then 200 connections per address)`,
      )
      .join(", "),
  );
  for (const s of sockets) s.ws.terminate();
  await sleep(500);

  // 5: one socket asking for 20,000 channels.
  const many = await open(port);
  let succeeded = 0;
  let refused = 0;
  many.ws.on("message", (data) => {
    const f = JSON.parse(data.toString());
    if (f.event === "pusher_internal:subscription_succeeded") succeeded++;
    if (f.event === "pusher:subscription_error") refused++;
  });
  const closed = new Promise((r) => many.ws.once("close", (code) => r(code)));
  for (let i = 0; i < 20_000 && many.ws.readyState === WebSocket.OPEN; i++) {
    many.ws.send(JSON.stringify({ event: "pusher:subscribe", data: { channel: `c-${i}` } }));
  }
  const code = await Promise.race([closed, sleep(5000).then(() => "open")]);
  row(
    "one socket subscribing to 20,000 channels",
    "20,000 subscriptions held (+19 MiB; on Redis 5,000 Redis subscriptions)",
    `${succeeded} subscribed, ${refused} refused (at most 32 per connection), then closed ${code} (message rate)`,
  );

  // 6: ten sockets flooding pusher:ping without reading (after the attempt bucket refilled: 4/s).
  await sleep(5000);
  const base = await memory(port);
  const flooders = [];
  for (let i = 0; i < 10; i++) {
    const s = await open(port);
    if (!s.ok) throw new Error(`flooder refused: ${s.status}`);
    flooders.push(s.ws);
  }
  const started = Date.now();
  const gone = flooders.map((ws) => new Promise((r) => ws._socket.once("close", () => r(Date.now() - started))));
  for (const ws of flooders) {
    ws._socket.pause();
    const ping = JSON.stringify({ event: "pusher:ping", data: {} });
    for (let n = 0; n < 20_000; n++) ws.send(ping);
  }
  await sleep(1000);
  const during = await memory(port);
  for (const ws of flooders) ws._socket.resume();
  const closeTimes = await Promise.all(gone);
  const after = await memory(port);
  row(
    "ten sockets flooding pusher:ping without reading",
    "+78 MiB of heap, held about 30 s after the 4100 close",
    `heap ${MiB(during.heapUsed - base.heapUsed)} above baseline 1 s in, ${MiB(after.heapUsed - base.heapUsed)} after; closed (4100, message rate) and gone within ${Math.max(...closeTimes)} ms`,
  );

  // 7: 400 unsigned 255 KiB bodies to the HTTP API.
  const before7 = await memory(port);
  const body = Buffer.alloc(255 * 1024, 120);
  const answers = await Promise.all(
    Array.from(
      { length: 400 },
      () =>
        new Promise((resolve) => {
          const req = http.request(
            {
              host: "127.0.0.1",
              port,
              method: "POST",
              path: "/apps/probe/events",
              headers: { "content-type": "application/json" },
            },
            (res) => {
              res.resume();
              resolve(res.statusCode);
            },
          );
          req.on("error", () => resolve("reset"));
          req.end(body);
        }),
    ),
  );
  const after7 = await memory(port);
  const counts = {};
  for (const a of answers) counts[a] = (counts[a] ?? 0) + 1;
  row(
    "400 unsigned 255 KiB bodies to the Pusher HTTP API",
    "bodies read before the signature: +100 MiB RSS, still held after 63 s",
    `${Object.entries(counts)
      .map(([k, n]) => `${n} × ${k}`)
      .join(
        ", ",
      )} (refused before the body is read, the connection closed); RSS ${MiB(after7.rss - before7.rss)} after, heap ${MiB(after7.heapUsed - before7.heapUsed)}`,
  );

  // 7: herald serve, 1,000 slow-header sockets from one address.
  const serve = await start([path.join(here, "../packages/herald/dist/bin/herald.js"), "serve", "--port", "0"]);
  const slow = [];
  const closedAt = [];
  const t0 = Date.now();
  for (let i = 0; i < 1000; i++) {
    const s = net.connect(serve.port, "127.0.0.1");
    s.on("error", () => undefined);
    s.on("close", () => closedAt.push(Date.now() - t0));
    s.resume(); // reads what the server answers (a 408), so its close is seen
    s.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    slow.push(s);
  }
  await sleep(2000);
  const openAfter2s = slow.filter((s) => !s.destroyed).length;
  while (slow.some((s) => !s.destroyed) && Date.now() - t0 < 20_000) await sleep(200);
  row(
    "herald serve: 1,000 slow-header sockets from one address",
    "all 1,000 held about 95 s",
    `${openAfter2s} held after 2 s (32 per address, the rest closed at once); the last closed after ${(Math.max(...closedAt) / 1000).toFixed(1)} s (408 at the 10 s headers timeout)`,
  );
  for (const s of slow) s.destroy();

  // 1: herald serve with the default credentials off loopback, and in production.
  const refusedOpen = await start([
    path.join(here, "../packages/herald/dist/bin/herald.js"),
    "serve",
    "--port",
    "0",
    "--host",
    "0.0.0.0",
  ]).catch((e) => e.message.split("\n")[0]);
  const refusedProd = await start([path.join(here, "../packages/herald/dist/bin/herald.js"), "serve", "--port", "0"], {
    NODE_ENV: "production",
  }).catch((e) => e.message.split("\n")[0]);
  row(
    "herald serve with the default credentials",
    "listens on 0.0.0.0 with app-key / app-secret, silently, also in production",
    `off loopback: ${String(refusedOpen).slice(0, 90)}…; NODE_ENV=production: ${String(refusedProd).slice(0, 60)}…`,
  );

  const md = [
    "# Issue 16's reproductions, after the fix",
    "",
    `\`node bench/probe-hardening.mjs\`, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, loopback.`,
    "",
    "| probe | before (the probe's report) | now |",
    "|---|---|---|",
    ...rows.map((r) => `| ${r.probe} | ${r.before} | ${r.after} |`),
    "",
  ].join("\n");
  fs.writeFileSync(path.join(here, "results/hardening.md"), md);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    setTimeout(() => process.exit(), 200).unref();
  });
