/** The embedded broker: an in-process log per channel with bounded retention, and a local bus. */
import { newEpoch } from "../protocol/cursor.js";
import { patternLookup } from "../protocol/channels.js";
import { checkPartitions, partitionOf } from "../protocol/partition.js";
import { hasMeta } from "./meta.js";
import type {
  Broker,
  BrokerListener,
  BrokerSubscription,
  ChannelRetention,
  EventMeta,
  LatestRead,
  ReadResult,
  Snapshot,
  StoredEvent,
} from "./types.js";
import { Sweeper } from "../timers/sweeper.js";

/** Options for {@link MemoryBroker}. */
export interface MemoryBrokerOptions {
  /** Events kept per channel (default 1,000). */
  maxEventsPerChannel?: number;
  /** Oldest event kept, in milliseconds (default 5 minutes). */
  maxAgeMs?: number;
  /** Channels with a retained log (default 100,000); the least recently published is dropped first. */
  maxChannels?: number;
  /**
   * How often every channel is trimmed by age, in ms (default a quarter of `maxAgeMs`, between 1 s
   * and 30 s), on an unref'd timer that runs only while something is held and stops on `close()`:
   * events past `maxAgeMs` go even on channels nobody publishes to or reads any more.
   */
  sweepIntervalMs?: number;
  /**
   * How long a channel whose events have all expired is still remembered (only its last trimmed
   * position, to tell a resuming client it missed events), in ms (default 1 hour). After that a
   * resume from before that position reports a `retention` gap on any channel without a log.
   */
  forgetAfterMs?: number;
  /**
   * Retention per channel name or pattern (one `*`: any characters), over `maxEventsPerChannel`
   * and `maxAgeMs` for the channels it matches (the exact name first, then the pattern with the
   * longest fixed part): `{ "room-*": { maxEvents: 500, maxAgeMs: 7 * 86_400_000 } }` keeps chat
   * rooms a week while the rest keeps the defaults.
   */
  retention?: Readonly<Record<string, ChannelRetention>>;
  /**
   * Partitions of the log (a power of two, default 1), each with its own sequence: what a Redis
   * Cluster spreads over its masters. One process needs none; more exercise the partitioned model.
   */
  partitions?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

interface ChannelLog {
  /** The channel's partition. */
  readonly partition: number;
  /** This channel's retention (the broker's, or its `retention` entry's). */
  readonly maxEvents: number;
  readonly maxAgeMs: number;
  events: StoredEvent[];
  /** Index of the oldest retained event in `events` (trimming advances it; compaction resets it). */
  start: number;
  /** Highest `seq` ever trimmed from this channel (0 when nothing was). */
  trimmedThrough: number;
  listeners: Set<BrokerListener>;
}

const READY = Promise.resolve();

/**
 * In-memory broker. Bounded by count and age per channel and by the number of channels; its epoch
 * is new on every construction, so a process restart is detected by resuming clients. Age is
 * enforced by a periodic sweep as well as on publish and read, so idle channels give memory back.
 */
export class MemoryBroker implements Broker {
  private readonly logs = new Map<string, ChannelLog>();
  private readonly maxEvents: number;
  private readonly maxAgeMs: number;
  private readonly maxChannels: number;
  private readonly now: () => number;
  private readonly currentEpoch: string;
  readonly partitions: number;
  /** Highest `seq` assigned, per partition. */
  private readonly seqs: number[];
  /** Highest `seq` of any channel log dropped by the channel cap, per partition; reads before it report a gap. */
  private readonly forgottenThrough: number[];
  /** Channels whose log was dropped once empty: their last trimmed `seq` and when (insertion order = age). */
  private readonly expired = new Map<string, { through: number; at: number }>();
  private readonly sweepIntervalMs: number;
  private readonly forgetAfterMs: number;
  private readonly sweeper = new Sweeper(() => this.sweep());
  private readonly retentionOf: (channel: string) => ChannelRetention | undefined;

