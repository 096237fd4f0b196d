/**
 * Issue 23: live delivery and catch-up keep their guarantees when a slot moves.
 *
 * A real three-master Redis Cluster (started here), two Herald instances on `RedisBroker` with
 * `cluster` and `partitions: 32`, each serving SSE over real HTTP, SSE clients (Herald's client on
 * the `eventsource` package) on both, following channels of three partitions that live on one
 * master (and one control partition elsewhere). While every channel is published steadily (each
 * attempt a new event; a failed publish is tried again as a new one, only accepted ones are owed),
 * the slots of two of those partitions move to the two other masters, the way `redis-cli --cluster
 * reshard` moves a slot: SETSLOT IMPORTING / MIGRATING, the slot's keys MIGRATEd (in two halves,
 * publishes running against the half-migrated slot and against the fully migrated one still owned
 * by its source), then SETSLOT NODE on every master.
 *
 * Checked: every accepted event reaches every client exactly once and in order per channel (or the
 * channel was told `herald:gap`), nothing unknown arrives, events published after the moves arrive
 * live (no reconnect in any client), and each moved channel's bus is subscribed, over sharded
 * pub/sub, on its slot's new master by both instances (PUBSUB SHARDNUMSUB).
 *
 * The scenario runs once, in the first test, which checks no duplicate, order kept, nothing unknown,
 * no reconnect, and every accepted event of the partitions that did not move. The second checks the
 * moved partitions' channels and their subscription on the new masters; it only reads what the
 * first recorded (a scenario that could not run fails the first test, not the second).
 *
 * `SLOT_MOVE_SEED` picks other partitions, targets and channels (default 23); `SLOT_MOVE_VERBOSE=1`
 * prints the run's summary and what the moved channels' clients missed.
 */
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { RedisBroker } from "../../src/brokers/redis.js";
import { partitionLayout } from "../../src/brokers/redis/layout.js";
import { partitionOf } from "../../src/protocol/partition.js";
import { createHerald, type Herald } from "../../src/server/index.js";
import { watch as watchOn, type Watcher } from "../watcher.js";
import { prng, startServer, waitFor } from "../helpers.js";
import { useCluster } from "./fixture.js";

const PARTITIONS = 32;
const SEED = Number(process.env.SLOT_MOVE_SEED ?? 23);

const fx = useCluster();
const { heralds, cleanups } = fx;
let prefixCount = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function instance(prefix: string): Herald {
  const broker = new RedisBroker({
    cluster: { nodes: fx.cluster.nodes },
    prefix,
    partitions: PARTITIONS,
    onError: () => {},
  });
  const quiet = () => {}; // publishes refused while a slot moves are expected: not logged
  const herald = createHerald({
    broker,
    limits: { connectPerIp: false, maxConnectionsPerIp: false },
    logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  });
  heralds.push(herald);
  return herald;
}

/** {@link watchOn} with this file's cleanups. */
const watch = (url: string, channels: readonly string[]) => watchOn(url, channels, cleanups);

/** A node of the Cluster, with an admin connection of its own. */
interface Node {
  readonly port: number;
  readonly id: string;
  readonly redis: Redis;
}

/** One line of CLUSTER NODES: the node's port and the slots it serves (ranges; migrating marks left out). */
function parseNodes(text: string): { port: number; myself: boolean; master: boolean; slots: [number, number][] }[] {
  return text
    .split("\n")
    .map((line) => line.trim().split(" "))
    .filter((parts) => parts.length >= 8)
    .map((parts) => ({
      port: Number(/:(\d+)@/.exec(parts[1]!)?.[1]),
      myself: parts[2]!.includes("myself"),
      master: parts[2]!.includes("master"),
      slots: parts
        .slice(8)
        .filter((range) => !range.startsWith("["))
        .map((range) => {
          const [from, to] = range.split("-").map(Number);
          return [from!, to ?? from!] as [number, number];
        }),
    }));
}

async function adminNodes(): Promise<Node[]> {
  const nodes = await Promise.all(
    fx.cluster.ports.map(async (port) => {
      const redis = new Redis({ port, host: "127.0.0.1" });
      const id = (await redis.cluster("MYID")) as string;
      return { port, id, redis };
    }),
  );
  cleanups.push(() => Promise.all(nodes.map((n) => n.redis.quit())));
  return nodes;
}

/** The master that says it serves `slot` (asked of each node, about itself). */
async function ownerOfSlot(nodes: readonly Node[], slot: number): Promise<Node> {
  for (const node of nodes) {
    const self = parseNodes((await node.redis.cluster("NODES")) as string).find((n) => n.myself);
    if (self?.master && self.slots.some(([a, b]) => slot >= a && slot <= b)) return node;
  }
  throw new Error(`no master serves slot ${slot}`);
}

