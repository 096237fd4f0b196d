/**
 * The broker is the log and the bus. Implementations: `MemoryBroker` (embedded default) and
 * `RedisBroker` (`herald/redis`). Every event gets a position in one broker-wide sequence (`seq`), so one
 * `{epoch}-{seq}` cursor resumes any set of channels.
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

/** What `snapshot()` returns: one consistent cut of the log. */
export interface Snapshot {
  /** The log's epoch at the cut. */
  readonly epoch: string;
  /** Highest `seq` assigned at the cut: every event up to it is in `events` (or was trimmed). */
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
  /** The log's epoch at the read. */
  readonly epoch: string;
  /** Highest `seq` assigned at the read (on any channel). */
  readonly head: number;
  /** The channel's last `limit` retained events with `seq < before`, oldest first. */
  readonly events: StoredEvent[];
  /** True when the log still holds events of the channel older than the first of `events`. */
  readonly more: boolean;
}

/** Receives live events on one channel, in `seq` order. */
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
  /** Names this incarnation of the log; changes when the log is lost (process or Redis restart). */
  epoch(): Promise<string>;
  /** Highest `seq` assigned so far (0 when none). */
  head(): Promise<number>;
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
   * Reads, atomically, the head and the retained events of `channels` with `seq > after` (at most
   * `limitPerChannel` each). Atomic matters: an event published while a multi-channel read is under
   * way must land either in the snapshot or after its head, never in neither.
   */
  snapshot(channels: readonly string[], after: number, limitPerChannel: number): Promise<Snapshot>;
  /** Reads `channel`'s retained events with `seq > after`, at most `limit`. */
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
