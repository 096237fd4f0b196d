/**
 * `BENCH_ONLY=redis-scale npm run bench` (issue 23's measured part): how Herald's writes spread
 * over Redis masters, with the log in one partition and in 32 (`RedisBroker`'s `partitions`). For
 * one redis-server and for a 3-master Redis Cluster (no replicas) started here
 * (redis-cluster-server.mjs), one publisher process calls `herald.publish` through `RedisBroker`
 * on 1,000 channels in turn, 64 publishes in flight, for `BENCH_THROUGHPUT_MS` (3 s) per run, three
 * runs per row (`BENCH_REPEAT`). Around each run every node's `used_cpu_sys` + `used_cpu_user`
 * (INFO cpu) and `INFO commandstats` (after CONFIG RESETSTAT) are read, so each master's share of
 * the CPU and of the commands is known.
 *
 * Rows per topology, for each partition count of `BENCH_SCALE_PARTITIONS` (default "1,32"): Herald
 * with no process following the channels; Herald with 2 processes each following all 1,000
 * channels (RedisBroker.subscribe, as a Herald process with subscribers on them does: Redis then
 * sends each event to both). Then two floors that are not Herald, the least an atomic publish does
 * (INCR + capped XADD + PUBLISH in one script) with each channel's keys under a hash tag of its
 * own, with classic PUBLISH and with SPUBLISH (sharded pub/sub). Also what following costs Redis:
 * used_memory and CPU while the 2 × 1,000 subscriptions are made, and CPU over 2 s idle with them
 * held; and, per row, how many partitions each master holds (its `…:seq` keys).
 *
 * Writes results/redis-scale.json and its section of results/redis.md (between markers; the rest
 * of that file is the `BENCH_ONLY=redis` rows' and is kept).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { forkModule, sleep, stopProcess } from "./lib/children.mjs";
import { BENCH_DIR } from "./lib/config.mjs";
import { busyCores, machineTicks } from "./lib/machine-load.mjs";
import { startCluster, startSingle } from "./redis-cluster-server.mjs";

export const REDIS_SCALE_SCENARIO = "redis-scale";
const START = "<!-- bench:redis-scale:start -->";
const END = "<!-- bench:redis-scale:end -->";
const CHANNELS = Array.from({ length: Number(process.env.BENCH_SCALE_CHANNELS ?? 1000) }, (_, i) => `ch-${i}`);
const CONCURRENCY = 64;
const FOLLOWERS = 2;
/** Partition counts measured (RedisBroker's `partitions`), the first the one-log baseline. */
const PARTITION_COUNTS = (process.env.BENCH_SCALE_PARTITIONS ?? "1,32")
  .split(",")
  .map((x) => Number(x.trim()))
  .filter((x) => x > 0);
/** Row names: `herald` / `herald-followed` for 1 partition (the names of earlier runs), `herald-p32` … */
const rowName = (partitions, followed) =>
  `herald${partitions === 1 ? "" : `-p${partitions}`}${followed ? "-followed" : ""}`;

const median = (xs) => {
  const s = xs.filter((x) => x != null).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const range = (xs) => [Math.min(...xs), Math.max(...xs)];
const round = (x, d = 1) => (x == null ? null : Math.round(x * 10 ** d) / 10 ** d);

/** Commands that are the bench's own reads, not the workload's. */
const OWN = /^(info|config|cluster|ping|client|command|hello|select|readonly|script)/;

function startWorker(brokerOptions, mode) {
  const child = forkModule(path.join(BENCH_DIR, "redis-scale-worker.mjs"), [], {
    env: { ...process.env, BENCH_BROKER: JSON.stringify(brokerOptions), BENCH_PUBLISH: mode },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let nextId = 0;
  const pending = new Map();
  const ready = new Promise((resolve, reject) => {
    child.on("message", (m) => {
      if (m.ready) return resolve();
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error) p.reject(new Error(m.error));
      else p.resolve(m.value);
    });
    child.once("exit", (code) => {
      reject(new Error(`worker exited (${code})`));
      for (const p of pending.values()) p.reject(new Error(`worker exited (${code})`));
    });
  });
  const call = (op, params = {}, timeoutMs = 60_000) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${op}: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      child.send({ id, op, ...params });
    });
  return {
    child,
    ready,
    call,
    async close() {
      await call("close", {}, 5000).catch(() => {});
      await stopProcess(child, 2000);
    },
  };
}

