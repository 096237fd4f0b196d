/**
 * The Redis broker: Redis Streams for the log, Redis pub/sub for the bus. Several Herald processes
 * on one Redis (or one Redis Cluster) share the log's partitions, each with one sequence, so a
 * cursor from one process resumes on another.
 */
import { Cluster, Redis, ReplyError, type ClusterNode, type ClusterOptions, type RedisOptions } from "ioredis";
import { newEpoch } from "../protocol/cursor.js";
import { HeraldError } from "../protocol/errors.js";
import { patternLookup } from "../protocol/channels.js";
import { checkPartitions, partitionOf } from "../protocol/partition.js";
import {
  LATEST_SCRIPT,
  PUBLISH_SCRIPT,
  SHARDED_PUBSUB_VERSION,
  SNAPSHOT_SCRIPT,
  VERSION_SCRIPT,
} from "./redis/scripts.js";
import { partitionLayout, type PartitionKeys } from "./redis/layout.js";
import { decodeMeta, encodeMeta } from "./meta.js";
import type {
  Broker,
  BrokerListener,
  BrokerLossListener,
  BrokerSubscription,
  ChannelRetention,
  EventMeta,
  LatestRead,
  ReadResult,
  Snapshot,
  StoredEvent,
} from "./types.js";

/** Options for {@link RedisBroker}. */
export interface RedisBrokerOptions {
  /** Redis URL, e.g. `redis://localhost:6379` (default: ioredis' default, localhost:6379). */
  url?: string;
  /** ioredis options, applied to both connections (with `url`, they refine it). */
  redis?: RedisOptions;
  /** Prefix of every key and pub/sub channel (default `herald`). */
  prefix?: string;
  /** Events kept per channel (default 1,000). */
  maxEventsPerChannel?: number;
  /** Oldest event kept, in milliseconds (default 5 minutes); idle channels' streams expire after it. */
  maxAgeMs?: number;
  /**
   * Retention per channel name or pattern (one `*`: any characters), over `maxEventsPerChannel`
   * and `maxAgeMs` for the channels it matches (the exact name first, then the pattern with the
   * longest fixed part): `{ "room-*": { maxEvents: 500, maxAgeMs: 7 * 86_400_000 } }`. Every
   * process of one `prefix` must be given the same.
   */
  retention?: Readonly<Record<string, ChannelRetention>>;
  /** Receives connection errors (ioredis reconnects on its own; commands reject meanwhile). */
  onError?: (error: Error) => void;
  /**
   * Partitions of the log: a power of two from 1 to 256 (default 1 on a single Redis, 32 with
   * `cluster`). Each partition has its own sequence and epoch and its keys under a hash tag of its
   * own, so on a Cluster the partitions' writes spread over the masters. With 1, the keys are
   * those of a broker without partitions (`{prefix}:seq`, `{prefix}:log:{channel}`, …). Every
   * process of one `prefix` must be given the same; another count names other keys (a new log).
   */
  partitions?: number;
  /**
   * Replicas that must hold a publish before it is accepted (default 0: accepted once the master
   * wrote it). Redis replicates asynchronously, so a master that fails may take its last
   * acknowledged writes with it; with `replicas: 1` each publish call is followed by `WAIT 1` on the
   * same master, and its publishes reject (`broker_unavailable`) when no replica confirmed within
   * `replicaTimeoutMs`: what was accepted survives a failover. A rejected publish may still be
   * delivered (the master wrote it). Costs a round trip to a replica on every publish call.
   */
  replicas?: number;
  /** How long a publish waits for `replicas`, in ms (default 1,000). */
  replicaTimeoutMs?: number;
  /**
   * Redis Cluster: its start nodes (and ioredis `Cluster` options). Every key of one partition is
   * named `{tag}:…` with the partition's hash tag, so each script touches one slot; with more than
   * one partition the tags' slots spread evenly over the slot range (see `partitions`). `url` and
   * `redis` are ignored with it.
   */
  cluster?: { nodes: ClusterNode[]; options?: ClusterOptions };
}

/** A standalone or Cluster connection (the broker uses only what both offer). */
export type RedisConnection = Redis | Cluster;

type ScriptedRedis = RedisConnection & {
  heraldPublish(...args: (string | number)[]): Promise<[string, string, string]>;
  heraldSnapshot(...args: (string | number)[]): Promise<unknown[]>;
  heraldLatest(...args: (string | number)[]): Promise<[string, string, number, string[]]>;
  heraldVersion(): Promise<number>;
};

/** One channel this process listens to: its listeners and where its live stream is. */
interface ChannelState {
  /** The channel's partition. */
  readonly partition: number;
  readonly listeners: Set<BrokerListener>;
  /** Told when a catch-up finds events the bus missed already removed by retention. */
  readonly lossListeners: Set<BrokerLossListener>;
  ready: Promise<void>;
  /** Epoch (of the channel's partition) and highest seq delivered (or covered by the head at subscribe time). */
  epoch: string | undefined;
  lastSeq: number;
  /** `ts` of the event at `lastSeq` (Infinity when that position came from a head or a loss, not an event). */
  lastTs: number;
  /** Messages held while a catch-up is pending or under way: the event, its epoch, its channel's previous seq. */
  held: Held[] | null;
}