  constructor(options: MemoryBrokerOptions = {}) {
    this.maxEvents = options.maxEventsPerChannel ?? 1000;
    this.maxAgeMs = options.maxAgeMs ?? 5 * 60_000;
    this.maxChannels = options.maxChannels ?? 100_000;
    this.now = options.now ?? Date.now;
    this.partitions = checkPartitions(options.partitions ?? 1);
    this.seqs = new Array<number>(this.partitions).fill(0);
    this.forgottenThrough = new Array<number>(this.partitions).fill(0);
    this.currentEpoch = newEpoch(this.now());
    const retention = options.retention ?? {};
    this.retentionOf = patternLookup(retention, "MemoryBroker retention");
    const shortest = Math.min(this.maxAgeMs, ...Object.values(retention).map((r) => r.maxAgeMs ?? Infinity));
    this.sweepIntervalMs = options.sweepIntervalMs ?? Math.min(30_000, Math.max(1000, Math.floor(shortest / 4)));
    this.forgetAfterMs = options.forgetAfterMs ?? 60 * 60_000;
  }

  /**
   * Trims every channel by age now, drops the logs left empty with no listener, and forgets the
   * oldest expired channels (the timer does this on its own).
   */
  sweep(): void {
    const now = this.now();
    for (const [name, log] of this.logs) {
      this.trim(log);
      if (log.listeners.size === 0 && log.events.length === log.start) this.dropLog(name, log, now);
    }
    for (const [name, entry] of this.expired) {
      if (now - entry.at < this.forgetAfterMs && this.expired.size <= this.maxChannels) break;
      const partition = partitionOf(name, this.partitions);
      this.forgottenThrough[partition] = Math.max(this.forgottenThrough[partition]!, entry.through);
      this.expired.delete(name);
    }
    if (this.logs.size === 0 && this.expired.size === 0) this.sweeper.stop();
  }

  /** Channels remembered only by their last trimmed position (for tests and stats). */
  get expiredCount(): number {
    return this.expired.size;
  }

  epoch(): Promise<string> {
    return Promise.resolve(this.currentEpoch);
  }

  head(partition = 0): Promise<number> {
    return Promise.resolve(this.seqs[partition] ?? 0);
  }

  publish(channel: string, event: string, json: string, meta?: EventMeta): Promise<StoredEvent & { epoch: string }> {
    const log = this.log(channel, true);
    const seq = ++this.seqs[log.partition]!;
    const stored: StoredEvent = hasMeta(meta)
      ? { seq, channel, event, json, ts: this.now(), meta }
      : { seq, channel, event, json, ts: this.now() };
    // Re-insert so Map order is least-recently-published first (for the channel cap).
    this.logs.delete(channel);
    this.logs.set(channel, log);
    log.events.push(stored);
    this.trim(log);
    this.capChannels();
    for (const listener of log.listeners) listener(stored, this.currentEpoch);
    return Promise.resolve({ ...stored, epoch: this.currentEpoch });
  }

  subscribe(channel: string, listener: BrokerListener): BrokerSubscription {
    const log = this.log(channel, true);
    log.listeners.add(listener);
    return {
      ready: READY,
      unsubscribe: () => {
        log.listeners.delete(listener);
        if (log.listeners.size === 0 && log.events.length === log.start && this.logs.get(channel) === log) {
          this.dropLog(channel, log, this.now());
        }
      },
    };
  }

  snapshot(channels: readonly string[], after: number, limitPerChannel: number): Promise<Snapshot> {
    const events: StoredEvent[] = [];
    const trimmed: string[] = [];
    for (const channel of limitPerChannel > 0 ? channels : []) {
      const result = this.readNow(channel, after, limitPerChannel);
      if (result.trimmed || result.events.length === limitPerChannel) trimmed.push(channel);
      for (const event of result.events) events.push(event);
    }
    events.sort((a, b) => a.seq - b.seq);
    const head = this.seqs[channels.length === 0 ? 0 : partitionOf(channels[0]!, this.partitions)]!;
    return Promise.resolve({ epoch: this.currentEpoch, head, events, trimmed });
  }