function readNodes(topology) {
  return topology.nodes.map((n) => ({ port: n.port, cpuUs: n.cpuUs(), calls: n.commandCalls() }));
}

/**
 * How many of the log's partitions each node holds: its `…:seq` keys of that partition count
 * (`{herald}:seq` for one partition, `{herald:<p>/<P>:<n>}:seq` for P). Null where none were found.
 */
function partitionsPerNode(topology, partitions) {
  const pattern = partitions === 1 ? "{herald}:seq" : `{herald:*/${partitions}:*}:seq`;
  return topology.nodes.map((n) => {
    const keys = n.scan(pattern);
    return keys == null ? null : keys.length;
  });
}

/** One measured run: publishes from `worker` for `durationMs`, every node read before and after. */
async function publishRun(topology, worker, durationMs, followers = [], concurrency = CONCURRENCY) {
  for (const n of topology.nodes) n.resetStats();
  const received0 = await Promise.all(followers.map((f) => f.call("received")));
  const before = readNodes(topology);
  const m0 = machineTicks();
  const t = await worker.call("publish", { durationMs, concurrency, channels: CHANNELS });
  const m1 = machineTicks();
  const after = readNodes(topology);
  await sleep(300);
  const received1 = await Promise.all(followers.map((f) => f.call("received")));
  const nodes = after.map((a, i) => {
    const cpuUs = a.cpuUs - before[i].cpuUs;
    const calls = Object.fromEntries(Object.entries(a.calls).filter(([k]) => !OWN.test(k)));
    return {
      port: a.port,
      cpuUs,
      cpuShareOfCore: round(cpuUs / 1000 / t.ms, 3),
      usPerPublish: t.published ? round(cpuUs / t.published, 2) : null,
      calls,
      totalCalls: Object.values(calls).reduce((x, y) => x + y, 0),
    };
  });
  const redisCpuUs = nodes.reduce((x, n) => x + n.cpuUs, 0);
  const totalCalls = nodes.reduce((x, n) => x + n.totalCalls, 0);
  for (const n of nodes) {
    n.cpuShare = redisCpuUs ? round(n.cpuUs / redisCpuUs, 3) : null;
    n.callShare = totalCalls ? round(n.totalCalls / totalCalls, 3) : null;
  }
  const busiest = nodes.reduce((a, b) => (b.cpuUs > a.cpuUs ? b : a));
  return {
    published: t.published,
    errors: t.errors,
    firstError: t.firstError,
    ms: t.ms,
    publishesPerS: Math.round((t.published / t.ms) * 1000),
    publisherCpuUsPerPublish: t.published ? round(t.cpuUs / t.published, 2) : null,
    redisCpuUsPerPublish: t.published ? round(redisCpuUs / t.published, 2) : null,
    busiestCpuShare: busiest.cpuShare,
    busiestCallShare: busiest.callShare,
    delivered: followers.length ? received1.reduce((x, r, i) => x + r.received - received0[i].received, 0) : null,
    hostBusyCores: busyCores(m0, m1),
    nodes,
  };
}

/** `runs` publish runs folded: medians and ranges of the headline figures, the median run kept. */
function fold(runs) {
  const pick = (k) => runs.map((r) => r[k]);
  const byRedis = runs.slice().sort((a, b) => a.redisCpuUsPerPublish - b.redisCpuUsPerPublish);
  const mid = byRedis[Math.floor((byRedis.length - 1) / 2)];
  const out = { medianRun: mid, runs };
  for (const k of [
    "publishesPerS",
    "publisherCpuUsPerPublish",
    "redisCpuUsPerPublish",
    "busiestCpuShare",
    "busiestCallShare",
    "hostBusyCores",
  ]) {
    out[k] = median(pick(k));
    out[`${k}Range`] = range(pick(k).filter((x) => x != null));
  }
  out.errors = runs.reduce((x, r) => x + r.errors, 0);
  out.firstError = runs.find((r) => r.firstError)?.firstError ?? null;
  out.published = runs.reduce((x, r) => x + r.published, 0);
  out.delivered = runs[0].delivered == null ? null : runs.reduce((x, r) => x + r.delivered, 0);
  return out;
}

