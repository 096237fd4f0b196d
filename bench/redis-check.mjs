/**
 * The capacity check of docs/capacity.md: `node bench/redis-check.mjs` runs P herald-node
 * processes (redis-cluster-herald.mjs) × N/P SSE connections on one redis-server
 * (`BENCH_CHECK_TOPOLOGY=single`) or a 3-master Redis Cluster started here (`cluster`, the
 * default), P load-generator processes (one per server), and measures as the `BENCH_ONLY=redis`
 * rows do (lib/scenario.mjs's publishRun): one channel, 5 events/s for 10 s, published by the first
 * process (so every event goes to Redis and back to every process), three runs; Herald CPU summed
 * over the processes per delivery, each Redis node's CPU (INFO cpu), memory per connection.
 * `BENCH_CHECK_PROCS` (4), `BENCH_CHECK_SIZE` (10,000), `BENCH_REPEAT` (3). Writes
 * results/redis-check-<topology>-<P>x<N/P>.json (or under $BENCH_OUT) and its part of redis.md's
 * redis-scale section. Everything it starts is stopped at the end, on error or after 10 minutes.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, killAllNow, sleep, startProcess, stopProcess } from "./lib/children.mjs";
import { BENCH_DIR, ROOT_DIR } from "./lib/config.mjs";
import { control, waitUntilUp } from "./lib/control-client.mjs";
import { startLoadGenerator } from "./lib/load-client.mjs";
import { busyCores, machineTicks } from "./lib/machine-load.mjs";
import { memoryDelta, publishRun, repeated, summarize } from "./lib/scenario.mjs";
import { startCluster, startSingle } from "./redis-cluster-server.mjs";
import { readCheck, renderRedisScale, writeSection } from "./redis-scale.mjs";

const topologyKind = process.env.BENCH_CHECK_TOPOLOGY ?? "cluster";
const processes = Number(process.env.BENCH_CHECK_PROCS ?? 4);
const size = Number(process.env.BENCH_CHECK_SIZE ?? 10_000);
const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const outDir = process.env.BENCH_OUT ? path.resolve(process.env.BENCH_OUT) : path.join(BENCH_DIR, "results");
const started = Date.now();
const log = (line) => console.log(`[check ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const deadline = setTimeout(() => {
  log("deadline of 10 minutes reached: stopping");
  killAllNow();
  process.exit(1);
}, 10 * 60_000);
deadline.unref();
process.on("SIGINT", () => (killAllNow(), process.exit(1)));
process.on("SIGTERM", () => (killAllNow(), process.exit(1)));
process.on("exit", () => killAllNow());

const SSE_PATH = "/?channel=bench";
const sum = (stats, k) => stats.reduce((a, s) => a + s[k], 0);
const sumStats = (stats) => ({
  rss: sum(stats, "rss"),
  heapUsed: sum(stats, "heapUsed"),
  external: sum(stats, "external"),
  heapTotal: sum(stats, "heapTotal"),
  heapSpaces: { new_space: stats.reduce((a, s) => a + (s.heapSpaces?.new_space ?? 0), 0) },
});

async function waitForCounts(ports, counts, timeoutMs) {
  const until = Date.now() + timeoutMs;
  let stats;
  do {
    stats = await Promise.all(ports.map((p) => control(p, "stats")));
    if (stats.every((s, i) => s.subscribers === counts[i])) return stats;
    await sleep(100);
  } while (Date.now() < until);
  return stats;
}

const result = {
  meta: {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model?.trim() ?? "unknown",
    loadavgBefore: os.loadavg().map((x) => Math.round(x * 100) / 100),
  },
  topology: topologyKind,
  processes,
  connections: size,
  rate: 5,
  steadyMs: 10_000,
  ok: false,
};
let topology;
let load;
const children = [];
try {
  const m0 = machineTicks();
  await sleep(2000);
  result.meta.hostBusyCoresBefore = busyCores(m0, machineTicks());
  topology = topologyKind === "single" ? await startSingle() : await startCluster(3);
  result.redisVersion = topology.version;
  result.nodes = topology.nodes.map((n) => n.port);
  result.heraldKeyOwner = topology.ownerOf("{herald}:seq");
  log(`${topologyKind}: ${result.nodes.join(", ")}; ${processes} processes × ${size / processes} connections`);
  const ports = [];
  for (let i = 0; i < processes; i++) {
    const port = await freePort();
    children.push(
      startProcess(process.execPath, ["--expose-gc", path.join(BENCH_DIR, "redis-cluster-herald.mjs")], {
        cwd: ROOT_DIR,
        env: {
          ...process.env,
          PORT: String(port),
          NODE_ENV: "production",
          BENCH_BROKER: JSON.stringify(topology.brokerOptions),
        },
      }),
    );
    ports.push(port);
  }
  await Promise.all(ports.map((p, i) => waitUntilUp(p, children[i])));
  load = startLoadGenerator(processes);
  const share = (n) => ports.map((_, i) => Math.floor(n / processes) + (i < n % processes ? 1 : 0));
  // Warm-up, as the other rows do: a few subscribers and events, then back to zero.
  await load.call("connect", { kind: "sse", ports, path: SSE_PATH, count: 4 * processes, batch: 4 * processes });
  await control(ports[0], "start", { mode: "paced", rate: 50, durationMs: 200 });
  await sleep(800);
  await load.call("disconnect");
  await waitForCounts(ports, share(0), 5000);
  const before = sumStats(await Promise.all(ports.map((p) => control(p, "gc"))));
  const connected = await load.call(
    "connect",
    { kind: "sse", ports, path: SSE_PATH, count: size, batch: 500, timeoutMs: 90_000 },
    120_000,
  );
  result.connect = { open: connected.open, failed: connected.openErrors, ms: connected.connectMs };
  const counted = await waitForCounts(ports, share(connected.open), 15_000);
  result.connect.serverCounted = counted.map((s) => s.subscribers);
  log(`${connected.open} open in ${connected.connectMs} ms (${result.connect.serverCounted.join(" + ")})`);
  await sleep(1000);
  const after = sumStats(await Promise.all(ports.map((p) => control(p, "gc"))));
  result.memory = memoryDelta(before, after, connected.open);
  const redisPerRun = [];
  result.steady = await repeated(repeat, async () => {
    const r0 = topology.nodes.map((n) => n.cpuUs());
    const run = await publishRun(
      ports[0],
      load,
      { label: "steady 5/s", mode: "paced", rate: 5, durationMs: 10_000 },
      ports.slice(1),
    );
    const r1 = topology.nodes.map((n) => n.cpuUs());
    run.redisCpuMsPerNode = r1.map((c, i) => Math.round((c - r0[i]) / 1000));
    redisPerRun.push({
      redisCpuMsPerNode: run.redisCpuMsPerNode,
      windowMs: run.windowMs,
      received: run.received,
      published: run.published,
    });
    log(`  ${summarize(run)}; Redis CPU ms per node ${run.redisCpuMsPerNode.join(" / ")}`);
    return run;
  });
  result.redisPerRun = redisPerRun;
  result.ok = true;
} catch (error) {
  result.error = String(error?.stack ?? error);
  result.serverOutput = children.map((c) => c.output().slice(-1000)).join("\n---\n");
  log(`ERROR: ${result.error}`);
} finally {
  for (const child of children) await stopProcess(child, 2000);
  if (load) {
    await load.call("close", {}, 5000).catch(() => {});
    for (const c of load.children) await stopProcess(c, 2000);
  }
  await topology?.stop();
}
result.meta.loadavgAfter = os.loadavg().map((x) => Math.round(x * 100) / 100);
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(
  path.join(outDir, `redis-check-${topologyKind}-${processes}x${size / processes}.json`),
  `${JSON.stringify(result, null, 2)}\n`,
);
const scale = path.join(outDir, "redis-scale.json");
if (fs.existsSync(scale)) {
  const data = JSON.parse(fs.readFileSync(scale, "utf8"));
  Object.defineProperty(data, "outDir", { value: outDir, enumerable: false });
  writeSection(path.join(outDir, "redis.md"), renderRedisScale(data, readCheck(outDir)));
}
log(`wrote ${path.join(outDir, `redis-check-${topologyKind}-${processes}x${size / processes}.json`)}`);
process.exit(result.ok ? 0 : 1);
