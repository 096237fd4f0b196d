/**
 * Test helper: a private Redis Cluster in a temp dir, on ports of this worker's range
 * (test/redis/ports.ts), with append-only persistence so a node can be killed and restarted with
 * its data and its identity. `startCluster()`: three masters, no replicas. `startCluster({ replicas:
 * 1 })`: three masters and one replica each, every replica in sync before it resolves; `failover`
 * then kills a master and waits until its replica has taken its slots.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { redisPort } from "../redis/ports.js";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running cluster. */
export interface TestCluster {
  /** Every node started (the three masters first without replicas; masters and replicas with). */
  readonly ports: readonly number[];
  /** Start nodes for ioredis' Cluster. */
  readonly nodes: { host: string; port: number }[];
  /** The port of the master serving `key`'s slot. */
  ownerOf(key: string): number;
  /** The masters that are up now (ports). */
  masters(): number[];
  /** The port of `master`'s replica that is up (undefined when it has none). */
  replicaOf(master: number): number | undefined;
  /** Kills node `port` (SIGKILL), starts it again with its data and waits until the cluster is ok. */
  restart(port: number, downMs?: number): Promise<void>;
  /**
   * Kills master `port` (SIGKILL) and waits until its replica is a master serving its slots and
   * every node that is up sees `cluster_state:ok` with all 16,384 slots covered. Resolves with the
   * promoted replica's port.
   */
  failover(port: number): Promise<number>;
  /**
   * Starts a killed node again (its data and identity kept): a master replaced by its replica comes
   * back as that replica's replica. Waits until it is in sync and the cluster is ok.
   */
  rejoin(port: number): Promise<void>;
  /** Sends `signal` to node `port` (SIGSTOP / SIGCONT). */
  signal(port: number, signal: NodeJS.Signals): void;
  /**
   * Stops (SIGSTOP) master `port`'s replica so that it falls behind. `behind()`: bytes of the
   * replication stream the master has produced since that neither the replica nor the kernel's
   * socket buffers between them hold (what a kill of the master now loses; an estimate from above
   * by the little the replica may read between its offset's read and its stop). `release()` sends
   * SIGCONT.
   */
  holdReplica(port: number): { replica: number; behind(): number; release(): void };
  stop(): Promise<void>;
}

/** Options of {@link startCluster}. */
export interface ClusterSetup {
  /** Replicas per master (0 or 1; default 0). */
  replicas?: 0 | 1;
}

const MASTERS = 3;
const SLOTS = 16_384;