async function repeatRuns(topology, worker, config, log, label, followers = [], concurrency = CONCURRENCY) {
  const runs = [];
  for (let i = 0; i < config.redisRepeat; i++) {
    runs.push(await publishRun(topology, worker, config.throughputMs, followers, concurrency));
    const r = runs.at(-1);
    log(
      `  ${label} run ${i + 1}: ${r.publishesPerS}/s, redis ${r.redisCpuUsPerPublish} µs/publish ` +
        `(${r.nodes.map((n) => `${Math.round(n.cpuShare * 100)}%`).join(" / ")} of it per node), ` +
        `publisher ${r.publisherCpuUsPerPublish} µs, host ${r.hostBusyCores} cores busy` +
        `${r.errors ? `, ${r.errors} errors (${r.firstError})` : ""}` +
        `${r.delivered != null ? `, ${r.delivered} delivered to followers` : ""}`,
    );
    await sleep(300);
  }
  return fold(runs);
}

async function measureTopology(start, config, log) {
  const out = { rows: [] };
  let topology;
  const workers = [];
  try {
    topology = await start();
    out.kind = topology.kind;
    out.version = topology.version;
    out.ports = topology.nodes.map((n) => n.port);
    out.heraldKeyOwner = topology.ownerOf("{herald}:seq");
    log(
      `${topology.kind}: ${topology.nodes.length} node(s) on ${out.ports.join(", ")}; {herald} on ${out.heraldKeyOwner}`,
    );

    for (const partitions of PARTITION_COUNTS) {
      const options = { ...topology.brokerOptions, partitions };
      const tag = `partitions: ${partitions}`;
      // Herald, no one following.
      const publisher = startWorker(options, "herald");
      workers.push(publisher);
      await publisher.ready;
      await publisher.call("publish", { durationMs: 1000, concurrency: CONCURRENCY, channels: CHANNELS }); // warm-up
      const row = {
        name: rowName(partitions, false),
        partitions,
        label: `Herald (\`herald.publish\`), ${tag}`,
        ...(await repeatRuns(topology, publisher, config, log, `herald ${tag}`)),
      };
      row.partitionsPerNode = partitionsPerNode(topology, partitions);
      out.rows.push(row);

      // Followers: each process follows every channel once.
      const followers = [];
      for (let i = 0; i < FOLLOWERS; i++) followers.push(startWorker(options, "herald"));
      workers.push(...followers);
      await Promise.all(followers.map((f) => f.ready));
      await sleep(500);
      const mem0 = topology.nodes.map((n) => n.usedMemory());
      const cpu0 = topology.nodes.map((n) => n.cpuUs());
      const subs = await Promise.all(followers.map((f) => f.call("subscribe", { channels: CHANNELS }, 120_000)));
      await sleep(500);
      const cpu1 = topology.nodes.map((n) => n.cpuUs());
      const mem1 = topology.nodes.map((n) => n.usedMemory());
      await sleep(2000);
      const cpu2 = topology.nodes.map((n) => n.cpuUs());
      const subscriptions = FOLLOWERS * CHANNELS.length;
      const follow = {
        partitions,
        processes: FOLLOWERS,
        channels: CHANNELS.length,
        subscribeMs: subs.map((x) => x.ms),
        bytesPerSubscription: Math.round(mem1.reduce((a, m, i) => a + m - mem0[i], 0) / subscriptions),
        cpuUsPerSubscription: round(cpu1.reduce((a, c, i) => a + c - cpu0[i], 0) / subscriptions, 2),
        idleCpuShareOfCore: round(cpu2.reduce((a, c, i) => a + c - cpu1[i], 0) / 1000 / 2000, 4),
      };
      // `follow` keeps the one-partition figures under the name earlier runs gave them.
      if (partitions === 1) out.follow = follow;
      (out.follows ??= []).push(follow);
      log(
        `  ${tag}, ${subscriptions} subscriptions: ${follow.bytesPerSubscription} B and ${follow.cpuUsPerSubscription} µs each; ` +
          `idle ${(follow.idleCpuShareOfCore * 100).toFixed(2)}% of a core`,
      );
      const followed = {
        name: rowName(partitions, true),
        partitions,
        label: `Herald, ${tag}, every channel followed in ${FOLLOWERS} processes`,
        ...(await repeatRuns(topology, publisher, config, log, `herald ${tag} followed`, followers)),
      };
      followed.partitionsPerNode = row.partitionsPerNode;
      out.rows.push(followed);
      if (partitions > 1) {
        // As many publishes in flight per partition as the one-partition rows have in all: the
        // batches per partition (one script call per partition per tick) as large as theirs;
        // alone, then followed.
        const wide = CONCURRENCY * partitions;
        await publisher.call("publish", { durationMs: 1000, concurrency: wide, channels: CHANNELS });
        for (const [suffix, following] of [
          ["", []],
          ["-followed", followers],
        ]) {
          const widened = {
            name: `${rowName(partitions, false)}-wide${suffix}`,
            partitions,
            concurrency: wide,
            label: `Herald, ${tag}, ${n0(wide)} in flight${suffix ? `, every channel followed in ${FOLLOWERS} processes` : ""}`,
            ...(await repeatRuns(
              topology,
              publisher,
              config,
              log,
              `herald ${tag} ${wide} in flight${suffix}`,
              following,
              wide,
            )),
          };
          widened.partitionsPerNode = row.partitionsPerNode;
          out.rows.push(widened);
        }
      }
      for (const f of followers) await f.close();
      await publisher.close();
    }

    for (const [mode, label] of [
      ["per-channel", "floor: a hash tag per channel, PUBLISH"],
      ["per-channel-sharded", "floor: a hash tag per channel, SPUBLISH"],
    ]) {
      const w = startWorker(topology.brokerOptions, mode);
      workers.push(w);
      await w.ready;
      await w.call("publish", { durationMs: 1000, concurrency: CONCURRENCY, channels: CHANNELS });
      out.rows.push({ name: mode, label, ...(await repeatRuns(topology, w, config, log, mode)) });
      await w.close();
    }
    out.ok = true;
  } catch (error) {
    out.ok = false;
    out.error = String(error?.stack ?? error);
    log(`  ERROR: ${out.error}`);
  } finally {
    for (const w of workers) await stopProcess(w.child, 1000);
    await topology?.stop();
  }
  return out;
}