/** Whether every node sees `slot` served by node `port` (and by no other). */
async function allAgree(nodes: readonly Node[], slot: number, port: number): Promise<boolean> {
  for (const node of nodes) {
    const seen = parseNodes((await node.redis.cluster("NODES")) as string);
    const owners = seen.filter((n) => n.slots.some(([a, b]) => slot >= a && slot <= b)).map((n) => n.port);
    if (owners.length !== 1 || owners[0] !== port) return false;
  }
  return true;
}

async function until(ok: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Moves `slot` from master `from` to master `to` as `redis-cli --cluster reshard` does: IMPORTING
 * on the target, MIGRATING on the source, its keys MIGRATEd, then SETSLOT NODE on the target, the
 * source and the other masters; resolves once every node sees the target serving it. `halfway` runs
 * when half of the keys have moved (publishes then meet TRYAGAIN), `migrated` when all have and the
 * source still owns the slot (publishes then are redirected to the target with ASK, which refuses
 * them with TRYAGAIN too: the scripts name the partition's `base` key, which exists only after lost
 * writes). So a partition takes no publish from SETSLOT MIGRATING to SETSLOT NODE: ioredis retries
 * TRYAGAIN for about 1.6 s, then the publish fails (not accepted). Resolves with the keys moved.
 */
async function moveSlot(
  nodes: readonly Node[],
  slot: number,
  from: Node,
  to: Node,
  hooks: { halfway?: () => Promise<void>; migrated?: () => Promise<void> } = {},
): Promise<string[]> {
  await to.redis.cluster("SETSLOT", slot, "IMPORTING", from.id);
  await from.redis.cluster("SETSLOT", slot, "MIGRATING", to.id);
  const moved: string[] = [];
  const migrate = async (keys: string[]) => {
    if (keys.length === 0) return;
    await from.redis.migrate("127.0.0.1", to.port, "", 0, 10_000, "KEYS", ...keys);
    moved.push(...keys);
  };
  const first = (await from.redis.cluster("GETKEYSINSLOT", slot, 1000)) as string[];
  await migrate(first.slice(0, Math.ceil(first.length / 2)));
  await hooks.halfway?.();
  // The rest, and any key a publish created meanwhile.
  for (;;) {
    const keys = (await from.redis.cluster("GETKEYSINSLOT", slot, 1000)) as string[];
    if (keys.length === 0) break;
    await migrate(keys);
  }
  await hooks.migrated?.();
  // Keys written on the source after the last GETKEYSINSLOT? None: a script finding any key missing
  // there is redirected (ASK) or refused (TRYAGAIN), so once the slot is empty it stays empty.
  await to.redis.cluster("SETSLOT", slot, "NODE", to.id);
  await from.redis.cluster("SETSLOT", slot, "NODE", to.id);
  for (const node of nodes)
    if (node !== to && node !== from) await node.redis.cluster("SETSLOT", slot, "NODE", to.id).catch(() => {});
  await until(() => allAgree(nodes, slot, to.port), 15_000, `every node to see slot ${slot} on ${to.port}`);
  return moved;
}

/** Shard channel subscriptions held by sharded subscriber connections on each node (`ssub=` of CLIENT LIST). */
async function shardSubscriptions(nodes: readonly Node[]): Promise<string> {
  const counts = await Promise.all(
    nodes.map(async (node) => {
      const list = (await node.redis.client("LIST", "TYPE", "pubsub")) as string;
      let total = 0;
      for (const match of list.matchAll(/\bssub=(\d+)/g)) total += Number(match[1]);
      return `${node.port}: ${total}`;
    }),
  );
  return counts.join(", ");
}

/**
 * Resolves once `herald`'s RedisBroker has no catch-up scheduled or running (its private
 * `catchUpTimer`, `pending` and `catchingUp`; throws if they are gone, so a rename is noticed).
 */
async function settled(herald: Herald): Promise<void> {
  const broker = herald.broker as unknown as {
    catchUpTimer: unknown;
    pending: unknown;
    catchingUp: unknown;
  };
  const { pending } = broker;
  if (!(pending instanceof Set) || !(broker.catchingUp instanceof Promise))
    throw new Error("RedisBroker's catch-up fields changed: update settled()");
  await waitFor(() => broker.catchUpTimer === undefined && pending.size === 0, 10_000, "no catch-up scheduled");
  await broker.catchingUp;
}

/** What one run of the scenario saw, for the checks. */
interface Outcome {
  readonly summary: string;
  readonly channels: readonly string[];
  /** The channels of the partitions that moved. */
  readonly moved: ReadonlySet<string>;
  readonly watchers: readonly Watcher[];
  readonly state: ReadonlyMap<string, { accepted: number[]; failed: number[]; tailFrom: number }>;
  /** Per moved channel: the new master's port and its PUBSUB SHARDNUMSUB count for the channel's bus. */
  readonly shardNumSub: ReadonlyMap<string, { port: number; count: number }>;
}

/** Per client and channel: what is missing, doubled, out of order or unknown (empty when none). */
function problemsOf(outcome: Outcome, channels: readonly string[]): string[] {
  const problems: string[] = [];
  outcome.watchers.forEach((w, i) => {
    for (const channel of channels) {
      const s = outcome.state.get(channel)!;
      const got = w.received.get(channel)!;
      const accepted = new Set(s.accepted);
      const failed = new Set(s.failed);
      const gapped = w.gaps.some((g) => g.channel === channel);
      const seen = new Set(got);
      const duplicates = got.length - seen.size;
      const unknown = got.filter((n) => !accepted.has(n) && !failed.has(n));
      const ordered = got.every((n, k) => k === 0 || n > got[k - 1]!);
      const missing = s.accepted.filter((n) => !seen.has(n));
      // A gap excuses what was published before the moves ended, never what came after.
      const missingTail = missing.filter((n) => n >= s.tailFrom);
      if (duplicates > 0 || !ordered || unknown.length > 0 || missingTail.length > 0 || (missing.length && !gapped))
        problems.push(
          `client ${i} (instance ${i % 2 ? "B" : "A"}) ${channel}${outcome.moved.has(channel) ? " (moved)" : ""}: ` +
            `${missing.length} accepted missing [${missing.slice(0, 6).join(",")}${missing.length > 6 ? ",…" : ""}]` +
            ` (${missingTail.length} published after the moves)${gapped ? " (gap told)" : ", no gap"}, ` +
            `${duplicates} duplicates, ${ordered ? "in order" : "OUT OF ORDER"}, ${unknown.length} never published, ` +
            `${got.length} received of ${s.accepted.length} accepted, moves ended before #${s.tailFrom}`,
        );
    }
  });
  return problems;
}

/**
 * The scenario (see the file's comment). Resolves with what every client received; throws only
 * when the scenario itself could not run (a move that did not happen, publishes not accepted after
 * the moves, a client that never connected).
 */
async function slotMoveScenario(seed: number): Promise<Outcome> {
  const random = prng(seed);
  const prefix = `sm${++prefixCount}`;
  const nodes = await adminNodes();
  const layout = partitionLayout(prefix, PARTITIONS);
  const ownerOf = new Map<number, Node>();
  for (let p = 0; p < PARTITIONS; p++) ownerOf.set(p, await ownerOfSlot(nodes, layout[p]!.slot));
  const shuffle = <T>(list: readonly T[]) =>
    list
      .map((x) => [random(), x] as const)
      .sort((x, y) => x[0] - y[0])
      .map(([, x]) => x);
  const source = nodes[Math.floor(random() * nodes.length)]!;
  const targets = shuffle(nodes.filter((n) => n !== source));
  // Two partitions of the source move, one to each other master; a third stays; a control elsewhere.
  const [movedA, movedB, stays] = shuffle([...ownerOf].filter(([, n]) => n === source).map(([p]) => p)) as [
    number,
    number,
    number,
  ];
  const control = shuffle([...ownerOf].filter(([, n]) => n !== source).map(([p]) => p))[0]!;
  const moves = [
    { partition: movedA, to: targets[0]! },
    { partition: movedB, to: targets[1]! },
  ];
  // Two channels in each of these partitions.
  const wanted = new Map([movedA, movedB, stays, control].map((p) => [p, 0]));
  const channels: string[] = [];
  const first = Math.floor(random() * 1e6);
  for (let i = first; channels.length < 2 * wanted.size; i++) {
    const p = partitionOf(`sm-${i}`, PARTITIONS);
    if (wanted.has(p) && wanted.get(p)! < 2) {
      wanted.set(p, wanted.get(p)! + 1);
      channels.push(`sm-${i}`);
    }
  }
  const partitionOfChannel = (c: string) => partitionOf(c, PARTITIONS);
  const moved = new Set(channels.filter((c) => partitionOfChannel(c) === movedA || partitionOfChannel(c) === movedB));

  const a = instance(prefix);
  const b = instance(prefix);
  const servers = await Promise.all([startServer(a), startServer(b)]);
  for (const server of servers) cleanups.push(() => server.close());
  // Three clients on each instance, each on every channel.
  const watchers = [0, 1, 2, 3, 4, 5].map((i) => watch(servers[i % 2]!.url, channels));
  await waitFor(() => watchers.every((w) => w.client.state === "connected"), 20_000, "every client connected");

  // One publishing loop per channel, one publish at a time, alternating between the instances:
  // each attempt is a new `n`; `accepted` holds those Herald accepted, in order.
  const state = new Map(
    channels.map((c) => [c, { next: 0, accepted: [] as number[], failed: [] as number[], tailFrom: Infinity }]),
  );
  const errors = new Map<string, number>();
  let stopping = false;
  const publishOnce = async (channel: string) => {
    const s = state.get(channel)!;
    const n = s.next++;
    try {
      await (n % 2 ? b : a).publish(channel, "tick", { n });
      s.accepted.push(n);
    } catch (error) {
      s.failed.push(n); // not accepted: never owed (its script may still have run)
      const message = (error as Error).message.replace(/\d+/g, "#");
      errors.set(message, (errors.get(message) ?? 0) + 1);
    }
  };
  const loops = channels.map(async (channel) => {
    while (!stopping) {
      await publishOnce(channel);
      await sleep(10);
    }
  });
  const stop = async () => {
    stopping = true;
    await Promise.all(loops);
  };
  cleanups.push(stop); // a step that throws stops the loops too
  await waitFor(() => channels.every((c) => state.get(c)!.accepted.length >= 10), 20_000, "10 accepted per channel");
  // Both brokers at rest before the moves: a start-up catch-up still running would resubscribe a
  // moved bus by chance (its SSUBSCRIBE, sent to the old master, answered MOVED, makes ioredis
  // refresh its slot map), hiding what the move itself does.
  await Promise.all([a, b].map(settled));

  const subscriptionsBefore = await shardSubscriptions(nodes);
  const movedKeys: number[] = [];
  for (const { partition, to } of moves) {
    const { slot, tag } = layout[partition]!;
    // An attempt of the partition started at the hook's call has completed (accepted or refused).
    const oneAttempt = (what: string) => () => {
      // Attempt `next` of a channel starts after this call; it has completed once `next + 1` started.
      const mine = channels.filter((c) => partitionOfChannel(c) === partition);
      const from = new Map(mine.map((c) => [c, state.get(c)!.next]));
      return waitFor(() => mine.some((c) => state.get(c)!.next >= from.get(c)! + 2), 10_000, what);
    };
    const keys = await moveSlot(nodes, slot, source, to, {
      halfway: oneAttempt("a publish against the half-moved slot"),
      // The slot's keys all on the target, the source still its owner: a publish is sent to the
      // target (ASK), where it finds some of its keys missing (`base` exists only after lost
      // writes): refused (TRYAGAIN), never half done.
      migrated: oneAttempt("a publish against the migrated slot"),
    });
    expect(keys.some((k) => k.startsWith(`${tag}:log:`))).toBe(true);
    expect((await ownerOfSlot(nodes, slot)).port).toBe(to.port);
    movedKeys.push(keys.length);
  }
  const movesEnded = Date.now();
  // Attempts from now on start after both moves.
  for (const s of state.values()) s.tailFrom = s.next;
  await waitFor(
    () => channels.every((c) => state.get(c)!.accepted.filter((n) => n >= state.get(c)!.tailFrom).length >= 20),
    20_000,
    "20 accepted per channel after the moves",
  );
  await stop();
  // A last event on every channel (accepted: owed like the others): once it is in, anything the
  // log's catch-up would deliver twice has had its chance to.
  await Promise.all(channels.map(publishOnce));

  const owed = (w: Watcher, channel: string) => {
    const s = state.get(channel)!;
    const gapped = w.gaps.some((g) => g.channel === channel);
    return s.accepted.filter((n) => !gapped || n >= s.tailFrom);
  };
  const complete = () =>
    watchers.every((w) =>
      channels.every((c) => {
        const got = new Set(w.received.get(c));
        return owed(w, c).every((n) => got.has(n));
      }),
    );
  // The sharded subscriber follows each moved slot: both instances subscribe each moved channel's
  // bus on the slot's new master.
  const shardNumSub = new Map<string, { port: number; count: number }>();
  const subscribedOnNewOwners = async () => {
    for (const { partition, to } of moves)
      for (const c of channels.filter((x) => partitionOfChannel(x) === partition)) {
        const bus = `${layout[partition]!.tag}:bus:${c}`;
        const [, count] = (await to.redis.pubsub("SHARDNUMSUB", bus)) as [string, number];
        shardNumSub.set(c, { port: to.port, count });
      }
    return [...shardNumSub.values()].every(({ count }) => count === 2);
  };
  await Promise.all([
    waitFor(complete, 10_000, "every client to hold every event it is owed").catch(() => {}),
    until(subscribedOnNewOwners, 10_000, "the moved buses subscribed on their new masters").catch(() => {}),
  ]);

  const total = (pick: (s: { accepted: number[]; failed: number[] }) => number) =>
    [...state.values()].reduce((sum, s) => sum + pick(s), 0);
  const summary =
    `seed ${seed}, prefix ${prefix}, source master ${source.port}: partition ${movedA} (slot ${layout[movedA]!.slot}, ` +
    `${movedKeys[0]} keys) moved to ${moves[0]!.to.port}, partition ${movedB} (slot ${layout[movedB]!.slot}, ` +
    `${movedKeys[1]} keys) to ${moves[1]!.to.port}; partition ${stays} stayed, control partition ${control} on ` +
    `${ownerOf.get(control)!.port}; channels ${channels.map((c) => `${c}:p${partitionOfChannel(c)}`).join(" ")}; ` +
    `checked ${Date.now() - movesEnded} ms after the moves; ${total((s) => s.accepted.length)} publishes accepted, ` +
    `${total((s) => s.failed.length)} refused (${[...errors].map(([m, k]) => `${k}× ${m}`).join("; ")}); ` +
    `gaps told: ${watchers.reduce((sum, w) => sum + w.gaps.length, 0)}; reconnects: ${watchers.map((w) => w.reconnects).join(",")}; ` +
    `shard subscriptions per node before the moves ${subscriptionsBefore}, after ${await shardSubscriptions(nodes)}; ` +
    `SHARDNUMSUB on the new owners: ${[...shardNumSub].map(([c, { port, count }]) => `${c}@${port}=${count}`).join(" ")}`;
  if (process.env.SLOT_MOVE_VERBOSE) console.log(summary);
  return { summary, channels, moved, watchers, state, shardNumSub };
}

describe("a slot moving between masters (3 masters, 2 Herald instances, partitions: 32)", () => {
  let outcome: Outcome | undefined;

  it("runs the scenario: no duplicate, order kept, nothing unknown, no reconnect, and every accepted event of the partitions that did not move, live", async () => {
    outcome = await slotMoveScenario(SEED);
    const { summary, channels, moved, watchers } = outcome;
    for (const w of watchers) {
      for (const c of channels) {
        const got = w.received.get(c)!;
        const s = outcome.state.get(c)!;
        expect(new Set(got).size, `${c} duplicates; ${summary}`).toBe(got.length);
        expect(got, `${c} out of order; ${summary}`).toEqual([...got].sort((x, y) => x - y));
        const known = new Set([...s.accepted, ...s.failed]);
        expect(
          got.filter((n) => !known.has(n)),
          `${c}: never published; ${summary}`,
        ).toEqual([]);
      }
    }
    expect(
      problemsOf(
        outcome,
        channels.filter((c) => !moved.has(c)),
      ),
      summary,
    ).toEqual([]);
    // Live: no client reconnected (what reached it came over its open stream).
    expect(
      watchers.map((w) => w.reconnects),
      summary,
    ).toEqual(watchers.map(() => 0));
  }, 60_000);

  // At `CLUSTER SETSLOT <slot> NODE <target>` the old master drops its shard channel subscriptions of
  // the slot and tells each subscriber with a `sunsubscribe <bus> <count>` push, which ioredis 5
  // reports as a sharded subscriber's `nodeError`. Before RedisBroker listened to it (refreshing the
  // slot map and catching up from the log), the moved partitions' channels got no live event after
  // the move and no `herald:gap` (SHARDNUMSUB 0 on the new masters, every seed tried): this test
  // failed for that reason.
  it("every accepted event of the moved partitions reaches every client once and in order (or a gap), live after the moves; each moved bus is subscribed on its new master", () => {
    expect(outcome, "the scenario ran").toBeDefined();
    const { summary, channels, moved, shardNumSub } = outcome!;
    const problems = problemsOf(
      outcome!,
      channels.filter((c) => moved.has(c)),
    );
    if (process.env.SLOT_MOVE_VERBOSE) console.log(problems.join("\n"));
    expect(problems, summary).toEqual([]);
    for (const c of moved) expect(shardNumSub.get(c)?.count, `${c}: ${summary}`).toBe(2);
  });
});