/** One partition of the log, as this process sees it. */
interface PartitionState {
  readonly keys: PartitionKeys;
  /**
   * The latest epoch this process saw of the partition and the highest seq it saw in it (publish
   * answers, heads, live messages): every script is given them, and starts a new epoch when the
   * partition's counter is below (lost writes, see the class comment).
   */
  seenEpoch: string;
  seenSeq: number;
  /**
   * True from when a catch-up of the partition is wanted until it releases: every channel of the
   * partition holds its live messages, including a channel subscribed meanwhile (delivering its
   * messages at once would put them ahead of older ones held on other channels).
   */
  holding: boolean;
  /** Since when live messages are held for a scheduled catch-up (one that retries). */
  holdingSince: number | undefined;
}

type Held = [event: StoredEvent, epoch: string, prev: number];

/** A channel whose missed events retention removed: the highest seq gone. */
type Lost = [channel: string, through: number];

/** A publish waiting for the end of the tick, to be sent with the others of its tick. */
interface PendingPublish {
  readonly partition: number;
  readonly channel: string;
  readonly event: string;
  readonly json: string;
  /** `encodeMeta` of the event's metadata (`""` when none). */
  readonly meta: string;
  readonly resolve: (stored: StoredEvent & { epoch: string }) => void;
  readonly reject: (error: unknown) => void;
}

/** Most events, and most bytes of names and payloads, sent in one tick's publish script calls. */
const MAX_BATCH_EVENTS = 256;
const MAX_BATCH_BYTES = 1 << 20;

/** Longest a catch-up that keeps failing holds live messages before letting them through. */
const MAX_HOLD_MS = 30_000;

/** Longest a catch-up waits for its (re)subscription before it counts as failed (and is retried). */
const LISTEN_TIMEOUT_MS = 5_000;

/**
 * Extra time a stream lives past `maxAgeMs` after its last publish: between half of it and all of
 * it (a publish renews the stream's expiry only once it has run below `maxAgeMs` + half the margin).
 */
const EXPIRY_MARGIN_MS = 60_000;

/**
 * Broker on Redis (ioredis 5), on one Redis or a Redis Cluster.
 *
 * **Partitions.** The log has `partitions` partitions (a channel's is `partitionOf(channel,
 * partitions)`); each has its own epoch, sequence, `last`/`oldest` hashes and its channels' streams,
 * all under one hash tag (redis/layout.ts), so each partition lives on one Cluster slot and the
 * partitions' slots spread evenly over the masters. Positions (`seq`) compare only within a
 * partition.
 *
 * **Publish.** One Lua script assigns the partition's `seq`, appends to the channel's stream with
 * the channel's previous `seq` (capped by count; trimmed by age only when its oldest entry may be
 * too old) and publishes the event on the channel's bus; the publishes made in one tick go out as
 * one script call per partition they touch. Reads (`snapshot` of one partition, `read`, `latest`)
 * are one script each, atomic with the partition's epoch and head.
 *
 * **Bus.** One partition: classic pub/sub (`PUBLISH`/`SUBSCRIBE` on `prefix:bus:{channel}`). More,
 * on Redis 7 or later: sharded pub/sub, the bus channel carrying the partition's tag
 * (`{tag}:bus:{channel}`), so the script publishes with `SPUBLISH` in its own slot and a message
 * travels only within its shard; the subscriber side uses `SSUBSCRIBE` (on a Cluster, ioredis'
 * `shardedSubscribers`: one subscriber connection per master; messages come as `smessage`). The
 * server's version is read once, by a script (`redis.REDIS_VERSION_NUM`, which Redis 7 has); the
 * publish script checks the same (older servers: classic pub/sub on the same tagged names).
 * Each process keeps one subscription per channel, on connections of its own.
 *
 * **Catch-up.** Every `ready` of the subscriber connection, and every change of a Cluster's nodes or
 * sharded subscribers, starts a catch-up of the partitions: hold their live messages, confirm the
 * subscriptions, read each partition's channels past what was delivered in one atomic snapshot per
 * partition, then deliver each partition's snapshot and held messages merged in `seq` order (a
 * subscriber of several channels of a partition skips anything at or below its position in it;
 * the order across partitions does not matter). A live message whose channel's previous seq
 * (`prev`) was never delivered holds its partition and catches it up the same way. A catch-up
 * that fails on a partition (its node is down) holds that partition, up to `MAX_HOLD_MS`, and is
 * retried; the other partitions are released.
 *
 * **Lost writes.** A partition's epoch changes when its counter is lost (Redis restarted without
 * persistence): positions start over and every cursor in the old epoch gets a gap. A failover can
 * lose less: Redis replicates asynchronously, so a promoted replica may lack the last writes, and
 * its counter is then below positions already handed out (to publishers, and live over the bus,
 * which the old master sent before replicating). Reusing those positions in the same epoch would
 * make subscribers drop the new events as repeats. So each process passes every script the highest
 * position it saw in the partition's epoch, and a script that finds the counter below it starts a
 * new epoch beginning after the counter (reads leave out the entries at or below it). What this
 * covers: a process that saw the lost positions (its subscribers had them live, or it published
 * them) starts the new epoch on its next script on that partition: its catch-up after the failover
 * moves its subscriber, or its next publish. Its listeners then take the new epoch (the events up to
 * the base are not read again, so nothing is delivered twice), and cursors in the old epoch get a
 * gap. Until then, publishes from processes that had not seen the lost positions reuse them in the
 * old epoch; a process that delivered the lost ones drops those as repeats, and the new epoch that
 * follows tells its subscribers of a gap. (A catch-up runs a script first, before its
 * subscriptions are back, so the new epoch begins as soon as the promoted master answers; one
 * that finds a partition in another epoch tells its channels' loss listeners at once.) What it does not cover: when no process that saw the lost
 * positions runs a script on the partition again (all of them stopped), cursors past the counter
 * remain in the old epoch: a reader should treat a cursor past its partition's head as a gap (the
 * cursor names writes the log lost).
 */