/** Both topologies, one after the other; returns the results (also written to disk). */
export async function measureRedisScale(config, log) {
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model?.trim() ?? "unknown",
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadavgBefore: os.loadavg().map((x) => round(x, 2)),
  };
  const m0 = machineTicks();
  await sleep(2000);
  meta.hostBusyCoresBefore = busyCores(m0, machineTicks());
  log(`redis-scale: host busy ${meta.hostBusyCoresBefore} cores, load ${meta.loadavgBefore.join(" ")}`);
  const data = {
    meta,
    config: {
      channels: CHANNELS.length,
      concurrency: CONCURRENCY,
      durationMs: config.throughputMs,
      repeat: config.redisRepeat,
      followers: FOLLOWERS,
    },
    topologies: [],
  };
  data.topologies.push(await measureTopology(startSingle, config, log));
  data.topologies.push(await measureTopology(() => startCluster(3), config, log));
  meta.loadavgAfter = os.loadavg().map((x) => round(x, 2));
  const dir = config.outDir;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "redis-scale.json"), `${JSON.stringify(data, null, 2)}\n`);
  Object.defineProperty(data, "outDir", { value: dir, enumerable: false });
  writeSection(path.join(dir, "redis.md"), renderRedisScale(data, readCheck(dir)));
  log(`wrote ${path.join(dir, "redis-scale.json")} and its section of redis.md`);
  return data;
}

/**
 * The capacity check (docs/capacity.md): the `BENCH_ONLY=redis` rows run with
 * `BENCH_REDIS_PROCS=4 BENCH_REDIS_SIZE=10000 BENCH_OUT=…`, their redis.json kept as
 * results/redis-4x2500.json. Null when absent.
 */
export function readCheck(dir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, "redis-4x2500.json"), "utf8"));
  } catch {
    return null;
  }
}

/** Earlier runs kept beside the latest (results/redis-scale-run<N>.json), for their ranges. */
export function readOtherRuns(dir) {
  if (!dir) return [];
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => /^redis-scale-run\d+\.json$/.test(f))
      .sort()
      .map((f) => ({ file: f, ...JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) }));
  } catch {
    return [];
  }
}