export async function startCluster(setup: ClusterSetup = {}): Promise<TestCluster> {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) throw new Error("redis-server not found: apt-get install redis-server");
  const replicas = setup.replicas ?? 0;
  const dir = mkdtempSync(join(tmpdir(), "herald-cluster-"));
  const ports: number[] = [];
  // Ports whose cluster bus ports (+10000) are free too.
  while (ports.length < MASTERS * (1 + replicas)) ports.push(await redisPort());
  const children = new Map<number, ChildProcess>();
  const up = (port: number) => {
    const child = children.get(port);
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  };
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
        // With replicas: a replica held behind (holdReplica) on a busy machine may go without its
        // master for longer than the default validity (10 × the node timeout); it still takes over.
        ...(replicas > 0 ? ["--cluster-replica-validity-factor", "0"] : []),
      ],
      { stdio: "ignore" },
    );
    children.set(port, child);
    await waitFor(() => cli(port, "PING") === "PONG", 10_000, `node ${port} to answer`);
  };
  try {
    await Promise.all(ports.map(start));
    const created = spawnSync(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        String(replicas),
        "--cluster-yes",
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
  } catch (error) {
    for (const child of children.values()) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  /** The cluster as node `port` sees it. */
  const view = (port: number) => parseNodes(cli(port, "CLUSTER", "NODES"));
  const live = () => ports.filter(up);
  /** Nodes held with SIGSTOP (holdReplica, signal): up, but they answer nothing until SIGCONT. */
  const stopped = new Set<number>();
  /** Nodes that answer: up and not stopped (the ones to ask about the cluster). */
  const answering = () => live().filter((p) => !stopped.has(p));
  const healthy = () =>
    live().every((p) => {
      const info = cli(p, "CLUSTER", "INFO");
      return info.includes("cluster_state:ok") && info.includes(`cluster_slots_ok:${SLOTS}`);
    });
  /** Every replica that is up follows a master that is up, in sync, and every node agrees on who masters whom. */
  const replicasInSync = () => {
    const nodes = live();
    const roles = new Map(nodes.map((p) => [p, cli(p, "ROLE").split("\n")]));
    for (const [port, role] of roles) {
      if (role[0] !== "slave") continue;
      const masterPort = Number(role[2]);
      if (!up(masterPort) || role[3] !== "connected") return false;
      // The master's offset, read first, reached by the replica (read after: a master that goes on
      // writing, a renewal or a trim, still lets the replica be seen in sync).
      const masterOffset = Number(/master_repl_offset:(\d+)/.exec(cli(masterPort, "INFO", "replication"))?.[1]);
      const info = cli(port, "INFO", "replication");
      if (!info.includes("master_link_status:up") || !info.includes("master_sync_in_progress:0")) return false;
      const own = Number(/slave_repl_offset:(\d+)/.exec(info)?.[1]);
      if (!(own >= masterOffset)) return false;
    }
    // Every node that is up sees every replica that is up as such, under the right master.
    for (const p of nodes) {
      const seen = view(p);
      for (const [port, role] of roles) {
        const entry = seen.find((n) => n.port === port);
        if (!entry || entry.flags.includes("fail")) return false;
        const isReplica = role[0] === "slave";
        if (isReplica !== entry.flags.includes("slave")) return false;
        if (isReplica && seen.find((n) => n.id === entry.master)?.port !== Number(role[2])) return false;
      }
    }
    return true;
  };
  try {
    await waitFor(healthy, 30_000, "the cluster to be ok");
    if (replicas > 0) await waitFor(replicasInSync, 30_000, "every replica in sync");
  } catch (error) {
    for (const child of children.values()) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  const masters = () => {
    const at = answering()[0];
    if (at === undefined) return [];
    return view(at)
      .filter((n) => n.flags.includes("master") && !n.flags.includes("fail") && n.slots.length > 0 && up(n.port))
      .map((n) => n.port);
  };

  const ownerOf = (key: string) => {
    const at = answering()[0]!;
    const slot = Number(cli(at, "CLUSTER", "KEYSLOT", key));
    // Asked of each master that is up, about itself: the node that serves the slot says so.
    for (const port of answering()) {
      const self = view(port).find((n) => n.flags.includes("myself"));
      if (!self?.flags.includes("master")) continue;
      if (self.slots.some(([from, to]) => slot >= from && slot <= to)) return port;
    }
    throw new Error(`no owner for slot ${slot}`);
  };

  const replicaOf = (master: number) => {
    // Asked of another node that answers; a stopped replica still counts as the master's replica.
    const at = answering().find((p) => p !== master) ?? master;
    const seen = view(at);
    const id = seen.find((n) => n.port === master)?.id;
    return seen.find((n) => n.master === id && n.flags.includes("slave") && up(n.port))?.port;
  };

  /**
   * Ports of killed nodes, held by this process until the node starts again: the port ranges are
   * per vitest worker, so another vitest process on the machine (another worktree's run) may pick a
   * port it finds free, and a redis-server of its own there would take this node's place (its start
   * fails, and this cluster's nodes would gossip with a stranger). A connection is closed at once,
   * as to a dead node.
   */
  const reserved = new Map<number, net.Server[]>();
  const reserve = async (port: number) => {
    const servers = await Promise.all(
      [port, port + 10_000].map(
        (p) =>
          new Promise<net.Server | undefined>((resolve) => {
            const server = net.createServer((socket) => socket.destroy());
            server.once("error", () => resolve(undefined));
            server.listen(p, "127.0.0.1", () => resolve(server));
          }),
      ),
    );
    reserved.set(
      port,
      servers.filter((s): s is net.Server => s !== undefined),
    );
  };
  const unreserve = async (port: number) => {
    for (const server of reserved.get(port) ?? []) await new Promise((r) => server.close(r));
    reserved.delete(port);
  };

  const kill = (port: number) =>
    new Promise<void>((resolve) => {
      const child = children.get(port);
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      stopped.delete(port);
      child.kill("SIGCONT"); // a stopped node dies too
      child.kill("SIGKILL");
    });

  return {
    ports,
    nodes: ports.map((port) => ({ host: "127.0.0.1", port })),
    ownerOf,
    masters,
    replicaOf,
    async restart(port, downMs = 300) {
      await kill(port);
      await new Promise((r) => setTimeout(r, downMs));
      await start(port);
      await waitFor(healthy, 20_000, "the cluster to be ok again");
    },
    async failover(port) {
      const replica = replicaOf(port);
      if (replica === undefined) throw new Error(`master ${port} has no replica that is up`);
      const slots = view(port).find((n) => n.flags.includes("myself"))?.slots ?? [];
      if (slots.length === 0) throw new Error(`node ${port} is not a master serving slots`);
      await kill(port);
      await reserve(port);
      const promoted = () => {
        const self = view(replica).find((n) => n.flags.includes("myself"));
        if (!self?.flags.includes("master")) return false;
        // It serves every slot the dead master served.
        return slots.every(([from, to]) => self.slots.some(([a, b]) => from >= a && to <= b));
      };
      await waitFor(promoted, 30_000, `replica ${replica} to replace master ${port}`);
      await waitFor(
        () =>
          healthy() &&
          live().every((p) =>
            view(p)
              .find((n) => n.port === replica)
              ?.flags.includes("master"),
          ),
        30_000,
        "the cluster to be ok after the failover",
      );
      return replica;
    },
    async rejoin(port) {
      if (up(port)) return;
      await unreserve(port);
      await start(port);
      await waitFor(
        () => cli(port, "ROLE").split("\n")[0] === "slave" && healthy() && replicasInSync(),
        45_000,
        `node ${port} back as a replica, in sync`,
      ).catch((error: Error) => {
        const role = cli(port, "ROLE").split("\n").slice(0, 4).join(" ");
        const link = cli(port, "INFO", "replication")
          .split(/\r?\n/)
          .filter((l) => /^(master_link_status|master_sync_in_progress|slave_repl_offset)/.test(l))
          .join(" ");
        throw new Error(`${error.message} (ROLE ${role}; ${link}; healthy ${healthy()})`);
      });
    },
    signal(port, signal) {
      if (signal === "SIGSTOP") stopped.add(port);
      if (signal === "SIGCONT") stopped.delete(port);
      children.get(port)?.kill(signal);
    },
    holdReplica(port) {
      const replica = replicaOf(port);
      if (replica === undefined) throw new Error(`master ${port} has no replica that is up`);
      const link = Number(/addr=[\d.]+:(\d+)/.exec(cli(port, "CLIENT", "LIST", "TYPE", "replica"))?.[1]);
      const offset = Number(info(replica, "replication").slave_repl_offset);
      stopped.add(replica);
      children.get(replica)!.kill("SIGSTOP");
      return {
        replica,
        behind: () => {
          const produced = Number(info(port, "replication").master_repl_offset) - offset;
          return produced - socketQueues(port, link);
        },
        release: () => {
          stopped.delete(replica);
          children.get(replica)?.kill("SIGCONT");
        },
      };
    },
    async stop() {
      await Promise.all(ports.map(kill));
      await Promise.all(ports.map(unreserve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One line of CLUSTER NODES. */
interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  /** The master's id for a replica ("-" for a master). */
  master: string;
  slots: [number, number][];
}

function parseNodes(text: string): NodeLine[] {
  const out: NodeLine[] = [];
  for (const line of text.split("\n")) {
    const parts = line.trim().split(" ");
    if (parts.length < 8) continue;
    const port = Number(/:(\d+)[@,]/.exec(parts[1]!)?.[1] ?? /:(\d+)$/.exec(parts[1]!)?.[1]);
    const slots: [number, number][] = [];
    for (const range of parts.slice(8)) {
      if (range.startsWith("[")) continue; // a slot being migrated
      const [from, to] = range.split("-").map(Number);
      slots.push([from!, to ?? from!]);
    }
    out.push({ id: parts[0]!, port, flags: parts[2]!.split(","), master: parts[3]!, slots });
  }
  return out;
}

function cli(port: number, ...args: string[]): string {
  const run = spawnSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8", timeout: 2000 });
  return (run.stdout ?? "").trim();
}

/** `INFO` fields of node `port` (`section`), or of the first that answers. */
export function info(port: number, section: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of cli(port, "INFO", section).split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0 && !line.startsWith("#")) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/**
 * Bytes queued in the kernel on the loopback link between `port` (the master) and a peer's local
 * port `peer`: the master side's send queue and the peer side's receive queue (/proc/net/tcp).
 */
function socketQueues(port: number, peer: number): number {
  let total = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 5) continue;
      const local = Number.parseInt(cols[1]!.split(":")[1]!, 16);
      const remote = Number.parseInt(cols[2]!.split(":")[1]!, 16);
      const [tx, rx] = cols[4]!.split(":").map((x) => Number.parseInt(x, 16));
      if (local === port && remote === peer) total += tx!;
      if (local === peer && remote === port) total += rx!;
    }
  }
  return total;
}

/** Runs a redis-cli command on node `port` (its output, trimmed; empty when the node is down). */
export function command(port: number, ...args: string[]): string {
  return cli(port, ...args);
}

async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