export class RedisBroker implements Broker {
  /** How many partitions the log has. */
  readonly partitions: number;
  private readonly cmd: ScriptedRedis;
  private readonly sub: RedisConnection;
  private readonly parts: PartitionState[];
  private readonly maxEvents: number;
  private readonly maxAgeMs: number;
  /** A channel's name and retention (maxLen, maxAgeMs), as the scripts take them. */
  private readonly limitsOf: (channel: string) => [string, number, number];
  /** The most events any channel keeps: what a catch-up reads at most per channel. */
  private readonly readLimit: number;
  private readonly channels = new Map<string, ChannelState>();
  /** Catch-ups run one at a time, in order. */
  private catchingUp: Promise<unknown> = Promise.resolve();
  private catchUpTimer: ReturnType<typeof setTimeout> | undefined;
  /** Partitions a scheduled catch-up will run for. */
  private readonly pending = new Set<number>();
  private closed = false;
  private readonly onError: (error: Error) => void;
  /** Whether the bus is sharded pub/sub (read once; `undefined` until then). */
  private busSharded: Promise<boolean> | undefined;
  /** Publishes made this tick, sent together at its end (see `flush`). */
  private batch: PendingPublish[] = [];
  private batchBytes = 0;
  private flushQueued = false;
  private readonly replicas: number;
  private readonly replicaTimeoutMs: number;

  constructor(options: RedisBrokerOptions = {}) {
    const prefix = options.prefix ?? "herald";
    this.partitions = checkPartitions(options.partitions ?? (options.cluster ? 32 : 1));
    this.parts = partitionLayout(prefix, this.partitions).map((keys) => ({
      keys,
      seenEpoch: "",
      seenSeq: 0,
      holding: false,
      holdingSince: undefined,
    }));
    this.replicas = options.replicas ?? 0;
    this.replicaTimeoutMs = options.replicaTimeoutMs ?? 1000;
    this.maxEvents = options.maxEventsPerChannel ?? 1000;
    this.maxAgeMs = options.maxAgeMs ?? 5 * 60_000;
    const retention = options.retention ?? {};
    const retentionOf = patternLookup(retention, "RedisBroker retention");
    this.limitsOf = (channel) => {
      const own = retentionOf(channel);
      return [channel, own?.maxEvents ?? this.maxEvents, own?.maxAgeMs ?? this.maxAgeMs];
    };
    this.readLimit = Math.max(this.maxEvents, ...Object.values(retention).map((r) => r.maxEvents ?? 0));
    const connect = (extra: RedisOptions = {}, sharded = false): RedisConnection => {
      if (options.cluster) {
        const { nodes, options: clusterOptions } = options.cluster;
        return new Cluster(nodes, {
          ...clusterOptions,
          ...(sharded ? { shardedSubscribers: true } : {}),
          redisOptions: { ...clusterOptions?.redisOptions, ...extra },
        });
      }
      const redisOptions = { ...options.redis, ...extra };
      return options.url ? new Redis(options.url, redisOptions) : new Redis(redisOptions);
    };
    this.cmd = connect() as ScriptedRedis;
    // The pub/sub connection runs no ready check. ioredis writes SUBSCRIBE at once while a
    // connection is still handshaking (Redis allows it while loading), so a subscription made in
    // that window put the connection in subscriber mode before the ready check's INFO, which
    // ioredis then refused ("Connection in subscriber mode"); the failed check tore the connection
    // down and reconnected it, and the live messages of that moment were lost. With no INFO on this
    // connection, it only ever carries subscriber commands and `ready` follows the handshake.
    // On a Cluster with partitions, SSUBSCRIBE goes to the master of each channel's slot: ioredis'
    // sharded subscribers (one connection per master); classic SUBSCRIBE keeps its one connection.
    this.sub = connect({ enableReadyCheck: false }, this.partitions > 1);
    this.cmd.defineCommand("heraldPublish", { lua: PUBLISH_SCRIPT });
    this.cmd.defineCommand("heraldSnapshot", { lua: SNAPSHOT_SCRIPT });
    this.cmd.defineCommand("heraldLatest", { lua: LATEST_SCRIPT });
    this.cmd.defineCommand("heraldVersion", { lua: VERSION_SCRIPT, numberOfKeys: 0 });
    const onError = (error: Error) => options.onError?.(error);
    this.onError = onError;
    this.cmd.on("error", onError);
    this.sub.on("error", onError);
    this.sub.on("message", (bus: string, message: string) => this.onMessage(bus, message));
    this.sub.on("smessage", (bus: string, message: string) => this.onMessage(bus, message));
    const all = this.parts.map((_, p) => p);
    // Every `ready`, the first included, re-confirms this process's subscriptions and reads what
    // the log holds past what was delivered: nothing depends on ioredis restoring them by itself.
    this.sub.on("ready", () => {
      this.runCatchUp(all).catch(() => {});
    });
    if (this.sub instanceof Cluster) {
      // A Cluster moves its subscribers to other nodes on its own, and says nothing when it has:
      // every change of a node's connection (and of a sharded subscriber) schedules a catch-up
      // (retried until one succeeds).
      const schedule = () => this.scheduleCatchUp(all);
      for (const event of ["-node", "+node", "node error", "-subscriber", "+subscriber"]) this.sub.on(event, schedule);
      // A slot that moves to another master takes its sharded subscriptions with it: the old master
      // ends them with a `sunsubscribe` nobody asked for, which ioredis reports as a sharded
      // subscriber's `nodeError`, and nothing else refreshes the slot map. So: hold, refresh the map
      // (ioredis subscribes again on the new owner), and catch up from the log.
      const cluster = this.sub;
      this.sub.on("nodeError", () => {
        schedule();
        cluster.refreshSlotsCache();
      });
    }
  }