function renderOtherRuns(data, others) {
  const L = [];
  L.push("### The same bench, other runs");
  L.push("");
  L.push(
    "Redis CPU µs per publish (all nodes; median and range of its runs) and, on the Cluster, the busiest node's share of it, " +
      "for each kept run beside the one above.",
  );
  L.push("");
  const runs = [{ file: "redis-scale.json (above)", ...data }, ...others];
  const names = data.topologies.flatMap((t) => t.rows.map((r) => [t.kind, r.name, r.label]));
  L.push(
    `| topology | row | ${runs.map((r) => `${r.file}, ${r.meta.date.slice(11, 16)} UTC, load ${r.meta.loadavgBefore[0]}`).join(" | ")} |`,
  );
  L.push(`| --- | --- | ${runs.map(() => "---:").join(" | ")} |`);
  for (const [kind, name, label] of names) {
    const cells = runs.map((run) => {
      const r = run.topologies.find((t) => t.kind === kind)?.rows.find((x) => x.name === name);
      if (!r) return "–";
      const share = kind === "cluster" ? `; ${pct(r.busiestCpuShare)}` : "";
      return `${f(r.redisCpuUsPerPublish)} (${rng(r.redisCpuUsPerPublishRange, f)})${share}`;
    });
    L.push(`| ${kind === "cluster" ? "3-master Cluster" : "one redis-server"} | ${label} | ${cells.join(" | ")} |`);
  }
  L.push("");
  return L;
}

/** The results of bench/redis-check.mjs in `dir` (results/redis-check-<topology>-<P>x<N/P>.json). */
export function readChecks(dir) {
  if (!dir) return [];
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => /^redis-check-[\w-]+\.json$/.test(f))
      .sort()
      .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")));
  } catch {
    return [];
  }
}

function renderChecks(checks) {
  const L = [];
  L.push("### Capacity checks: `node bench/redis-check.mjs`");
  L.push("");
  L.push(
    "bench/redis-check.mjs: P herald-node processes on `RedisBroker` (bench/redis-cluster-herald.mjs) × N/P SSE connections, " +
      "P load-generator processes, one channel, 5 events/s for 10 s published by the first process (every event to Redis and back " +
      "to every process), three runs (medians; the runs in brackets). Redis CPU per node: INFO cpu over the three runs' windows, " +
      "as a share of a core (at 5 events/s mostly Redis' own timers and, on a Cluster, its bus), the node holding `{herald}` " +
      "first. p50 and p99 are publish-to-receive on this saturated 2-core host (servers, load generators and Redis share it " +
      "with other work).",
  );
  L.push("");
  L.push(
    "| date | topology | processes × connections | CPU µs / delivery (runs) | KiB / connection (heap) | p50 ms | p99 ms | lost | Redis CPU per node, share of a core | load average before → after |",
  );
  L.push("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |");
  for (const c of checks) {
    if (!c.ok) {
      L.push(
        `| ${c.meta.date} | ${c.topology} | error: ${String(c.error).split("\n")[0].slice(0, 100)} | | | | | | | |`,
      );
      continue;
    }
    const s = c.steady;
    const windowMs = (c.redisPerRun ?? []).reduce((a, r) => a + (r.windowMs ?? 10_500), 0);
    const order = c.nodes
      .map((p, i) => [p, i])
      .sort((a, b) => (b[0] === c.heraldKeyOwner) - (a[0] === c.heraldKeyOwner));
    const perNode = order
      .map(([, i]) => pct2((c.redisPerRun ?? []).reduce((a, r) => a + r.redisCpuMsPerNode[i], 0) / windowMs))
      .join(" / ");
    L.push(
      `| ${c.meta.date.slice(0, 16)} | ${c.topology === "cluster" ? "3-master Cluster" : "one redis-server"} | ` +
        `${c.processes} × ${n0(c.connections / c.processes)} | ${f(s.cpuUsPerDelivery)} (${(s.runs ?? []).map((x) => f(x.cpuUsPerDelivery)).join(", ")}) | ` +
        `${f(c.memory?.kibPerSubscriber)} (${f(c.memory?.heapKibPerSubscriber)}) | ${f(s.latency?.p50Ms)} | ${f(s.latency?.p99Ms)} | ` +
        `${s.lost} of ${n0(s.expected)} | ${perNode} | ${c.meta.loadavgBefore[0]} → ${c.meta.loadavgAfter?.[0] ?? "–"} |`,
    );
  }
  L.push("");
  return L;
}

/** Puts `section` between the markers of `file` (appended when absent). */
export function writeSection(file, section) {
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  fs.writeFileSync(file, withSection(text, section));
}

