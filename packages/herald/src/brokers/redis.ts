/**
 * The Redis broker: Redis Streams for the log, Redis pub/sub for the bus. Several Herald
 * processes on one Redis share one broker-wide sequence, so a cursor from one resumes on another.
 */
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from "ioredis";
import { newEpoch } from "../protocol/cursor.js";
import { patternLookup } from "../protocol/channels.js";
import { LATEST_SCRIPT, PUBLISH_SCRIPT, SNAPSHOT_SCRIPT } from "./redis/scripts.js";
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
   * Redis Cluster: its start nodes (and ioredis `Cluster` options). Every key of one `prefix` is
   * named `{prefix}:…`, so one hash tag puts all of them (the shared sequence, every channel's log)
   * on one slot and every script touches one slot. `url` and `redis` are ignored with it.
   */
  cluster?: { nodes: ClusterNode[]; options?: ClusterOptions };
}

/** A standalone or Cluster connection (the broker uses only what both offer). */
export type RedisConnection = Redis | Cluster;

type ScriptedRedis = RedisConnection & {
  heraldPublish(...args: (string | number)[]): Promise<[string, string, string]>;
  heraldSnapshot(...args: (string | number)[]): Promise<unknown[]>;
  heraldLatest(...args: (string | number)[]): Promise<[string, string, number, string[]]>;
};

/** One channel this process listens to: its listeners and where its live stream is. */
interface ChannelState {
  readonly listeners: Set<BrokerListener>;
  /** Told when a catch-up finds events the bus missed already removed by retention. */
  readonly lossListeners: Set<BrokerLossListener>;
  ready: Promise<void>;
  /** Epoch and highest seq delivered (or covered by the head at subscribe time). */
  epoch: string | undefined;
  lastSeq: number;
  /** Messages held while a catch-up is pending or under way: the event, its epoch, its channel's previous seq. */
  held: Held[] | null;
}

type Held = [event: StoredEvent, epoch: string, prev: number];

/** A channel whose missed events retention removed: the highest seq gone. */
type Lost = [channel: string, through: number];

/** A publish waiting for the end of the tick, to be sent with the others of its tick. */
interface PendingPublish {
  readonly channel: string;
  readonly event: string;
  readonly json: string;
  /** `encodeMeta` of the event's metadata (`""` when none). */
  readonly meta: string;
  readonly resolve: (stored: StoredEvent & { epoch: string }) => void;
  readonly reject: (error: unknown) => void;
}

/** Most events, and most bytes of names and payloads, sent in one publish script call. */
const MAX_BATCH_EVENTS = 256;
const MAX_BATCH_BYTES = 1 << 20;

/** Longest a Cluster catch-up that keeps failing holds live messages before letting them through. */
const MAX_HOLD_MS = 30_000;

/**
 * Extra time a stream lives past `maxAgeMs` after its last publish: between half of it and all of
 * it (a publish renews the stream's expiry only once it has run below `maxAgeMs` + half the margin).
 */
const EXPIRY_MARGIN_MS = 60_000;

/**
 * Broker on Redis (ioredis 5). One Lua script assigns the broker-wide `seq`, appends
 * to the channel's stream with its previous `seq` (capped by count; trimmed by age only when its
 * oldest entry may be too old) and publishes the event; the publishes made in one tick go
 * together in one call of that script. One Lua script per snapshot reads the epoch, the head and
 * the channels' ranges atomically, and what retention removed from each stream's first entry.
 * Each process keeps one pub/sub subscription per channel, on a dedicated connection.
 */
export class RedisBroker implements Broker {
  private readonly cmd: ScriptedRedis;
  private readonly sub: RedisConnection;
  private readonly prefix: string;
  private readonly maxEvents: number;
  private readonly maxAgeMs: number;
  /** A channel's name and retention (maxLen, maxAgeMs), as the scripts take them. */
  private readonly limitsOf: (channel: string) => [string, number, number];
  /** The most events any channel keeps: what a catch-up reads at most per channel. */
  private readonly readLimit: number;
  private readonly channels = new Map<string, ChannelState>();
  /** Catch-ups run one at a time, in order. */
  private catchingUp: Promise<void> = Promise.resolve();
  private catchUpTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private readonly onError: (error: Error) => void;
  /** Since when live messages are held for a Cluster catch-up. */
  private holdingSince: number | undefined;
  /**
   * True from when a catch-up is wanted until it releases: every channel holds its live messages,
   * including a channel subscribed meanwhile (delivering its messages at once would put them ahead
   * of older ones held on other channels).
   */
  private holding = false;
  /** Publishes made this tick, sent together at its end (see `flush`). */
  private batch: PendingPublish[] = [];
  private batchBytes = 0;
  private flushQueued = false;

