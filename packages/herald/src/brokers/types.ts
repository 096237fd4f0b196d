/**
 * The broker is the log and the bus. Implementations: `MemoryBroker` (embedded default) and
 * `RedisBroker` (`herald/redis`). The log has one or more partitions (`partitions`, a power of two;
 * a channel's partition is `partitionOf(channel, partitions)` from protocol/partition.ts). Every
 * event gets a position (`seq`) in its partition's sequence, and each partition has its own epoch,
 * so a cursor (protocol/cursor.ts) holds a position per partition and resumes any set of channels.
 */

/**
 * What travels with an event besides its payload, stored in the log with it: who sent a client
 * event (`userId`, shown to the other subscribers) and which connection not to deliver it to
 * (`exclude`, the sender's socket id: Pusher's `socket_id`). Never part of `json`.
 */
export interface EventMeta {
  readonly exclude?: string | undefined;
  readonly userId?: string | undefined;
}

/** An event as the broker stores and delivers it. `json` is the payload, serialized once. */
export interface StoredEvent {
  /** Position in the sequence of the channel's partition. */
  readonly seq: number;
  readonly channel: string;
  readonly event: string;
  readonly json: string;
  readonly ts: number;
  /** Metadata given to `publish`, if any. */
  readonly meta?: EventMeta | undefined;
}

/** What `read()` returns. */
export interface ReadResult {
  /** Events with `seq > after`, oldest first. */
  readonly events: StoredEvent[];
  /** True when events after `after` were trimmed by retention (the cursor fell out of the log). */
  readonly trimmed: boolean;
}

/** What `snapshot()` returns: one consistent cut of one partition of the log. */
export interface Snapshot {
  /** The partition's epoch at the cut. */
  readonly epoch: string;
  /** Highest `seq` the partition assigned at the cut: every event up to it is in `events` (or was trimmed). */
  readonly head: number;
  /** Events of the requested channels with `after < seq <= head`, in `seq` order. */
  readonly events: StoredEvent[];
  /** Channels whose events after `after` were partly trimmed by retention (or exceeded the limit). */
  readonly trimmed: string[];
}

/**
 * How much of one channel's log a broker keeps, for the channels a `retention` key matches (their
 * name, or a pattern with one `*`); what is not given falls back to the broker's own setting.
 */
export interface ChannelRetention {
  /** Events kept. */
  readonly maxEvents?: number;
  /** Oldest event kept, in ms. */
  readonly maxAgeMs?: number;
}

/** What `latest()` returns: one consistent read of the end of a channel's log. */
export interface LatestRead {
  /** The epoch of the channel's partition at the read. */
  readonly epoch: string;
  /** Highest `seq` the channel's partition assigned at the read (on any of its channels). */
  readonly head: number;
  /** The channel's last `limit` retained events with `seq < before`, oldest first. */
  readonly events: StoredEvent[];
  /** True when the log still holds events of the channel older than the first of `events`. */
  readonly more: boolean;
}

/** Receives live events on one channel, in `seq` order, with the epoch of the channel's partition. */
export type BrokerListener = (event: StoredEvent, epoch: string) => void;

/**
 * Told when live events of one channel were lost for good: catching up after its bus missed
 * messages, the broker found that retention had already removed some of them (in `epoch`, up to
 * `through`). What it delivers next on the channel follows a hole: positions on it cannot vouch
 * for what they skipped, and a client must be told with a retention gap.
 */
export type BrokerLossListener = (epoch: string, through: number) => void;

/** A live subscription to one channel; `ready` resolves once events are flowing. */
export interface BrokerSubscription {
  readonly ready: Promise<void>;
  unsubscribe(): void;
}

/** The interface every broker implements. */
export interface Broker {
  /**
   * How many partitions the log has (a power of two, at most 256; absent: 1). A channel belongs to
   * partition `partitionOf(channel, partitions)`.
   */
  readonly partitions?: number;
  /**
   * Names this incarnation of partition `partition`'s log (default 0); changes when it is lost
   * (process or Redis restart, a failover that lost writes).
   */
  epoch(partition?: number): Promise<string>;
  /** Highest `seq` partition `partition` (default 0) assigned so far (0 when none). */
  head(partition?: number): Promise<number>;
  /**
   * Appends an event to `channel`'s log (with `meta`, when given) and fans it out to subscribers;
   * returns the stored event.
   */
  publish(channel: string, event: string, json: string, meta?: EventMeta): Promise<StoredEvent & { epoch: string }>;
  /**
   * Listens to live events on one channel (and, with `onLost`, to their loss: a broker whose bus can
   * miss messages, such as Redis pub/sub, says so). Callers keep one subscription per channel per process.
   */
  subscribe(channel: string, listener: BrokerListener, onLost?: BrokerLossListener): BrokerSubscription;
  /**
   * Reads, atomically, the head of one partition and the retained events of `channels` (all of that
   * partition; none: partition 0) with `seq > after` (at most `limitPerChannel` each; 0 reads only
   * the epoch and the head). Atomic matters: an event published while a multi-channel read is under
   * way must land either in the snapshot or after its head, never in neither.
   */
  snapshot(channels: readonly string[], after: number, limitPerChannel: number): Promise<Snapshot>;
  /** Reads `channel`'s retained events with `seq > after` (in its partition), at most `limit`. */
  read(channel: string, after: number, limit: number): Promise<ReadResult>;
  /**
   * Reads, atomically with the epoch and the head, the last `limit` retained events of `channel`
   * with `seq < before` (`Infinity`: the newest), oldest first: what `herald.history` pages
   * backwards with. Optional: without it history reads the channel's whole log with `read`.
   */
  latest?(channel: string, before: number, limit: number): Promise<LatestRead>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
