/**
 * Test helper: a private three-master Redis Cluster (no replicas) in a temp dir, on free ports, with
 * append-only persistence so a node can be killed and restarted with its data and its identity.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { redisPort } from "../redis/ports.js";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running cluster. */
export interface TestCluster {
  readonly ports: readonly number[];
  /** Start nodes for ioredis' Cluster. */
  readonly nodes: { host: string; port: number }[];
  /** The port of the master serving `key`'s slot. */
  ownerOf(key: string): number;
  /** Kills node `port` (SIGKILL), starts it again with its data and waits until the cluster is ok. */
  restart(port: number, downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startCluster(): Promise<TestCluster> {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) throw new Error("redis-server not found: apt-get install redis-server");
  const dir = mkdtempSync(join(tmpdir(), "herald-cluster-"));
  const ports: number[] = [];
  // Three ports whose cluster bus ports (+10000) are free too.
  while (ports.length < 3) ports.push(await redisPort());
  const children = new Map<number, ChildProcess>();
  const start = async (port: number) => {
    const data = join(dir, String(port));
    mkdirSync(data, { recursive: true });
    const child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        data,
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        `nodes-${port}.conf`,
        "--cluster-node-timeout",
        "2000",
        "--cluster-require-full-coverage",
        "no",
        "--appendonly",
        "yes",
        "--save",
        "",
      ],
      { stdio: "ignore" },
    );
    children.set(port, child);
    await waitFor(() => cli(port, "PING") === "PONG", 10_000, `node ${port} to answer`);
  };
  await Promise.all(ports.map(start));
  const created = spawnSync(
    "redis-cli",
    ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"],
    { encoding: "utf8" },
  );
  if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
  const healthy = () =>
    ports.every((p) => {
      const info = cli(p, "CLUSTER", "INFO");
      return info.includes("cluster_state:ok") && info.includes("cluster_slots_ok:16384");
    });
  await waitFor(healthy, 20_000, "the cluster to be ok");

  const ownerOf = (key: string) => {
    const slot = Number(cli(ports[0]!, "CLUSTER", "KEYSLOT", key));
    for (const port of ports) {
      const mine = cli(port, "CLUSTER", "MYID");
      const nodes = cli(port, "CLUSTER", "NODES").split("\n");
      const line = nodes.find((l) => l.startsWith(mine));
      for (const range of line?.split(" ").slice(8) ?? []) {
        const [from, to] = range.split("-").map(Number);
        if (slot >= from! && slot <= (to ?? from)!) return port;
      }
    }
    throw new Error(`no owner for slot ${slot}`);
  };

  const kill = (port: number) =>
    new Promise<void>((resolve) => {
      const child = children.get(port);
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });

  return {
    ports,
    nodes: ports.map((port) => ({ host: "127.0.0.1", port })),
    ownerOf,
    async restart(port, downMs = 300) {
      await kill(port);
      await new Promise((r) => setTimeout(r, downMs));
      await start(port);
      await waitFor(healthy, 20_000, "the cluster to be ok again");
    },
    async stop() {
      await Promise.all(ports.map(kill));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function cli(port: number, ...args: string[]): string {
  const run = spawnSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8", timeout: 2000 });
  return (run.stdout ?? "").trim();
}

async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