  /**
   * Whether the bus is sharded pub/sub: partitions, and Redis 7 or later (read once, by a script,
   * as the publish script reads it; a server that refuses the script gets classic pub/sub).
   */
  private sharded(): Promise<boolean> {
    if (this.partitions === 1) return Promise.resolve(false);
    if (!this.busSharded) {
      const read = this.cmd.heraldVersion().then(
        (version) => Number(version) >= SHARDED_PUBSUB_VERSION,
        (error: unknown) => {
          if (error instanceof ReplyError) return false;
          if (this.busSharded === read) this.busSharded = undefined; // not answered: asked again next time
          throw error;
        },
      );
      this.busSharded = read;
    }
    return this.busSharded;
  }

  /** Subscribes to bus channels of one partition (one slot), sharded or classic. */
  private listen(sharded: boolean, buses: string[]): Promise<unknown> {
    return sharded ? this.sub.ssubscribe(...buses) : this.sub.subscribe(...buses);
  }

  /**
   * Runs a catch-up of `partitions` after those already under way; resolves with the partitions
   * it failed on (their error goes to `onError`).
   */
  private runCatchUp(partitions: readonly number[]): Promise<number[]> {
    const run = this.catchingUp.then(() => this.catchUp(partitions));
    this.catchingUp = run.catch(() => {});
    return run.then(({ failed, error }) => {
      if (error !== undefined) this.onError(error instanceof Error ? error : new Error(String(error)));
      return failed;
    });
  }

  private scheduleCatchUp(partitions: Iterable<number>): void {
    if (this.closed) return;
    // Hold live messages from now: a new subscriber may bring messages before the catch-up runs.
    const now = Date.now();
    for (const p of partitions) {
      const part = this.parts[p]!;
      part.holding = true;
      this.pending.add(p);
    }
    for (const state of this.channels.values()) {
      const part = this.parts[state.partition]!;
      if (!this.pending.has(state.partition)) continue;
      part.holdingSince ??= now;
      state.held ??= [];
    }
    if (this.catchUpTimer !== undefined) return;
    this.catchUpTimer = setTimeout(() => {
      this.catchUpTimer = undefined;
      const wanted = [...this.pending];
      this.pending.clear();
      this.runCatchUp(wanted).then(
        (failed) => {
          if (failed.length > 0) this.scheduleCatchUp(failed);
        },
        () => this.scheduleCatchUp(wanted),
      );
    }, 250);
    this.catchUpTimer.unref?.();
  }

  /** The partition's state (throws for a partition the log does not have). */
  private part(partition: number): PartitionState {
    const part = Number.isInteger(partition) ? this.parts[partition] : undefined;
    if (!part) throw new RangeError(`partition must be an integer from 0 to ${this.partitions - 1}, got ${partition}`);
    return part;
  }

  /** Notes that `seq` was seen in the partition's `epoch` (see {@link PartitionState.seenSeq}). */
  private see(partition: number, epoch: string, seq: number): void {
    const part = this.parts[partition]!;
    if (part.seenEpoch !== epoch) {
      part.seenEpoch = epoch;
      part.seenSeq = seq;
    } else if (seq > part.seenSeq) part.seenSeq = seq;
  }

  async epoch(partition = 0): Promise<string> {
    this.part(partition);
    return (await this.query(partition, [], 0, 0)).epoch;
  }

  async head(partition = 0): Promise<number> {
    this.part(partition);
    return (await this.query(partition, [], 0, 0)).head;
  }

