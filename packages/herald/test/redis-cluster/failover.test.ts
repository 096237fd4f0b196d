/**
 * Herald on a Redis Cluster of three masters with one replica each (started here), through real
 * HTTP servers and SSE clients:
 *
 * - the resume contract under random cuts, on many channels, publisher and subscribers on two instances;
 * - a Herald process killed mid-stream, its clients resuming on another process;
 * - a master killed mid-stream and its replica promoted: publishing goes on (a publish that fails
 *   meanwhile is tried again as a new event; only accepted ones are owed), and every subscriber
 *   gets every accepted event exactly once and in order per channel, or a `herald:gap` for that
 *   channel (a replica may lack the last writes its master acknowledged). Once with the replica in
 *   step, once with the replica held behind (SIGSTOP until the master holds acknowledged writes it
 *   could not send yet, so the failover surely loses some), and once more with the publishing
 *   instance replaced at the kill and publishes waiting for a replica (`replicas: 1`), the replica
 *   held a second longer (so that the watched channels' refused publishes are among the lost
 *   writes): what the new publisher, which never saw the lost positions, publishes before a process
 *   that saw them starts the partition's new epoch is left out of it, its channels' clients are told
 *   a gap, and then new events reach every client. (When the log lost writes, what is published
 *   on its partitions right after the failover, before the new epoch is noticed, may be among what
 *   the gap covers: a resume after an epoch gap starts at the new epoch's head.)
 *
 * The brokers are given `partitions: 32` explicitly (the default with `cluster`, issue 23): each
 * master holds about a third of the partitions, and a failover touches only its partitions.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { EventSource } from "eventsource";
import { RedisBroker } from "../../src/brokers/redis.js";
import { createHerald, type Herald } from "../../src/server/index.js";
import { createHeraldClient } from "../../src/client/index.js";
import { watch as watchOn, type Watcher } from "../watcher.js";
import { startServer, waitFor } from "../helpers.js";
import { resumeUnderCuts } from "../contract/resume-under-cuts.js";
import { command, info, type TestCluster } from "./cluster-server.js";
import { useCluster } from "./fixture.js";

const PARTITIONS = 32;
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "herald-cluster-process.ts");

const fx = useCluster({ replicas: 1 });
const { heralds, cleanups } = fx;
const children: ChildProcess[] = [];
let prefixCount = 0;
// The Herald processes a test started (its cleanups and Heralds are the fixture's).
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function broker(prefix: string, replicas = 0): RedisBroker {
  return new RedisBroker({
    cluster: { nodes: fx.cluster.nodes },
    prefix,
    partitions: PARTITIONS,
    replicas,
    replicaTimeoutMs: 500,
    onError: () => {}, // connection errors while a node is down; ioredis reconnects
  });
}

function instance(prefix: string, replicas = 0): Herald {
  // Dozens of reconnects from one address: lift the per-IP limits, as resume.test.ts does.
  const herald = createHerald({
    broker: broker(prefix, replicas),
    limits: { connectPerIp: false, maxConnectionsPerIp: false },
  });
  heralds.push(herald);
  return herald;
}

/** {@link watchOn} with this file's cleanups. */
const watch = (url: string, channels: readonly string[], EventSourceClass?: typeof EventSource) =>
  watchOn(url, channels, cleanups, EventSourceClass);

