/**
 * The bench's private Redis topologies, every node a tracked child of the run (killed with the
 * others when it ends): one redis-server, or a three-master Redis Cluster without replicas (as
 * packages/herald/test/redis-cluster/cluster-server.ts starts it for the tests, which is TypeScript
 * and keeps AOF for its restart tests; here without persistence). Loopback only, free ports.
 *
 * Each node can be read with `info(section)` (INFO parsed to an object), `cpuUs()` (redis-server's
 * `used_cpu_sys` + `used_cpu_user`, µs), `commandCalls()` (`INFO commandstats`: calls per
 * command since the last `resetStats()`) and `scan(pattern)` (its own keys matching a pattern).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, sleep, startProcess, stopProcess } from "./lib/children.mjs";

function cli(port, ...args) {
  const run = spawnSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8", timeout: 5000 });
  return (run.stdout ?? "").trim();
}

function parseInfo(text) {
  const out = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0 && !line.startsWith("#")) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

async function waitFor(predicate, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** One node's readers. */
function node(port, child) {
  const info = (section) => parseInfo(cli(port, "INFO", section));
  return {
    port,
    pid: child.pid,
    info,
    cpuUs() {
      const i = info("cpu");
      return Math.round((Number(i.used_cpu_sys) + Number(i.used_cpu_user)) * 1e6);
    },
    /** `{ command: calls }` from INFO commandstats (`cmdstat_evalsha:calls=…,usec=…`). */
    commandCalls() {
      const out = {};
      for (const [key, value] of Object.entries(info("commandstats"))) {
        const m = /calls=(\d+)/.exec(value);
        if (key.startsWith("cmdstat_") && m) out[key.slice(8)] = Number(m[1]);
      }
      return out;
    },
    usedMemory: () => Number(info("memory").used_memory),
    resetStats: () => cli(port, "CONFIG", "RESETSTAT"),
    version: () => spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout.trim(),
    /** The node's own keys matching `pattern` (SCAN through redis-cli). */
    scan: (pattern) => cli(port, "--scan", "--pattern", pattern).split("\n").filter(Boolean),
  };
}

async function startNode(port, dir, cluster) {
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  args.push("--maxclients", "1000", "--dir", dir);
  if (cluster) {
    args.push("--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`);
    args.push("--cluster-node-timeout", "5000", "--cluster-require-full-coverage", "no");
  }
  const child = startProcess("redis-server", args, {});
  await waitFor(
    () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`redis-server ${port} exited early: ${child.output().slice(-500)}`);
      return cli(port, "PING") === "PONG";
    },
    10_000,
    `redis-server ${port} to answer PING`,
  );
  return child;
}

function probe() {
  const run = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (run.error || run.status !== 0) throw new Error("redis-server not found (apt-get install redis-server)");
  return run.stdout.trim();
}

/** One redis-server. */
export async function startSingle() {
  const version = probe();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-bench-redis-"));
  const port = await freePort();
  const child = await startNode(port, dir, false);
  return {
    kind: "single",
    version,
    nodes: [node(port, child)],
    brokerOptions: { url: `redis://127.0.0.1:${port}` },
    ownerOf: () => port,
    async stop() {
      await stopProcess(child, 2000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Three masters, no replicas, the 16,384 slots split evenly by `redis-cli --cluster create`. */
export async function startCluster(masters = 3) {
  const version = probe();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-bench-cluster-"));
  const ports = [];
  while (ports.length < masters) {
    const port = await freePort();
    // The cluster bus listens on port + 10000.
    if (port < 55_000 && !ports.includes(port) && (await isFree(port + 10_000))) ports.push(port);
  }
  const children = [];
  try {
    for (const port of ports) children.push(await startNode(port, dir, true));
    const created = spawnSync(
      "redis-cli",
      ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"],
      { encoding: "utf8", timeout: 30_000 },
    );
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    await waitFor(
      () =>
        ports.every((p) => {
          const info = cli(p, "CLUSTER", "INFO");
          return info.includes("cluster_state:ok") && info.includes("cluster_slots_ok:16384");
        }),
      20_000,
      "the cluster to be ok",
    );
  } catch (error) {
    for (const child of children) await stopProcess(child, 1000);
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const nodes = ports.map((port, i) => node(port, children[i]));
  const slotOwner = new Map();
  for (const port of ports) {
    const mine = cli(port, "CLUSTER", "MYID");
    const line = cli(port, "CLUSTER", "NODES")
      .split("\n")
      .find((l) => l.startsWith(mine));
    for (const range of line?.split(" ").slice(8) ?? []) {
      const [from, to] = range.split("-").map(Number);
      slotOwner.set(port, [...(slotOwner.get(port) ?? []), [from, to ?? from]]);
    }
  }
  return {
    kind: "cluster",
    version,
    nodes,
    brokerOptions: { cluster: { nodes: ports.map((port) => ({ host: "127.0.0.1", port })) } },
    /** The port of the master serving `key`'s slot. */
    ownerOf(key) {
      const slot = Number(cli(ports[0], "CLUSTER", "KEYSLOT", key));
      for (const [port, ranges] of slotOwner) if (ranges.some(([a, b]) => slot >= a && slot <= b)) return port;
      return null;
    },
    async stop() {
      for (const child of children) await stopProcess(child, 2000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function isFree(port) {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