  publish(channel: string, event: string, json: string, meta?: EventMeta): Promise<StoredEvent & { epoch: string }> {
    return new Promise((resolve, reject) => {
      const encoded = encodeMeta(meta);
      const partition = partitionOf(channel, this.partitions);
      this.batch.push({ partition, channel, event, json, meta: encoded, resolve, reject });
      this.batchBytes += channel.length + event.length + json.length + encoded.length;
      if (this.batch.length >= MAX_BATCH_EVENTS || this.batchBytes >= MAX_BATCH_BYTES) this.flush();
      else if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => {
          this.flushQueued = false;
          this.flush();
        });
      }
    });
  }

  /**
   * Sends the publishes made since the last flush as one script call per partition they touch:
   * one round trip per partition, and in Redis one epoch check, clock read and INCRBY for all of a
   * partition's. Called at the end of the tick they were made in, when the batch is full, and
   * before any other command (so commands reach Redis in the order they were made).
   */
  private flush(): void {
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    this.batchBytes = 0;
    const byPartition = new Map<number, PendingPublish[]>();
    for (const p of batch) {
      const group = byPartition.get(p.partition);
      if (group) group.push(p);
      else byPartition.set(p.partition, [p]);
    }
    for (const [partition, group] of byPartition) this.send(partition, group);
  }

  /**
   * Runs the publish script (`count` events of `partition`); with `replicas`, followed by `WAIT` in
   * the same pipeline (so on the same master), and rejected when fewer replicas confirmed in time.
   */
  private async publishCall(
    partition: number,
    count: number,
    args: (string | number)[],
  ): Promise<[string, string, string]> {
    if (this.replicas === 0) return this.cmd.heraldPublish(...args);
    const pipeline = this.cmd.pipeline() as unknown as {
      heraldPublish(...args: (string | number)[]): unknown;
      wait(replicas: number, timeout: number): unknown;
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    pipeline.heraldPublish(...args);
    pipeline.wait(this.replicas, this.replicaTimeoutMs);
    const [published, waited] = (await pipeline.exec()) ?? [];
    if (!published || !waited) throw new HeraldError("broker_unavailable", "the publish was not answered");
    if (published[0]) throw published[0];
    const reply = published[1] as [string, string, string];
    if (waited[0] || Number(waited[1]) < this.replicas) {
      // Written on the master all the same: its positions were given out (see `see`).
      this.see(partition, reply[0], Number(reply[1]) + count - 1);
      throw new HeraldError("broker_unavailable", `no ${this.replicas} replica(s) confirmed the publish in time`, {
        cause: waited[0] ?? undefined,
      });
    }
    return reply;
  }

  /**
   * What every script of partition `part` begins with: the number of keys, its fixed keys and the
   * streams of `channels`, then a candidate epoch and where this process stands in the partition.
   */
  private scriptHead(part: PartitionState, channels: readonly string[]): (string | number)[] {
    const streams = channels.map((c) => part.keys.stream + c);
    return [
      part.keys.fixed.length + streams.length,
      ...part.keys.fixed,
      ...streams,
      newEpoch(),
      part.seenEpoch,
      part.seenSeq,
    ];
  }

  /** One publish script call for `batch`, all of partition `partition`. */
  private send(partition: number, batch: PendingPublish[]): void {
    const part = this.parts[partition]!;
    const channels: string[] = [];
    const position = new Map<string, number>();
    const events: (string | number)[] = [];
    for (const p of batch) {
      let at = position.get(p.channel);
      if (at === undefined) {
        at = channels.push(p.channel);
        position.set(p.channel, at);
      }
      events.push(at, p.event, p.meta, p.json);
    }
    const args = [
      ...this.scriptHead(part, channels),
      part.keys.bus,
      EXPIRY_MARGIN_MS,
      this.partitions > 1 ? 1 : 0,
      ...channels.flatMap(this.limitsOf),
      ...events,
    ];
    this.publishCall(partition, batch.length, args).then(
      ([epoch, first, ts]) => {
        const seq = Number(first);
        const time = Number(ts);
        this.see(partition, epoch, seq + batch.length - 1);
        batch.forEach((p, i) => {
          const stored = { seq: seq + i, channel: p.channel, event: p.event, json: p.json, ts: time, epoch };
          const meta = decodeMeta(p.meta);
          p.resolve(meta ? { ...stored, meta } : stored);
        });
      },
      (error: unknown) => {
        for (const p of batch) p.reject(error);
      },
    );
  }

  subscribe(channel: string, listener: BrokerListener, onLost?: BrokerLossListener): BrokerSubscription {
    let state = this.channels.get(channel);
    if (!state) {
      const partition = partitionOf(channel, this.partitions);
      const created: ChannelState = {
        partition,
        listeners: new Set(),
        lossListeners: new Set(),
        ready: Promise.resolve(),
        epoch: undefined,
        lastSeq: 0,
        lastTs: Infinity,
        held: this.parts[partition]!.holding ? [] : null,
      };
      const bus = this.busKey(channel);
      created.ready = this.sharded()
        .then((sharded) => this.listen(sharded, [bus]))
        .then(async () => {
          // Events up to the head at this point are covered by the subscriber's snapshot.
          const { epoch, head } = await this.query(partition, [], 0, 0);
          if (created.epoch === undefined) created.epoch = epoch;
          if (created.epoch === epoch && head > created.lastSeq) {
            created.lastSeq = head;
            created.lastTs = Infinity;
          }
        });
      created.ready.catch(() => {}); // the caller sees the rejection through `ready`
      this.channels.set(channel, created);
      state = created;
    }
    const current = state;
    current.listeners.add(listener);
    if (onLost) current.lossListeners.add(onLost);
    return {
      ready: current.ready,
      unsubscribe: () => {
        if (onLost) current.lossListeners.delete(onLost);
        if (!current.listeners.delete(listener) || current.listeners.size > 0) return;
        if (this.channels.get(channel) === current) this.channels.delete(channel);
        const bus = this.busKey(channel);
        this.sharded()
          .then((sharded) => (sharded ? this.sub.sunsubscribe(bus) : this.sub.unsubscribe(bus)))
          .catch(() => {});
      },
    };
  }

  async snapshot(channels: readonly string[], after: number, limitPerChannel: number): Promise<Snapshot> {
    return (await this.snapshotGone(this.partitionOfAll(channels), channels, after, limitPerChannel)).snap;
  }

  /** The one partition of `channels` (0 for none); throws when they span several. */
  private partitionOfAll(channels: readonly string[]): number {
    if (channels.length === 0) return 0;
    const partition = partitionOf(channels[0]!, this.partitions);
    for (const channel of channels)
      if (partitionOf(channel, this.partitions) !== partition)
        throw new RangeError(`a snapshot reads one partition: "${channels[0]}" and "${channel}" are in two`);
    return partition;
  }

  /** {@link snapshot}, with what retention removed of each channel (`gone`: its highest seq, 0 for none). */
  private async snapshotGone(
    partition: number,
    channels: readonly string[],
    after: number,
    limitPerChannel: number,
  ): Promise<{ snap: Snapshot; gone: number[] }> {
    const { epoch, head, results, gone } = await this.query(partition, channels, after, limitPerChannel);
    const events: StoredEvent[] = [];
    const trimmed: string[] = [];
    results.forEach((result, i) => {
      if (result.trimmed || result.events.length === limitPerChannel) trimmed.push(channels[i]!);
      for (const event of result.events) events.push(event);
    });
    events.sort((a, b) => a.seq - b.seq);
    return { snap: { epoch, head, events, trimmed }, gone };
  }

  async read(channel: string, after: number, limit: number): Promise<ReadResult> {
    return (await this.query(partitionOf(channel, this.partitions), [channel], after, limit)).results[0]!;
  }

  async latest(channel: string, before: number, limit: number): Promise<LatestRead> {
    this.flush();
    const partition = partitionOf(channel, this.partitions);
    const part = this.parts[partition]!;
    const last = Number.isFinite(before) ? `${Math.max(0, Math.ceil(before) - 1)}-0` : "+";
    const [epoch, head, more, flat] = await this.cmd.heraldLatest(
      ...this.scriptHead(part, [channel]),
      last,
      Math.max(0, Math.floor(limit)),
      ...this.limitsOf(channel).slice(1),
      channel,
    );
    this.see(partition, epoch, Number(head));
    const events = toEvents(channel, flat).reverse();
    return { epoch, head: Number(head), events, more: more === 1 };
  }

  /**
   * Runs the snapshot script on one partition: epoch, head, and per channel its retained events,
   * its trim flag and the highest seq retention removed of it (`gone`).
   */
  private async query(
    partition: number,
    channels: readonly string[],
    after: number,
    limit: number,
  ): Promise<{ epoch: string; head: number; results: ReadResult[]; gone: number[] }> {
    this.flush();
    const part = this.parts[partition]!;
    const reply = await this.cmd.heraldSnapshot(
      ...this.scriptHead(part, channels),
      after,
      limit,
      ...channels.flatMap(this.limitsOf),
    );
    const epoch = reply[0] as string;
    const head = Number(reply[1]);
    this.see(partition, epoch, head);
    const gone = channels.map((_, i) => Number(reply[2 + 2 * i]));
    const results = channels.map((channel, i) => ({
      trimmed: gone[i]! > after,
      events: toEvents(channel, reply[3 + 2 * i] as string[]),
    }));
    return { epoch, head, results, gone };
  }

  async close(): Promise<void> {
    this.flush(); // publishes made just before closing go out before the connection quits
    this.closed = true;
    if (this.catchUpTimer !== undefined) clearTimeout(this.catchUpTimer);
    this.pending.clear();
    this.channels.clear();
    await Promise.all([end(this.cmd), end(this.sub)]);
  }

  private onMessage(bus: string, message: string): void {
    const channel =
      this.partitions === 1 ? bus.slice(this.parts[0]!.keys.bus.length) : bus.slice(bus.indexOf("}:bus:") + 6);
    const state = this.channels.get(channel);
    if (!state || this.busKey(channel) !== bus) return;
    const parts = splitN(message, 6);
    if (!parts) return;
    const [epoch, seq, ts, prev, event, metaText, json] = parts;
    const meta = decodeMeta(metaText);
    const stored: StoredEvent = meta
      ? { seq: Number(seq), channel, event, json, ts: Number(ts), meta }
      : { seq: Number(seq), channel, event, json, ts: Number(ts) };
    if (state.held) state.held.push([stored, epoch, Number(prev)]);
    else if (state.epoch === epoch && Number(prev) > state.lastSeq) {
      // The channel's previous event never arrived (a subscriber that moved, a dropped message):
      // hold this one and catch its partition up from the log.
      state.held = [[stored, epoch, Number(prev)]];
      this.scheduleCatchUp([state.partition]);
    } else this.deliver(state, stored, epoch);
  }

  /**
   * Catches up partitions `partitions` (see the class comment), each on its own: hold its live
   * messages, confirm its channels' subscriptions, read its channels past what was delivered in one
   * atomic snapshot, then release. A partition that fails keeps holding, while it has held for less
   * than `MAX_HOLD_MS` since a scheduled catch-up began (releasing what a new subscriber brought
   * would move positions past the events it missed). Resolves with the partitions that failed and
   * the first error.
   */
  private async catchUp(partitions: readonly number[]): Promise<{ failed: number[]; error: unknown }> {
    const groups = new Map<number, [string, ChannelState][]>();
    for (const entry of this.channels) {
      const group = groups.get(entry[1].partition);
      if (group) group.push(entry);
      else groups.set(entry[1].partition, [entry]);
    }
    const failed: number[] = [];
    let error: unknown;
    await Promise.all(
      partitions.map(async (partition) => {
        const part = this.parts[partition]!;
        const states = groups.get(partition);
        if (!states) {
          part.holding = false;
          part.holdingSince = undefined;
          return;
        }
        part.holding = true;
        for (const [, state] of states) state.held ??= [];
        let snap: Snapshot | undefined;
        const lost: Lost[] = [];
        let ok = false;
        try {
          // A channel that delivered positions: first tell the log where this process stands (one
          // script, on the command connection), so that a log that lost them (a failover) starts its
          // new epoch now rather than once the subscriptions below are back, and publishes from
          // processes that never saw those positions stop numbering them again.
          if (states.some(([, state]) => state.epoch !== undefined)) await this.query(partition, [], 0, 0);
          const sharded = await this.sharded();
          await withTimeout(
            this.listen(
              sharded,
              states.map(([channel]) => this.busKey(channel)),
            ),
            LISTEN_TIMEOUT_MS,
          );
          // Channels still subscribing take their start from their own head read.
          const started = states.filter(([, state]) => state.epoch !== undefined);
          if (started.length > 0) {
            const names = started.map(([channel]) => channel);
            // From the last position delivered, not past it: an entry there younger than the event
            // delivered there was numbered again after a failover lost it (its live message missed
            // too): `deliver` then starts the new epoch instead of skipping it unseen.
            const after = Math.max(0, Math.min(...started.map(([, state]) => state.lastSeq)) - 1);
            let read = await this.snapshotGone(partition, names, after, this.readLimit);
            if (started.some(([, state]) => state.epoch !== read.snap.epoch))
              read = await this.snapshotGone(partition, names, 0, this.readLimit);
            snap = read.snap;
            // Events the bus missed that retention removed before this read: gone for good (in the
            // same epoch; a new epoch is told by the epoch itself).
            started.forEach(([channel, state], i) => {
              if (state.epoch === read.snap.epoch && read.gone[i]! > state.lastSeq) lost.push([channel, read.gone[i]!]);
            });
          }
          ok = true;
        } catch (caught) {
          failed.push(partition);
          error ??= caught;
        } finally {
          const keep = !ok && part.holdingSince !== undefined && Date.now() - part.holdingSince < MAX_HOLD_MS;
          if (!keep) this.release(partition, snap, lost);
        }
      }),
    );
    return { failed, error };
  }

  /**
   * Delivers a catch-up's snapshot of partition `partition` and what its channels held meanwhile
   * (those subscribed during the catch-up included), merged in one `seq` order. A held message
   * whose channel's previous event is still missing (lost after the snapshot was read) is not
   * stepped over: from there on the partition's messages are held again and another catch-up reads
   * the log. (Without a snapshot, after a catch-up failed for `MAX_HOLD_MS`, the held messages go
   * out as they are.) Channels whose missed events retention already removed (`lost`) are told so
   * first, before anything that follows the hole, and their position moves past it.
   */
  private release(partition: number, snap: Snapshot | undefined, lost: readonly Lost[] = []): void {
    const part = this.parts[partition]!;
    part.holdingSince = undefined;
    part.holding = false;
    for (const [channel, through] of lost) {
      const state = this.channels.get(channel);
      const epoch = snap?.epoch;
      if (!state || epoch === undefined || state.epoch !== epoch || through <= state.lastSeq) continue;
      state.lastSeq = through;
      state.lastTs = Infinity;
      for (const onLost of [...state.lossListeners]) onLost(epoch, through);
    }
    if (snap) this.moveEpoch(partition, snap.epoch);
    const items: [event: StoredEvent, epoch: string, prev: number | undefined][] = [];
    if (snap) for (const event of snap.events) items.push([event, snap.epoch, undefined]);
    const fromSnapshot = items.length;
    for (const state of this.channels.values()) {
      if (state.partition !== partition) continue;
      if (state.held) for (const held of state.held) items.push(held);
      state.held = null;
    }
    // One order across the partition's channels. (Should the partition's log have restarted
    // meanwhile, positions of two epochs do not compare: the snapshot goes first, then the held
    // messages, each in seq order.)
    if (items.every(([, epoch]) => epoch === items[0]![1])) items.sort((x, y) => x[0].seq - y[0].seq);
    else {
      const held = items.splice(fromSnapshot);
      held.sort((x, y) => x[0].seq - y[0].seq);
      items.push(...held);
    }
    for (let i = 0; i < items.length; i++) {
      const [event, epoch, prev] = items[i]!;
      const state = this.channels.get(event.channel);
      if (!state) continue; // unsubscribed meanwhile
      if (snap && prev !== undefined && state.epoch === epoch && prev > state.lastSeq) {
        this.scheduleCatchUp([partition]);
        for (const [rest, restEpoch, restPrev] of items.slice(i)) {
          if (restPrev !== undefined) this.channels.get(rest.channel)?.held?.push([rest, restEpoch, restPrev]);
        }
        return;
      }
      this.deliver(state, event, epoch);
    }
  }

  /**
   * A catch-up found partition `partition` in `epoch`, another epoch than one of its channels was
   * in: the log lost writes (a failover: a new epoch began after its counter) or restarted. What the
   * channel delivered or held in the old epoch names positions the new one does not have (held
   * messages there are new events the log numbered again before the new epoch, left out of it), so
   * they are dropped, the channel moves to the new epoch, and its loss listeners are told at once:
   * its clients resume and get a gap, even when nothing is published on it again.
   */
  private moveEpoch(partition: number, epoch: string): void {
    for (const state of this.channels.values()) {
      if (state.partition !== partition || state.epoch === undefined || state.epoch === epoch) continue;
      const old = state.epoch;
      if (state.held) state.held = state.held.filter(([, heldEpoch]) => heldEpoch !== old);
      state.epoch = epoch;
      state.lastSeq = 0;
      state.lastTs = Infinity;
      for (const onLost of [...state.lossListeners]) onLost(epoch, 0);
    }
  }

  /**
   * Makes the partition's next script start a new epoch after its counter (the highest seq seen is
   * taken as beyond any: see CURRENT_EPOCH), then catches the partition up: its subscribers learn
   * the epoch changed and their clients get a gap, instead of positions given twice.
   */
  private fence(partition: number, epoch: string): void {
    const part = this.parts[partition]!;
    if (part.seenEpoch !== epoch) return;
    part.seenSeq = Number.MAX_SAFE_INTEGER;
    this.scheduleCatchUp([partition]);
  }

  /** Hands `event` to the channel's listeners unless it was already delivered (in this epoch). */
  private deliver(state: ChannelState, event: StoredEvent, epoch: string): void {
    if (epoch !== state.epoch) {
      state.epoch = epoch; // the partition's log started a new epoch: positions restart in it.
      state.lastSeq = 0;
    }
    this.see(state.partition, epoch, event.seq);
    if (event.seq <= state.lastSeq) {
      // A position delivered already: the same event again (the bus after a catch-up), or, when it
      // is younger than the event delivered at `lastSeq`, a new event the log numbered again after a
      // failover lost the writes that had those positions, seen first here (a publisher that never
      // saw them gave them out): the partition must start a new epoch, so clients are told.
      if (event.ts > state.lastTs) this.fence(state.partition, epoch);
      return;
    }
    state.lastSeq = event.seq;
    state.lastTs = event.ts;
    for (const listener of [...state.listeners]) listener(event, epoch);
  }

  /** The channel's bus (pub/sub) channel: `prefix:bus:{channel}`, or with partitions `{tag}:bus:{channel}`. */
  private busKey(channel: string): string {
    return this.parts[partitionOf(channel, this.partitions)]!.keys.bus + channel;
  }
}

/** Quits gracefully when connected; otherwise (Redis unreachable) drops the connection at once. */
async function end(redis: RedisConnection): Promise<void> {
  if (redis.status === "ready") await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}

/** `promise`, or a rejection after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref?.();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The snapshot script's flat list (id, event, json, ts, meta per event) as events. */
function toEvents(channel: string, flat: string[]): StoredEvent[] {
  const events: StoredEvent[] = [];
  for (let i = 0; i < flat.length; i += 5) {
    const event = {
      seq: Number.parseInt(flat[i]!, 10),
      channel,
      event: flat[i + 1]!,
      json: flat[i + 2]!,
      ts: Number(flat[i + 3]),
    };
    const meta = decodeMeta(flat[i + 4]);
    events.push(meta ? { ...event, meta } : event);
  }
  return events;
}

/** Splits `text` at its first `n` newlines (the JSON payload, last, may hold none: it is one line). */
function splitN(text: string, n: 6): [string, string, string, string, string, string, string] | null;
function splitN(text: string, n: number): string[] | null {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    const end = text.indexOf("\n", start);
    if (end < 0) return null;
    parts.push(text.slice(start, end));
    start = end + 1;
  }
  parts.push(text.slice(start));
  return parts;
}