/** A Herald process on the Cluster (herald-cluster-process.ts); resolves with it and its URL. */
function heraldProcess(prefix: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", CHILD, JSON.stringify(fx.cluster.nodes), prefix, String(PARTITIONS)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
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

/** The master (of those up) holding most of the keys whose name holds `prefix`, and those keys. */
function busiestMaster(prefix: string): { port: number; keys: string[] } {
  let best = { port: 0, keys: [] as string[] };
  for (const port of fx.cluster.masters()) {
    const keys = command(port, "--scan", "--pattern", `*${prefix}*`).split("\n").filter(Boolean);
    if (keys.length > best.keys.length) best = { port, keys };
  }
  if (best.port === 0) throw new Error(`no master holds a key of ${prefix}`);
  return best;
}

describe("Redis Cluster with replicas (3 masters + 3 replicas)", () => {
  it("keeps the resume contract on 16 channels across two instances: cuts at random, nothing lost or doubled", async () => {
    const prefix = `fr${++prefixCount}`;
    const publisher = instance(prefix);
    const subscribed = instance(prefix);
    expect(publisher.broker.partitions).toBe(PARTITIONS);
    const server = await startServer(subscribed);
    cleanups.push(() => server.close());
    let connections = 0;
    server.server.on("connection", () => connections++);
    const cuts = await resumeUnderCuts(
      {
        publish: (channel, data) => publisher.publish(channel, "tick", data),
        client: (random) => {
          const client = createHeraldClient({
            url: `${server.url}?`,
            EventSource: EventSource as never,
            backoff: { baseMs: 5, capMs: 40 },
            random,
            onlineTarget: null,
          });
          cleanups.push(() => client.close());
          return client;
        },
        sockets: () => server.sockets,
        connections: () => connections,
      },
      {
        subscribers: 12,
        channels: Array.from({ length: 16 }, (_, i) => `room-${i}`),
        total: 2400,
        cutChance: 1 / 80,
        minCuts: 10,
        seed: 23,
      },
    );
    expect(cuts).toBeGreaterThanOrEqual(10);
  }, 100_000);

  it("a Herald process killed mid-stream: its clients resume on another process, once each, in order, no gap", async () => {
    const prefix = `fk${++prefixCount}`;
    const [a, b] = await Promise.all([heraldProcess(prefix), heraldProcess(prefix)]);
    const publisher = instance(prefix);
    const target = { url: a.url };
    const origin = a.url;
    class Switching extends EventSource {
      constructor(url: string | URL, init?: { withCredentials?: boolean }) {
        super(String(url).replace(origin, target.url), init);
      }
    }
    const channels = Array.from({ length: 8 }, (_, i) => `k-${i}`);
    const watchers = Array.from({ length: 8 }, () => watch(origin, channels, Switching));
    await waitFor(() => watchers.every((w) => w.client.state === "connected"), 30_000, "connected to A");

    const counts = new Map(channels.map((c) => [c, 0]));
    const TOTAL = 800;
    for (let i = 0; i < TOTAL; i++) {
      const channel = channels[i % channels.length]!;
      const n = counts.get(channel)!;
      counts.set(channel, n + 1);
      await publisher.publish(channel, "tick", { n });
      if (i === 250) {
        a.child.kill("SIGKILL"); // mid-stream: no goodbye, sockets reset
        target.url = b.url; // the next connections go to B, with each client's cursor
      }
      if (i % 10 === 0) await sleep(5);
    }
    await waitFor(
      () => watchers.every((w) => [...w.received].every(([channel, list]) => list.length >= counts.get(channel)!)),
      30_000,
      "every client to hold every event",
    ).catch(() => {});
    for (const w of watchers) {
      for (const [channel, list] of w.received) {
        expect(list, channel).toEqual(Array.from({ length: counts.get(channel)! }, (_, n) => n));
      }
    }
    expect(watchers.flatMap((w) => w.gaps)).toEqual([]);
    expect(a.child.signalCode).toBe("SIGKILL");
    expect(watchers.every((w) => w.reconnects >= 1)).toBe(true);
  }, 100_000);

  it.each<[string, boolean, boolean]>([
    ["with its replica in step", false, false],
    ["with its replica held behind (acknowledged writes lost)", true, false],
    // Only the publishing instance saw what the failover lost, when the old master's bus messages
    // went down with it: with the instance gone, nobody could tell those events from never
    // published ones. Publishes that wait for a replica (`replicas: 1`) are not accepted until the
    // replica holds them, so none of the old publisher's accepted ones can be lost.
    [
      "with its replica held behind, the publishing instance replaced at the kill, publishes waiting for a replica",
      true,
      true,
    ],
  ])(
    "a master killed mid-stream %s, its replica promoted: every accepted event once and in order per channel, or a gap",
    async (_, lagging, replaced) => {
      const prefix = `ff${++prefixCount}`;
      const channels = Array.from({ length: 12 }, (_, i) => `feed-${i}`);
      const replicas = replaced ? 1 : 0;
      let publisher = instance(prefix, replicas);
      const subscribed = instance(prefix);
      const server = await startServer(subscribed);
      cleanups.push(() => server.close());
      const watchers = Array.from({ length: 8 }, () => watch(server.url, channels));
      await waitFor(() => watchers.every((w) => w.client.state === "connected"), 30_000, "every client connected");

      // One publishing loop per channel, one publish at a time: each attempt is a new `n` (so a
      // retried publish is a new event), and `accepted` holds the ones Herald accepted, in order.
      const state = new Map(
        channels.map((c) => [
          c,
          { next: 0, accepted: [] as number[], failed: [] as number[], tailFrom: Infinity, settledFrom: Infinity },
        ]),
      );
      let stopping = false;
      let errors = 0;
      const loops = channels.map(async (channel) => {
        const s = state.get(channel)!;
        while (!stopping) {
          const n = s.next++;
          try {
            await publisher.publish(channel, "tick", { n });
            s.accepted.push(n);
          } catch {
            s.failed.push(n); // not accepted: never owed (it may still have been written)
            errors++;
            await sleep(50);
          }
          await sleep(10);
        }
      });
      const allAccepted = (atLeast: (c: string) => number) =>
        channels.every((c) => state.get(c)!.accepted.length >= atLeast(c));
      await waitFor(() => allAccepted(() => 20), 30_000, "20 accepted events per channel");

      const victim = busiestMaster(prefix);
      const replica = fx.cluster.replicaOf(victim.port);
      expect(replica).toBeDefined();
      let hold: ReturnType<TestCluster["holdReplica"]> | undefined;
      let holdMs = 0;
      if (lagging) {
        // Ballast: large events on channels no one follows whose log is on the victim, published
        // while the replica is held, until the master has written more than the replica and the
        // socket buffers between them hold: a kill then loses acknowledged writes, the watched
        // channels' last events among them.
        // (From an instance of its own that does not wait for replicas: the held replica confirms nothing.)
        const ballastPublisher = replicas > 0 ? instance(prefix) : publisher;
        const candidates = Array.from({ length: 48 }, (_, i) => `ballast-${i}`);
        await Promise.all(candidates.map((c) => ballastPublisher.publish(c, "ballast", {})));
        const onVictim = new Set(
          command(victim.port, "--scan", "--pattern", `*${prefix}*:log:ballast-*`)
            .split("\n")
            .map((key) => key.slice(key.lastIndexOf(":") + 1)),
        );
        const ballast = candidates.filter((c) => onVictim.has(c));
        expect(ballast.length).toBeGreaterThan(0);
        const PAD = "x".repeat(32 * 1024);
        const t0 = Date.now();
        hold = fx.cluster.holdReplica(victim.port);
        let held = true;
        const lanes = Array.from({ length: 8 }, async (_, lane) => {
          for (let i = lane; held; i += 8)
            await ballastPublisher.publish(ballast[i % ballast.length]!, "ballast", { PAD }).catch(() => {});
        });
        await waitFor(() => hold!.behind() > 256 * 1024, 30_000, "the replica 256 KiB behind");
        // With the publisher replaced, a hold long enough that the watched channels' publishes
        // meanwhile (refused: no replica confirms them, yet written and sent live) are among the
        // writes the failover loses, as on a busy machine.
        if (replaced) await sleep(1000);
        held = false;
        await Promise.all(lanes);
        holdMs = Date.now() - t0;
      }
      const acceptedAtKill = [...state.values()].reduce((a, s) => a + s.accepted.length, 0);
      const offsetAtKill = Number(info(victim.port, "replication").master_repl_offset);
      const failingOver = fx.cluster.failover(victim.port); // SIGKILL sent now
      hold?.release();
      if (replaced) {
        // The instance that published the lost writes goes away with the master: from here on a
        // new one publishes, which never saw them (only the subscribed instance and its clients did).
        const old = publisher;
        heralds.splice(heralds.indexOf(old), 1);
        // (It does not wait for a replica: the promoted master has none until the old one rejoins.)
        publisher = instance(prefix);
        void old.close().catch(() => {});
      }
      const promoted = await failingOver;
      // What the promoted replica lacks of the dead master's replication stream.
      const lostBytes = offsetAtKill - (Number(info(promoted, "replication").second_repl_offset) - 1);
      if (lagging) expect(lostBytes, "the failover lost acknowledged writes").toBeGreaterThan(0);
      // Attempts from now on start after the failover: owed whatever gap a channel was told.
      for (const s of state.values()) s.tailFrom = s.next;
      const acceptedAfter = (c: string) => state.get(c)!.accepted.filter((n) => n >= state.get(c)!.tailFrom).length;
      await waitFor(
        () => channels.every((c) => acceptedAfter(c) >= 20),
        60_000,
        "20 more accepted events per channel after the failover",
      );
      stopping = true;
      await Promise.all(loops);
      if (lagging) {
        // What is published on a partition whose log lost writes, before the process that saw the
        // lost positions starts its new epoch (a publisher that never saw them numbers them again
        // in the old epoch) or before its clients resume in the new epoch, may be among what their
        // gap covers (RedisBroker's "Lost writes"). Then events flow again: publish on each
        // channel until every client holds one published now.
        for (const channel of channels) {
          const s = state.get(channel)!;
          let last = -1;
          const arrived = () => last >= 0 && watchers.every((w) => w.received.get(channel)!.includes(last));
          const end = Date.now() + 30_000;
          while (!arrived()) {
            if (Date.now() > end) throw new Error(`no new event on ${channel} reached every client`);
            const n = s.next++;
            try {
              await publisher.publish(channel, "tick", { n });
              s.accepted.push(n);
              last = n;
            } catch {
              s.failed.push(n);
            }
            await waitFor(arrived, 1000).catch(() => {}); // then publish again
          }
          s.settledFrom = last;
        }
      }

      const owed = (w: Watcher, channel: string) => {
        const s = state.get(channel)!;
        const gapped = w.gaps.some((g) => g.channel === channel);
        return s.accepted.filter((n) => !gapped || n >= (lagging ? s.settledFrom : s.tailFrom));
      };
      const complete = () =>
        watchers.every((w) =>
          channels.every((c) => {
            const got = new Set(w.received.get(c));
            return owed(w, c).every((n) => got.has(n));
          }),
        );
      await waitFor(complete, 30_000, "every client to hold every event it is owed").catch(() => {});
      await sleep(200); // a duplicate would have arrived by now

      const problems: string[] = [];
      let unacceptedDelivered = 0;
      let missingWithGap = 0;
      watchers.forEach((w, i) => {
        for (const channel of channels) {
          const s = state.get(channel)!;
          const got = w.received.get(channel)!;
          const accepted = new Set(s.accepted);
          const failed = new Set(s.failed);
          const gapped = w.gaps.some((g) => g.channel === channel);
          const seen = new Set(got);
          const duplicates = got.length - seen.size;
          const unknown = got.filter((n) => !accepted.has(n) && !failed.has(n));
          const acceptedGot = got.filter((n) => accepted.has(n));
          const ordered = acceptedGot.every((n, k) => k === 0 || n > acceptedGot[k - 1]!);
          unacceptedDelivered += got.filter((n) => failed.has(n)).length;
          const missing = s.accepted.filter((n) => !seen.has(n));
          const missingTail = missing.filter((n) => n >= s.tailFrom);
          if (gapped) missingWithGap += missing.length;
          // When the log lost writes, events after the failover may be missing only with a gap
          // told, and only before the channel settled (see above).
          const missingOwed = lagging && gapped ? missing.filter((n) => n >= s.settledFrom) : missingTail;
          if (duplicates > 0 || !ordered || unknown.length > 0 || missingOwed.length > 0 || (missing.length && !gapped))
            problems.push(
              `client ${i} ${channel}: ${missing.length} accepted missing [${missing.slice(0, 8).join(",")}` +
                `${missing.length > 8 ? ",…" : ""}] (${missingTail.length} after the failover)` +
                `${gapped ? ` (gap told: ${w.gaps.filter((g) => g.channel === channel).map((g) => g.reason)})` : ", no gap"}, ` +
                `${duplicates} duplicates, ${ordered ? "in order" : "OUT OF ORDER"}, ${unknown.length} never published, ` +
                `${got.length} received of ${s.accepted.length} accepted, tail from ${s.tailFrom}`,
            );
        }
      });
      const summary =
        `victim ${victim.port} (${victim.keys.length} keys), promoted ${promoted}; ${acceptedAtKill} accepted before the kill` +
        `, ${lostBytes} B of the replication stream lost${lagging ? ` (replica held ${holdMs} ms)` : ""}; ${errors} failed publishes; ` +
        `${unacceptedDelivered} deliveries of unaccepted publishes; ${missingWithGap} accepted events missed with a gap told; gaps: ${watchers.reduce((a, w) => a + w.gaps.length, 0)} ` +
        `(${[...new Set(watchers.flatMap((w) => w.gaps.map((g) => `${g.channel}:${g.reason}`)))].join(" ")})`;
      if (process.env.FAILOVER_VERBOSE) console.log(summary);
      expect(problems, summary).toEqual([]);
      // The failover happened under the stream.
      expect(fx.cluster.masters()).not.toContain(victim.port);
      // Bring the old master back as the new one's replica, for what comes next.
      await fx.cluster.rejoin(victim.port);
    },
    110_000,
  );
});