/** `text` with the redis-scale section replaced (or appended). */
export function withSection(text, section) {
  const block = `${START}\n\n${section.trim()}\n\n${END}\n`;
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a !== -1 && b > a) return text.slice(0, a) + block + text.slice(b + END.length).replace(/^\n/, "");
  return `${text.trimEnd()}${text.trim() ? "\n\n" : ""}${block}`;
}

/** The section as it stands in `file` (to carry over when the rest of the file is rewritten). */
export function sectionOf(file) {
  try {
    const text = fs.readFileSync(file, "utf8");
    const a = text.indexOf(START);
    const b = text.indexOf(END);
    return a !== -1 && b > a ? text.slice(a + START.length, b) : null;
  } catch {
    return null;
  }
}

/** Script calls (EVALSHA, EVAL) per publish in a row's median run: 1 / the publishes per script call. */
const scriptsPerPublish = (r) => {
  const m = r.medianRun;
  if (!m?.published) return null;
  return m.nodes.reduce((a, n) => a + (n.calls.evalsha ?? 0) + (n.calls.eval ?? 0), 0) / m.published;
};

const pct2 = (x) => (x == null ? "–" : `${(x * 100).toFixed(1)}%`);
const pct = (x) => (x == null ? "–" : `${Math.round(x * 100)}%`);
const f = (x, d = 1) => (x == null ? "–" : x.toFixed(d));
const n0 = (x) => (x == null ? "–" : Math.round(x).toLocaleString("en-US"));
const rng = (r, fmt) => (r && r.length ? `${fmt(r[0])}–${fmt(r[1])}` : "–");