  read(channel: string, after: number, limit: number): Promise<ReadResult> {
    return Promise.resolve(this.readNow(channel, after, limit));
  }

  latest(channel: string, before: number, limit: number): Promise<LatestRead> {
    const log = this.logs.get(channel);
    const base = { epoch: this.currentEpoch, head: this.seqs[partitionOf(channel, this.partitions)]! };
    if (!log) return Promise.resolve({ ...base, events: [], more: false });
    this.trim(log);
    const end = this.firstIndex(log, before - 1);
    const start = Math.max(log.start, end - Math.max(0, limit));
    return Promise.resolve({ ...base, events: log.events.slice(start, end), more: start > log.start });
  }

  /** Index of `log`'s first retained event with `seq > after` (binary search). */
  private firstIndex(log: ChannelLog, after: number): number {
    let lo = log.start;
    let hi = log.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (log.events[mid]!.seq > after) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private readNow(channel: string, after: number, limit: number): ReadResult {
    const log = this.logs.get(channel);
    if (!log) {
      const forgotten = this.forgottenThrough[partitionOf(channel, this.partitions)]!;
      const through = Math.max(forgotten, this.expired.get(channel)?.through ?? 0);
      return { events: [], trimmed: through > after };
    }
    this.trim(log);
    const events: StoredEvent[] = [];
    for (let i = this.firstIndex(log, after); i < log.events.length && events.length < limit; i++)
      events.push(log.events[i]!);
    return { events, trimmed: log.trimmedThrough > after };
  }

  close(): Promise<void> {
    this.logs.clear();
    this.expired.clear();
    this.sweeper.stop();
    return READY;
  }

  /** Number of channels with a log or a listener (for tests and stats). */
  get channelCount(): number {
    return this.logs.size;
  }

  private log(channel: string, create: boolean): ChannelLog {
    let log = this.logs.get(channel);
    if (!log && create) {
      const expired = this.expired.get(channel);
      if (expired) this.expired.delete(channel);
      const retention = this.retentionOf(channel);
      log = {
        partition: partitionOf(channel, this.partitions),
        maxEvents: retention?.maxEvents ?? this.maxEvents,
        maxAgeMs: retention?.maxAgeMs ?? this.maxAgeMs,
        events: [],
        start: 0,
        trimmedThrough: expired?.through ?? 0,
        listeners: new Set(),
      };
      this.logs.set(channel, log);
      this.sweeper.start(this.sweepIntervalMs);
    }
    return log!;
  }

  /** Drops an empty, unlistened log, remembering its last trimmed position for a while. */
  private dropLog(channel: string, log: ChannelLog, now: number): void {
    this.logs.delete(channel);
    if (log.trimmedThrough > 0) this.expired.set(channel, { through: log.trimmedThrough, at: now });
  }

  private trim(log: ChannelLog): void {
    const oldest = this.now() - log.maxAgeMs;
    while (log.start < log.events.length) {
      const first = log.events[log.start]!;
      if (log.events.length - log.start <= log.maxEvents && first.ts >= oldest) break;
      log.trimmedThrough = first.seq;
      log.start++;
    }
    // Compact once the dead prefix is as large as the live part, keeping pushes amortised O(1);
    // an all-dead log lets go of its events at once.
    if (log.start === log.events.length) {
      if (log.start > 0) {
        log.events = [];
        log.start = 0;
      }
    } else if (log.start > 64 && log.start * 2 >= log.events.length) {
      log.events = log.events.slice(log.start);
      log.start = 0;
    }
  }

  private capChannels(): void {
    if (this.logs.size <= this.maxChannels) return;
    for (const [name, log] of this.logs) {
      if (this.logs.size <= this.maxChannels) break;
      if (log.listeners.size > 0) continue;
      const last = log.events[log.events.length - 1];
      if (last) this.forgottenThrough[log.partition] = Math.max(this.forgottenThrough[log.partition]!, last.seq);
      this.logs.delete(name);
    }
  }
}