  constructor(options: RedisBrokerOptions = {}) {
    this.prefix = options.prefix ?? "herald";
    this.maxEvents = options.maxEventsPerChannel ?? 1000;
    this.maxAgeMs = options.maxAgeMs ?? 5 * 60_000;
    const retention = options.retention ?? {};
    const retentionOf = patternLookup(retention, "RedisBroker retention");
    this.limitsOf = (channel) => {
      const own = retentionOf(channel);
      return [channel, own?.maxEvents ?? this.maxEvents, own?.maxAgeMs ?? this.maxAgeMs];
    };
    this.readLimit = Math.max(this.maxEvents, ...Object.values(retention).map((r) => r.maxEvents ?? 0));
    const connect = (extra: RedisOptions = {}): RedisConnection => {
      if (options.cluster) {
        const { nodes, options: clusterOptions } = options.cluster;
        return new Cluster(nodes, {
          ...clusterOptions,
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
    this.sub = connect({ enableReadyCheck: false });
    this.cmd.defineCommand("heraldPublish", { lua: PUBLISH_SCRIPT });
    this.cmd.defineCommand("heraldSnapshot", { lua: SNAPSHOT_SCRIPT });
    this.cmd.defineCommand("heraldLatest", { lua: LATEST_SCRIPT });
    const onError = (error: Error) => options.onError?.(error);
    this.onError = onError;
    this.cmd.on("error", onError);
    this.sub.on("error", onError);
    this.sub.on("message", (bus: string, message: string) => this.onMessage(bus, message));
    // Every `ready`, the first included, re-confirms this process's subscriptions and reads what
    // the log holds past what was delivered: nothing depends on ioredis restoring them by itself.
    this.sub.on("ready", () => this.runCatchUp(onError));
    if (this.sub instanceof Cluster) {
      // A Cluster moves its subscriber to another node on its own, and says nothing when it has:
      // every change of a node's connection schedules a catch-up (retried until one succeeds).
      const schedule = () => this.scheduleCatchUp(onError);
      this.sub.on("-node", schedule);
      this.sub.on("+node", schedule);
      this.sub.on("node error", schedule);
    }
  }

  private runCatchUp(onError: (error: Error) => void): Promise<void> {
    this.catchingUp = this.catchingUp.then(() => this.catchUp());
    const run = this.catchingUp;
    this.catchingUp = run.catch(() => {});
    run.catch(onError);
    return run;
  }

  private scheduleCatchUp(onError: (error: Error) => void): void {
    if (this.closed) return;
    // Hold live messages from now: a new subscriber may bring messages before the catch-up runs.
    this.holding = true;
    if (this.channels.size > 0) {
      this.holdingSince ??= Date.now();
      for (const state of this.channels.values()) state.held ??= [];
    }
    if (this.catchUpTimer !== undefined) return;
    this.catchUpTimer = setTimeout(() => {
      this.catchUpTimer = undefined;
      this.runCatchUp(onError).catch(() => this.scheduleCatchUp(onError));
    }, 250);
    this.catchUpTimer.unref?.();
  }

  async epoch(): Promise<string> {
    return (await this.query([], 0, 0)).epoch;
  }

  async head(): Promise<number> {
    return (await this.query([], 0, 0)).head;
  }

  publish(channel: string, event: string, json: string, meta?: EventMeta): Promise<StoredEvent & { epoch: string }> {
    return new Promise((resolve, reject) => {
      const encoded = encodeMeta(meta);
      this.batch.push({ channel, event, json, meta: encoded, resolve, reject });
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
   * Sends the publishes made since the last flush as one script call: one round trip, and in Redis
   * one epoch check, clock read and INCRBY for all of them. Called at the end of the tick they were
   * made in, when the batch is full, and before any other command (so commands reach Redis in the
   * order they were made).
   */
  private flush(): void {
    const batch = this.batch;
    if (batch.length === 0) return;
    this.batch = [];
    this.batchBytes = 0;
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
    this.cmd
      .heraldPublish(
        4 + channels.length,
        ...this.fixedKeys(),
        ...channels.map((c) => this.streamKey(c)),
        newEpoch(),
        `${this.prefix}:bus:`,
        EXPIRY_MARGIN_MS,
        ...channels.flatMap(this.limitsOf),
        ...events,
      )
      .then(
        ([epoch, first, ts]) => {
          const seq = Number(first);
          const time = Number(ts);
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
      const created: ChannelState = {
        listeners: new Set(),
        lossListeners: new Set(),
        ready: Promise.resolve(),
        epoch: undefined,
        lastSeq: 0,
        held: this.holding ? [] : null,
      };
      created.ready = this.sub.subscribe(this.busKey(channel)).then(async () => {
        // Events up to the head at this point are covered by the subscriber's snapshot.
        const { epoch, head } = await this.query([], 0, 0);
        if (created.epoch === undefined) created.epoch = epoch;
        if (created.epoch === epoch) created.lastSeq = Math.max(created.lastSeq, head);
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
        this.sub.unsubscribe(this.busKey(channel)).catch(() => {});
      },
    };
  }

  async snapshot(channels: readonly string[], after: number, limitPerChannel: number): Promise<Snapshot> {
    return (await this.snapshotGone(channels, after, limitPerChannel)).snap;
  }

  /** {@link snapshot}, with what retention removed of each channel (`gone`: its highest seq, 0 for none). */
  private async snapshotGone(
    channels: readonly string[],
    after: number,
    limitPerChannel: number,
  ): Promise<{ snap: Snapshot; gone: number[] }> {
    const { epoch, head, results, gone } = await this.query(channels, after, limitPerChannel);
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
    return (await this.query([channel], after, limit)).results[0]!;
  }

  async latest(channel: string, before: number, limit: number): Promise<LatestRead> {
    this.flush();
    const last = Number.isFinite(before) ? `${Math.max(0, Math.ceil(before) - 1)}-0` : "+";
    const [epoch, head, more, flat] = await this.cmd.heraldLatest(
      5,
      ...this.fixedKeys(),
      this.streamKey(channel),
      newEpoch(),
      last,
      Math.max(0, Math.floor(limit)),
      ...this.limitsOf(channel).slice(1),
      channel,
    );
    const events = toEvents(channel, flat).reverse();
    return { epoch, head: Number(head), events, more: more === 1 };
  }

  /**
   * Runs the snapshot script: epoch, head, and per channel its retained events, its trim flag and
   * the highest seq retention removed of it (`gone`).
   */
  private async query(
    channels: readonly string[],
    after: number,
    limit: number,
  ): Promise<{ epoch: string; head: number; results: ReadResult[]; gone: number[] }> {
    this.flush();
    const reply = await this.cmd.heraldSnapshot(
      4 + channels.length,
      ...this.fixedKeys(),
      ...channels.map((c) => this.streamKey(c)),
      newEpoch(),
      after,
      limit,
      ...channels.flatMap(this.limitsOf),
    );
    const gone = channels.map((_, i) => Number(reply[2 + 2 * i]));
    const results = channels.map((channel, i) => ({
      trimmed: gone[i]! > after,
      events: toEvents(channel, reply[3 + 2 * i] as string[]),
    }));
    return { epoch: reply[0] as string, head: Number(reply[1]), results, gone };
  }

  async close(): Promise<void> {
    this.flush(); // publishes made just before closing go out before the connection quits
    this.closed = true;
    if (this.catchUpTimer !== undefined) clearTimeout(this.catchUpTimer);
    this.channels.clear();
    await Promise.all([end(this.cmd), end(this.sub)]);
  }

  private onMessage(bus: string, message: string): void {
    const channel = bus.slice(this.prefix.length + 5); // `${prefix}:bus:`
    const state = this.channels.get(channel);
    if (!state) return;
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
      // hold this one and catch up from the log.
      state.held = [[stored, epoch, Number(prev)]];
      this.scheduleCatchUp(this.onError);
    } else deliver(state, stored, epoch);
  }

  /**
   * When the subscriber connection is (again) ready, delivers what was published while it was
   * away: hold live messages, confirm the subscriptions, read every channel's log past what was
   * delivered in one atomic snapshot, then deliver the snapshot and the held messages in one go.
   * One snapshot and one synchronous delivery keep the broker-wide `seq` order across channels,
   * which a subscriber of several channels relies on (it skips anything at or below its position).
   */
  private async catchUp(): Promise<void> {
    const states = [...this.channels];
    if (states.length === 0) {
      this.holding = false;
      this.holdingSince = undefined;
      return;
    }
    this.holding = true;
    for (const [, state] of states) state.held ??= [];
    let snap: Snapshot | undefined;
    const lost: Lost[] = [];
    let ok = false;
    try {
      await this.sub.subscribe(...states.map(([channel]) => this.busKey(channel)));
      // Channels still subscribing take their start from their own head read.
      const started = states.filter(([, state]) => state.epoch !== undefined);
      if (started.length > 0) {
        const names = started.map(([channel]) => channel);
        const after = Math.min(...started.map(([, state]) => state.lastSeq));
        let read = await this.snapshotGone(names, after, this.readLimit);
        if (started.some(([, state]) => state.epoch !== read.snap.epoch))
          read = await this.snapshotGone(names, 0, this.readLimit);
        snap = read.snap;
        // Events the bus missed that retention removed before this read: gone for good (in the
        // same epoch; a new epoch is told by the epoch itself).
        started.forEach(([channel, state], i) => {
          if (state.epoch === read.snap.epoch && read.gone[i]! > state.lastSeq) lost.push([channel, read.gone[i]!]);
        });
      }
      ok = true;
    } finally {
      // On a Cluster, a failed catch-up keeps holding (for a while) and is retried: releasing what
      // the new subscriber brought would move positions past the events it missed.
      const keep = !ok && this.holdingSince !== undefined && Date.now() - this.holdingSince < MAX_HOLD_MS;
      if (!keep) this.release(snap, lost);
    }
  }

  /**
   * Delivers a catch-up's snapshot and what every channel held meanwhile (those subscribed during
   * the catch-up included), merged in one `seq` order. A held message whose channel's previous
   * event is still missing (lost after the snapshot was read) is not stepped over: from there on
   * everything is held again and another catch-up reads the log. (Without a snapshot, after a
   * Cluster catch-up failed for `MAX_HOLD_MS`, the held messages go out as they are.) Channels
   * whose missed events retention already removed (`lost`) are told so first, before anything
   * that follows the hole, and their position moves past it.
   */
  private release(snap: Snapshot | undefined, lost: readonly Lost[] = []): void {
    this.holdingSince = undefined;
    this.holding = false;
    for (const [channel, through] of lost) {
      const state = this.channels.get(channel);
      const epoch = snap?.epoch;
      if (!state || epoch === undefined || state.epoch !== epoch || through <= state.lastSeq) continue;
      state.lastSeq = through;
      for (const onLost of [...state.lossListeners]) onLost(epoch, through);
    }
    const items: [event: StoredEvent, epoch: string, prev: number | undefined][] = [];
    if (snap) for (const event of snap.events) items.push([event, snap.epoch, undefined]);
    const fromSnapshot = items.length;
    for (const state of this.channels.values()) {
      if (state.held) for (const held of state.held) items.push(held);
      state.held = null;
    }
    // One order across channels. (Should the log have restarted meanwhile, positions of two epochs
    // do not compare: the snapshot goes first, then the held messages, each in seq order.)
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
        this.scheduleCatchUp(this.onError);
        for (const [rest, restEpoch, restPrev] of items.slice(i)) {
          if (restPrev !== undefined) this.channels.get(rest.channel)?.held?.push([rest, restEpoch, restPrev]);
        }
        return;
      }
      deliver(state, event, epoch);
    }
  }

  private fixedKeys(): string[] {
    const p = `{${this.prefix}}`;
    return [`${p}:epoch`, `${p}:seq`, `${p}:last`, `${p}:oldest`];
  }

  /** `{prefix}:log:{channel}`: the hash tag keeps every stream on the slot of the shared sequence. */
  private streamKey(channel: string): string {
    return `{${this.prefix}}:log:${channel}`;
  }

  private busKey(channel: string): string {
    return `${this.prefix}:bus:${channel}`;
  }
}

/** Quits gracefully when connected; otherwise (Redis unreachable) drops the connection at once. */
async function end(redis: RedisConnection): Promise<void> {
  if (redis.status === "ready") await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}

/** Hands `event` to the channel's listeners unless it was already delivered (in this epoch). */
function deliver(state: ChannelState | undefined, event: StoredEvent, epoch: string): void {
  if (!state) return; // unsubscribed meanwhile
  if (epoch !== state.epoch) {
    state.epoch = epoch; // Redis lost its log: positions restart in the new epoch.
    state.lastSeq = 0;
  }
  if (event.seq <= state.lastSeq) return;
  state.lastSeq = event.seq;
  for (const listener of [...state.listeners]) listener(event, epoch);
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