export function renderRedisScale(data, check = null) {
  const { meta, config } = data;
  const L = [];
  L.push("## Writes over Redis masters: one redis-server and a 3-master Cluster (issue 23)");
  L.push("");
  L.push(
    `${meta.date} · Node ${meta.node} · ${meta.cpus}× ${meta.cpuModel} · ${meta.memGiB} GiB · ${meta.os} · ` +
      `${data.topologies[0]?.version?.split(" ").slice(0, 3).join(" ") ?? "redis-server"} · ` +
      `load average (1/5/15 min) ${meta.loadavgBefore.join(" / ")} before, ${meta.loadavgAfter?.join(" / ") ?? "–"} after · ` +
      `host busy ${meta.hostBusyCoresBefore ?? "–"} of ${meta.cpus} cores before the run (other engineers' work)`,
  );
  L.push("");
  L.push(
    `\`BENCH_ONLY=redis-scale npm run bench\` (bench/redis-scale.mjs). Every Redis node and process on this one ` +
      `${meta.cpus}-core machine, on loopback, no persistence; the Cluster is 3 masters without replicas started by the bench ` +
      `(slots split evenly by \`redis-cli --cluster create\`). One publisher process calls \`herald.publish\` through ` +
      `\`RedisBroker\` on ${n0(config.channels)} channels in turn, ${config.concurrency} in flight, ${config.durationMs / 1000} s ` +
      `per run, ${config.repeat} runs per row (medians, ranges in brackets); streams are not full (a few hundred events per ` +
      `channel at most). Redis CPU is each node's \`used_cpu_sys\` + \`used_cpu_user\` (INFO cpu) before and after a run, ` +
      `summed over the nodes and divided by the publishes; commands are \`INFO commandstats\` calls after \`CONFIG RESETSTAT\` ` +
      `(a script counts once as EVALSHA and once per command it runs; the cluster bus's forwarding of PUBLISH is CPU, not ` +
      `commands). Each Herald row names \`RedisBroker\`'s \`partitions\`: 1 is the log under one hash tag (\`{herald}\`, ` +
      `classic pub/sub), 32 the partitioned log (issue 23: a hash tag, sequence and epoch per partition, the tags' slots ` +
      `spread evenly, sharded pub/sub on Redis 7). The floors are not Herald: the least an atomic publish does (INCR + capped ` +
      `XADD + PUBLISH or SPUBLISH in one script) with a hash tag per channel.`,
  );
  L.push("");
  L.push(
    "| topology | row | publishes / s | publisher CPU µs / publish | Redis CPU µs / publish (all nodes) | script calls / publish | busiest node's share of Redis CPU | busiest node's share of commands | errors |",
  );
  L.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const t of data.topologies) {
    const topo = t.kind === "cluster" ? "3-master Cluster" : "one redis-server";
    if (!t.ok && !t.rows?.length) {
      L.push(`| ${topo} | error: ${String(t.error).split("\n")[0].slice(0, 120)} | | | | | | | |`);
      continue;
    }
    for (const r of t.rows) {
      L.push(
        `| ${topo} | ${r.label} | ${n0(r.publishesPerS)} (${rng(r.publishesPerSRange, n0)}) | ` +
          `${f(r.publisherCpuUsPerPublish)} (${rng(r.publisherCpuUsPerPublishRange, f)}) | ` +
          `${f(r.redisCpuUsPerPublish)} (${rng(r.redisCpuUsPerPublishRange, f)}) | ${f(scriptsPerPublish(r), 3)} | ` +
          `${t.kind === "cluster" ? `${pct(r.busiestCpuShare)} (${rng(r.busiestCpuShareRange, pct)})` : "100%"} | ` +
          `${t.kind === "cluster" ? `${pct(r.busiestCallShare)} (${rng(r.busiestCallShareRange, pct)})` : "100%"} | ${r.errors} |`,
      );
    }
    if (!t.ok) L.push(`| ${topo} | error: ${String(t.error).split("\n")[0].slice(0, 120)} | | | | | | | |`);
  }
  L.push("");
  const cluster = data.topologies.find((t) => t.kind === "cluster");
  const heraldRows = cluster?.rows?.filter((r) => r.name.startsWith("herald")) ?? [];
  if (heraldRows.length && heraldRows.some((r) => r.partitions)) {
    L.push("### Each master's share, 3-master Cluster, Herald rows");
    L.push("");
    L.push(
      "Per master (ports in the same order in every column; the median run of each row): the partitions it holds (its " +
        "`…:seq` keys), its share of the workload's commands and of the Cluster's Redis CPU, and its CPU as a share of a core.",
    );
    L.push("");
    L.push(
      `| row | publishes / s | partitions per master | share of commands | share of Redis CPU | Redis CPU µs per publish of the Cluster | share of a core |`,
    );
    L.push("| --- | ---: | --- | --- | --- | --- | --- |");
    const ports = cluster.ports ?? heraldRows[0].medianRun.nodes.map((n) => n.port);
    for (const r of heraldRows) {
      const byPort = new Map(r.medianRun.nodes.map((n) => [n.port, n]));
      const cells = (fn) => ports.map((p) => fn(byPort.get(p))).join(" / ");
      L.push(
        `| ${r.label} | ${n0(r.publishesPerS)} (${rng(r.publishesPerSRange, n0)}) | ` +
          `${(r.partitionsPerNode ?? []).map((x) => (x == null ? "–" : x)).join(" / ") || "–"} | ` +
          `${cells((n) => pct(n?.callShare))} | ${cells((n) => pct(n?.cpuShare))} | ${cells((n) => f(n?.usPerPublish))} | ` +
          `${cells((n) => pct(n?.cpuShareOfCore))} |`,
      );
    }
    L.push("");
    L.push(`Masters: ${ports.join(" / ")}.`);
    L.push("");
  }
  if (cluster?.rows?.length) {
    L.push("### Per master, 3-master Cluster (the median run of each row)");
    L.push("");
    L.push(
      `The master holding \`{herald}\` (every key of a one-partition log) is port ${cluster.heraldKeyOwner}. Share of a core: the node's ` +
        `CPU over the run's wall time. Commands: the workload's calls on that node (EVALSHA and what the scripts run).`,
    );
    L.push("");
    L.push(
      "| row | master | share of a core | share of Redis CPU | Redis CPU µs / publish | commands | share of commands | top commands |",
    );
    L.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for (const r of cluster.rows) {
      r.medianRun.nodes.forEach((n, i) => {
        const held =
          r.partitions > 1
            ? r.partitionsPerNode?.[i] != null
              ? ` (${r.partitionsPerNode[i]} partitions)`
              : ""
            : n.port === cluster.heraldKeyOwner && r.name.startsWith("herald")
              ? " ({herald})"
              : "";
        const top = Object.entries(n.calls)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 4)
          .map(([k, v]) => `${k} ${n0(v)}`)
          .join(", ");
        L.push(
          `| ${r.label} | ${n.port}${held} | ${pct(n.cpuShareOfCore)} | ` +
            `${pct(n.cpuShare)} | ${f(n.usPerPublish, 2)} | ${n0(n.totalCalls)} | ${pct(n.callShare)} | ${top || "–"} |`,
        );
      });
    }
    L.push("");
  }
  L.push("### What following a channel costs Redis");
  L.push("");
  L.push(
    `${config.followers} processes each follow all ${n0(config.channels)} channels (one \`SUBSCRIBE\`, or \`SSUBSCRIBE\` with partitions, per channel per process, ` +
      `as a Herald process does for a channel with subscribers). Per subscription: Redis \`used_memory\` and CPU while they ` +
      `are made; then Redis CPU over 2 s with nothing published; per event, what a following process adds to a publish ` +
      `(Redis CPU µs per publish with ${config.followers} followers less without, divided by ${config.followers}).`,
  );
  L.push("");
  L.push(
    "| topology | partitions | bytes / subscription | CPU µs / subscription | idle, share of a core | per event per following process, µs |",
  );
  L.push("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const t of data.topologies) {
    for (const follow of t.follows ?? (t.follow ? [{ partitions: 1, ...t.follow }] : [])) {
      const perEvent = (name) => {
        const a = t.rows.find((r) => r.name === name);
        const b = t.rows.find((r) => r.name === `${name}-followed`);
        return a && b ? (b.redisCpuUsPerPublish - a.redisCpuUsPerPublish) / follow.processes : null;
      };
      const name = rowName(follow.partitions, false);
      const wide = perEvent(`${name}-wide`);
      L.push(
        `| ${t.kind === "cluster" ? "3-master Cluster" : "one redis-server"} | ${follow.partitions} | ${n0(follow.bytesPerSubscription)} | ` +
          `${f(follow.cpuUsPerSubscription, 1)} | ${f(follow.idleCpuShareOfCore * 100, 2)}% | ${f(perEvent(name), 1)}` +
          `${wide == null ? "" : ` (${f(wide, 1)} at ${n0(CONCURRENCY * follow.partitions)} in flight)`} |`,
      );
    }
  }
  L.push("");
  const others = readOtherRuns(data.outDir);
  if (others.length) L.push(...renderOtherRuns(data, others));
  if (check) L.push(...renderCheck(check));
  const checks = readChecks(data.outDir);
  if (checks.length) L.push(...renderChecks(checks));
  return L.join("\n");
}

function renderCheck(check) {
  const L = [];
  const mem = check.results.find((r) => r.server === "herald-memory");
  const red = check.results.find((r) => r.server === "herald-redis");
  L.push(
    `### Capacity check: ${red?.processes ?? "?"} processes × ${n0((red?.subscribers ?? 0) / (red?.processes ?? 1))} SSE connections on one Redis`,
  );
  L.push("");
  L.push(
    `${check.meta.date} · herald at ${check.meta.git.commit} · host busy with other work before the run: ` +
      `${check.meta.hostBusyCoresBeforeRun ?? "–"} of ${check.meta.cpus} cores. ` +
      "`BENCH_ONLY=redis BENCH_REDIS_PROCS=4 BENCH_REDIS_SIZE=10000 BENCH_OUT=… node bench/run.mjs` " +
      "(the `BENCH_ONLY=redis` rows, lib/scenario-redis.mjs; its redis.json kept as results/redis-4x2500.json): " +
      `one channel, ${check.config.rate} events/s for ${check.config.steadyMs / 1000} s, ${check.config.redisRepeat} runs, ` +
      "published by the first process, every event to Redis and back to every process; 4 load-generator processes in both rows. " +
      "KiB per subscriber is RSS growth over the connections (JS heap in brackets).",
  );
  L.push("");
  L.push(
    "| row | processes | connections | CPU µs / delivery, median (runs) | KiB / connection (heap) | p50 ms | p99 ms | lost |",
  );
  L.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of [mem, red]) {
    if (!r?.ok) continue;
    const s = r.steady;
    L.push(
      `| ${r.server} | ${r.processes} | ${n0(r.subscribers)} | ${f(s.cpuUsPerDelivery)} (${(s.runs ?? []).map((x) => f(x.cpuUsPerDelivery)).join(", ")}) | ` +
        `${f(r.memory?.kibPerSubscriber)} (${f(r.memory?.heapKibPerSubscriber)}) | ${f(s.latency?.p50Ms)} | ${f(s.latency?.p99Ms)} | ` +
        `${s.lost} of ${n0(s.expected)} |`,
    );
  }
  L.push("");
  return L;
}
