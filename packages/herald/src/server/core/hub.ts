/**
 * The hub holds this process's subscribers and long-poll waiters per channel, on one upstream broker
 * subscription per channel. Each event is serialized once per wire format (the SSE frame, the poll
 * envelope); what arrives in one tick is coalesced into one write per subscriber and one answer per
 * waiter; one shared timer drives heartbeats, rotation and the teardown of dropped clients, another
 * the long-poll deadlines and the grace that keeps a channel followed only by pollers subscribed
 * between their polls; a subscriber whose unread bytes pass the cap is dropped (it reconnects and
 * resumes from the log). Other transports follow a channel here too ({@link Hub.follow}: the
 * Pusher WebSocket server), on the same upstream subscription, and get each event as it arrives.
 */
import { Buffer } from "node:buffer";
import type { Broker, BrokerSubscription, StoredEvent } from "../../brokers/types.js";
import { HeraldError, type HeraldErrorCode } from "../../protocol/errors.js";
import { encodeEventFrame, errorFrame, HEARTBEAT, rotateFrame, type Frame } from "./frames.js";
import { deliveriesAnswer, type Delivery, type PollAnswer, type PollWaiter } from "./poll.js";
import type { Sink } from "./sink.js";
import type { Mark, Subscriber } from "./subscriber.js";
import { partitionsOf } from "./partitions.js";
import type { Position } from "../../protocol/cursor.js";
import { Telemetry } from "./telemetry.js";

/** Options for {@link Hub}. */
export interface HubOptions {
  /** Interval between heartbeats, in ms (default 4,000). */
  heartbeatMs?: number;
  /** Unread bytes allowed per subscriber before it is dropped (default 1 MiB). */
  maxBufferedBytes?: number;
  /** How long a dropped client may take to drain its last bytes before it is torn down (default 5,000 ms). */
  closeGraceMs?: number;
  /**
   * Least time between two flushes, in ms (default 50). An event after a quiet spell is written at
   * once (next tick); events that follow it within this window are coalesced into one write per
   * subscriber. Bursts cost far less CPU for at most this much added latency; 0 flushes every tick.
   */
  coalesceMs?: number;
  /** `retry:` sent before a rotation, in ms (default 1,000). */
  retryMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
  /**
   * How long a channel that long-pollers followed stays subscribed upstream after its last waiter
   * (and subscriber) left, in ms (default 5,000): a poller is back within its round trip, so the
   * broker (on Redis: SUBSCRIBE/UNSUBSCRIBE) is not asked again on every poll cycle. 0 lets go at once.
   */
  pollGraceMs?: number;
  /** Monotonic clock of long-poll deadlines and the grace, in ms (default `performance.now`), injectable for tests. */
  pollClock?: () => number;
  /** Where lifecycle events (slow-consumer drops, gaps, epoch changes, bus lag) are told (default: a new one). */
  telemetry?: Telemetry;
}

/**
 * A transport that follows a channel through the hub (one per channel and transport, however many
 * connections it serves): it gets each live event as the broker delivers it, and encodes it once
 * for its own wire format.
 */
export interface ChannelFollower {
  deliver(event: StoredEvent, epoch: string): void;
  /** Live events of the channel were lost for good (`BrokerLossListener`): clients must resume from their cursors. */
  lost?(): void;
}

/** What {@link Hub.follow} returns. */
export interface Following {
  /** Resolves once live events flow (rejects when the broker cannot subscribe). */
  readonly ready: Promise<void>;
  /** Stops following (idempotent); the channel lets go of its upstream subscription when nobody is left. */
  unfollow(): void;
}

interface ChannelState {
  readonly name: string;
  /** The partition of the log it is in. */
  readonly partition: number;
  /** Its namespace label, when the namespace label is on (deliveries are counted by it). */
  readonly namespace: string | undefined;
  readonly subs: Set<Subscriber>;
  readonly waiters: Set<PollWaiter>;
  readonly followers: Set<ChannelFollower>;
  upstream: BrokerSubscription | undefined;
  /** True once `upstream.ready` resolved; `failed` once it rejected. */
  ready: boolean;
  failed: boolean;
  /** SSE frames since the last flush (only while the channel has subscribers). */
  batch: Frame[];
  /** Events since the last flush, for waiters (only while the channel has waiters). */
  pending: Delivery[];
  /** Queued for the next flush. */
  dirty: boolean;
  /** Epoch of the last event seen on this channel by a live subscriber. */
  epoch: string | undefined;
  /** Epoch and `seq` of the last event the broker delivered on this channel (to anyone or no one). */
  lastEpoch: string | undefined;
  lastSeq: number;
  /**
   * Every event on this channel with `seq > clear` (in `clearEpoch`) is delivered to the hub: known
   * from a log read that began once the upstream subscription was ready. With `lastSeq`, it tells
   * whether a waiter's cursor already covers everything on the channel (nothing can be missing
   * between the cursor and the next event delivered).
   */
  clear: number;
  clearEpoch: string | undefined;
  /**
   * The last events delivered on this channel (at most `RECENT_EVENTS`, oldest first), kept once a
   * waiter followed it, and `evicted`, the `seq` of the last one dropped from the front: with
   * `clear`, every event on the channel after a cursor at or past both is here, so a poll whose
   * cursor is behind the last event by a few (a poller that was late for a round) is answered from
   * them, with their shared envelopes, instead of reading the log.
   */
  recent: Delivery[];
  evicted: number;
  /** A waiter followed it: it gets a grace period once idle, and keeps its recent events. */
  polled: boolean;
  /** While idle in its grace period: when it lets go of its upstream subscription (poll clock). */
  idleUntil: number | undefined;
}

/** Counts describing the hub, for dashboards and tests. */
export interface HubStats {
  subscribers: number;
  /** Channel subscriptions of the subscribers (a subscriber of three channels counts three). */
  subscriptions: number;
  /** Channel subscriptions of the held and reading long-poll waiters. */
  pollSubscriptions: number;
  channels: number;
  /** True while the shared timer runs (only when there is something to time). */
  timerActive: boolean;
  /** Events written to subscribers since start (one per event per subscriber). */
  delivered: number;
  /** Bytes of live events written to subscribers since start (replays not included). */
  deliveredBytes: number;
  /** Bytes written to subscribers that they have not read yet, now (summed over subscribers). */
  buffered: number;
  /** Subscribers dropped for being too slow since start. */
  dropped: number;
  /** Ended streams (dropped, rotated, closed) whose connection is torn down once their grace ends. */
  closing: number;
  /** Long-poll requests held now (waiting for an event or their deadline). */
  pollWaiters: number;
  /** Events answered to long-poll waiters from the events in hand since start (one per event per waiter). */
  pollDelivered: number;
  /** Long-poll answers made from the events in hand (without reading the log) since start. */
  pollWakes: number;
  /** Log reads made by long-polls since start (at most one per request; none when the hub vouches for the cursor). */
  pollReads: number;
  /** Channels kept subscribed upstream with no subscriber or waiter, in their grace period after the last poll. */
  idleChannels: number;
  /** Gaps told to resuming clients since start (one per channel: `herald:gap` on SSE, `gaps` in a poll answer). */
  gaps: number;
}

const TICK_MS = 1000;
/** Events kept in hand per channel that pollers follow (see `ChannelState.recent`). */
const RECENT_EVENTS = 64;
/** How often held long-polls are checked for a client that went away, in ms (poll clock). */
const ABORT_SCAN_MS = 1000;
/** Long-poll deadlines are kept in buckets of waits this wide (deadlines in one bucket arrive nearly in order). */
const WAIT_BUCKET_MS = 100;
/** Least time between two reads of where every partition is (see `Hub.cursorWith`), in ms. */
const KNOWN_REFRESH_MS = 2_000;
/** How often a replay waiting for its client to read checks again, in ms. */
const REPLAY_WAIT_MS = 10;

/** See the module comment. */
export class Hub {
  private readonly channels = new Map<string, ChannelState>();
  private readonly subscribers = new Set<Subscriber>();
  private readonly closing = new Map<Sink, number>();
  private dirty: ChannelState[] = [];
  private multi: Subscriber[] = [];
  /** Subscribers with a rotation deadline: the tick scans for due ones only when there are any. */
  private rotating = 0;
  private flushScheduled = false;
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private lastFlushAt = -Infinity;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastHeartbeat = 0;
  private delivered = 0;
  private deliveredBytes = 0;
  private dropped = 0;
  private gaps = 0;
  private readonly waiters = new Set<PollWaiter>();
  /** Held waiters by wait (in `WAIT_BUCKET_MS` steps), each in arrival order, so nearly in deadline order. */
  private readonly deadlines = new Map<number, Set<PollWaiter>>();
  /** Idle polled channels in their grace period, in the order it ends. */
  private readonly idle = new Set<ChannelState>();
  private multiWaiters: PollWaiter[] = [];
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private pollTimerAt = Infinity;
  /** When held waiters are next checked for a client that left (poll clock). */
  private abortScanAt = -Infinity;
  private held = 0;
  private pollDelivered = 0;
  private pollWakes = 0;
  private pollReads = 0;
  private readonly pollGraceMs: number;
  private readonly pollClock: () => number;
  /** Interval between heartbeat comments, in ms (told to every client in `herald:connected`). */
  readonly heartbeatMs: number;
  private readonly maxBufferedBytes: number;
  private readonly closeGraceMs: number;
  private readonly retryMs: number;
  private readonly coalesceMs: number;
  private readonly now: () => number;
  /** Where this hub tells its lifecycle events (the instance's one `Telemetry`). */
  readonly telemetry: Telemetry;
  /** The partition of a channel in the broker's log. */
  readonly partitionOf: (channel: string) => number;
  /** The last position seen in each partition (of an event delivered here, or a read's head). */
  private readonly known = new Map<number, Mark>();
  private refreshedAt = -Infinity;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly broker: Broker,
    options: HubOptions = {},
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 4_000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.closeGraceMs = options.closeGraceMs ?? 5_000;
    this.retryMs = options.retryMs ?? 1_000;
    this.coalesceMs = options.coalesceMs ?? 50;
    this.now = options.now ?? Date.now;
    this.pollGraceMs = options.pollGraceMs ?? 5_000;
    this.pollClock = options.pollClock ?? (() => performance.now());
    this.telemetry = options.telemetry ?? new Telemetry();
    this.partitionOf = partitionsOf(broker);
  }

  /**
   * A cursor of `heads` and, for the other partitions, the last position this hub saw there: a
   * channel of those partitions added later resumes from no earlier than when it could have been
   * wanted. (Every position is a lower bound of where its partition was when this cursor was made.)
   * The first time, it waits for every partition to be read; later they are read again in the
   * background.
   */
  async cursorWith(heads: ReadonlyMap<number, Position>): Promise<Map<number, Position>> {
    const refresh = this.refreshKnown();
    if (refresh && this.known.size < (this.broker.partitions ?? 1)) await refresh;
    const cursor = new Map<number, Position>(heads);
    for (const [partition, position] of this.known) if (!cursor.has(partition)) cursor.set(partition, position);
    for (const position of heads.values()) this.see(position.partition, position.epoch, position.seq);
    return cursor;
  }

  /**
   * Reads where every partition is (epoch, then head: a head of a newer epoch paired with an older
   * epoch only makes a resume report a gap), in the background, at most every `KNOWN_REFRESH_MS`:
   * a partition whose channels this process does not follow would otherwise stay where it was first seen.
   */
  private refreshKnown(): Promise<void> | undefined {
    const partitions = this.broker.partitions ?? 1;
    const now = performance.now();
    if (partitions === 1) return undefined;
    if (this.refreshing || now - this.refreshedAt < KNOWN_REFRESH_MS) return this.refreshing;
    this.refreshedAt = now;
    const read = async (partition: number) => {
      const epoch = await this.broker.epoch(partition);
      this.see(partition, epoch, await this.broker.head(partition));
    };
    return (this.refreshing = Promise.all(Array.from({ length: partitions }, (_, partition) => read(partition)))
      .then(() => {})
      .catch(() => {}) // the broker is away: the positions stay as they were
      .finally(() => (this.refreshing = undefined)));
  }

  private see(partition: number, epoch: string, seq: number): void {
    const known = this.known.get(partition);
    if (!known || known.epoch !== epoch) this.known.set(partition, { partition, epoch, seq });
    else if (known.seq < seq) known.seq = seq;
  }

  /**
   * Registers `sub` on its channels (queuing live events while it replays) and resolves once the
   * broker delivers live events for all of them.
   */
  async attach(sub: Subscriber): Promise<void> {
    this.subscribers.add(sub);
    if (sub.deadline !== undefined) this.rotating++;
    const ready = this.enter(sub, sub.channels);
    this.ensureTimer();
    try {
      await ready;
    } catch (cause) {
      this.detach(sub, "broker_unavailable");
      throw new HeraldError("broker_unavailable", "the broker could not subscribe", { cause });
    }
  }

  /**
   * Holds a live subscriber's live events (they queue, as while it replays) for a change of its
   * channels: {@link addChannels}, {@link removeChannels}, the added channels' catch-up through
   * {@link writeReplay}, then {@link goLive} with its own floor. Heartbeats and presence frames still
   * reach it. False when it is not live.
   */
  hold(sub: Subscriber): boolean {
    if (sub.state !== "live") return false;
    sub.state = "replaying";
    return true;
  }

  /**
   * Adds `names` to a held subscriber's channels (their live events queue for it) and resolves once
   * the broker delivers live events for all of them; when it cannot, they are removed again and this
   * rejects with `broker_unavailable`.
   */
  async addChannels(sub: Subscriber, names: readonly string[]): Promise<void> {
    if (sub.state !== "replaying" || names.length === 0) return;
    sub.channels = [...sub.channels, ...names];
    try {
      await this.enter(sub, names);
    } catch (cause) {
      this.removeChannels(sub, names);
      throw new HeraldError("broker_unavailable", "the broker could not subscribe", { cause });
    }
  }

  /** Removes `names` from a subscriber's channels: nothing more of them is written to it, queued frames included. */
  removeChannels(sub: Subscriber, names: readonly string[]): void {
    if (sub.state === "closed" || names.length === 0) return;
    const gone = new Set(names);
    sub.channels = sub.channels.filter((name) => !gone.has(name));
    if (sub.queue.length > 0) sub.queue = sub.queue.filter((frame) => !gone.has(frame.channel));
    for (const name of names) {
      sub.skip?.delete(name);
      const state = this.channels.get(name);
      if (!state?.subs.delete(sub)) continue;
      this.releaseIfIdle(state);
    }
    if (sub.skip?.size === 0) sub.skip = undefined;
  }

  /** Registers `sub` on `names`; resolves once their upstream subscriptions are ready. */
  private enter(sub: Subscriber, names: readonly string[]): Promise<unknown> {
    const ready: Promise<void>[] = [];
    for (const name of names) {
      const state = this.channelState(name);
      state.subs.add(sub);
      ready.push(state.upstream!.ready);
    }
    return Promise.all(ready);
  }

  /**
   * Writes one piece of `sub`'s replay once the bytes it has not read yet are back under the
   * unread-bytes cap. A client that stays over the cap for `closeGraceMs` is dropped as a slow
   * consumer (it resumes from the last event it got) and this resolves false. Replays are written
   * in bounded pieces through this, so a client that does not read holds at most the cap plus one
   * piece, however long its replay, while one that reads gets all of it.
   */
  async writeReplay(sub: Subscriber, chunk: Uint8Array): Promise<boolean> {
    const deadline = performance.now() + this.closeGraceMs;
    while (sub.state === "replaying" && sub.sink.buffered() > this.maxBufferedBytes) {
      if (performance.now() >= deadline) {
        this.isSlow(sub);
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, REPLAY_WAIT_MS));
    }
    if (sub.state !== "replaying") return false;
    sub.sink.write(chunk);
    return true;
  }

  /**
   * Writes `preamble` (the end of the replay and `herald:connected`), then the live events queued
   * meanwhile. `heads`: where the replay ended in each partition, the subscriber's position in the
   * partitions it has none in yet (after a channel change, see {@link hold}, it keeps its own in
   * the others).
   */
  goLive(sub: Subscriber, preamble: Uint8Array, heads: ReadonlyMap<number, Mark> = new Map()): void {
    if (sub.state !== "replaying") return;
    for (const [partition, head] of heads) if (!sub.at.has(partition)) sub.at.set(partition, { ...head });
    if (preamble.length > 0) sub.sink.write(preamble);
    sub.state = "live";
    sub.connected = true;
    if (sub.queue.some((frame) => frame.epoch !== sub.at.get(frame.partition)?.epoch)) {
      this.epochChanged(sub);
      return;
    }
    sub.drainQueue();
  }

  /**
   * Writes a control frame (not an event of the log: it has no position) to the connected
   * subscribers of `channel`, except the one with id `except`. A subscriber still in its first
   * replay misses it; what it carries must be read again when that subscriber goes live (presence
   * sends the member list then).
   */
  sendToChannel(channel: string, bytes: Buffer, except?: string): void {
    const state = this.channels.get(channel);
    if (!state) return;
    for (const sub of state.subs) {
      if (this.isOpen(sub) && sub.id !== except && !this.isSlow(sub)) sub.sink.write(bytes);
    }
  }

  /** Writes a control frame to one connected subscriber (false when it is not, or too slow). */
  sendTo(sub: Subscriber, bytes: Buffer): boolean {
    if (!this.isOpen(sub) || this.isSlow(sub)) return false;
    sub.sink.write(bytes);
    return true;
  }

  /** Removes `sub` from every channel. Idempotent; the last subscriber of a channel unsubscribes upstream. */
  detach(sub: Subscriber, reason: string): void {
    if (sub.state === "closed") return;
    sub.state = "closed";
    sub.queue = [];
    this.subscribers.delete(sub);
    if (sub.deadline !== undefined) this.rotating--;
    for (const name of sub.channels) {
      const state = this.channels.get(name);
      if (!state) continue;
      state.subs.delete(sub);
      this.releaseIfIdle(state);
    }
    this.stopTimerIfIdle();
    for (const handler of sub.closeHandlers) handler(reason);
  }

  /** Ends `sub`'s stream with a `herald:error` event it can see, then detaches it. */
  close(sub: Subscriber, code: HeraldErrorCode, message: string): void {
    if (sub.state === "closed") return;
    sub.sink.end(errorFrame({ code, message }));
    this.closing.set(sub.sink, this.now() + this.closeGraceMs);
    this.detach(sub, code);
    this.ensureTimer();
  }

  /** Ends every stream and long-poll (on shutdown), lets go of every channel and stops the timers. */
  closeAll(code: HeraldErrorCode = "server_closing", message = "the server is shutting down"): void {
    for (const waiter of [...this.waiters]) {
      this.removeWaiter(waiter);
      waiter.reject(new HeraldError(code, message));
    }
    for (const sub of [...this.subscribers]) this.close(sub, code, message);
    for (const state of [...this.idle]) this.dropChannel(state);
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      this.flushScheduled = false;
      this.dirty = [];
    }
    for (const sink of this.closing.keys()) sink.destroy();
    this.closing.clear();
    this.stopTimerIfIdle();
    this.armPollTimer();
  }

  /** Counts describing the hub. */
  stats(): HubStats {
    let subscriptions = 0;
    let pollSubscriptions = 0;
    let buffered = 0;
    for (const sub of this.subscribers) buffered += sub.sink.buffered();
    for (const state of this.channels.values()) {
      subscriptions += state.subs.size;
      pollSubscriptions += state.waiters.size;
    }
    return {
      subscriptions,
      pollSubscriptions,
      closing: this.closing.size,
      subscribers: this.subscribers.size,
      channels: this.channels.size,
      timerActive: this.timer !== undefined || this.pollTimer !== undefined,
      delivered: this.delivered,
      deliveredBytes: this.deliveredBytes,
      buffered,
      dropped: this.dropped,
      pollWaiters: this.held,
      pollDelivered: this.pollDelivered,
      pollWakes: this.pollWakes,
      pollReads: this.pollReads,
      idleChannels: this.idle.size,
      gaps: this.gaps,
    };
  }

  /** Channel subscriptions of SSE subscribers and of long-poll waiters, by namespace (with the namespace label on). */
  subscriptionsByNamespace(): { sse: Record<string, number>; poll: Record<string, number> } | undefined {
    const namespaces = this.telemetry.namespaces;
    if (!namespaces) return undefined;
    const name = (state: ChannelState) => state.name;
    return {
      sse: namespaces.tally(this.channels.values(), name, (state) => state.subs.size),
      poll: namespaces.tally(this.channels.values(), name, (state) => state.waiters.size),
    };
  }

  /**
   * Follows `channel` for another transport, on the hub's one upstream subscription per channel:
   * `follower` gets each live event of the channel as the broker delivers it.
   */
  follow(channel: string, follower: ChannelFollower): Following {
    const state = this.channelState(channel);
    state.followers.add(follower);
    return {
      ready: state.upstream!.ready,
      unfollow: () => {
        if (!state.followers.delete(follower)) return;
        if (this.channels.get(channel) === state) this.releaseIfIdle(state);
      },
    };
  }

  /** Number of this process's subscribers on `channel`. */
  subscriberCount(channel: string): number {
    return this.channels.get(channel)?.subs.size ?? 0;
  }

  /** The state of channel `name`, created (and subscribed upstream) on first use, or taken out of its grace. */
  private channelState(name: string): ChannelState {
    const state = this.channels.get(name);
    if (state) {
      if (state.idleUntil !== undefined) {
        state.idleUntil = undefined;
        this.idle.delete(state);
      }
      return state;
    }
    const created: ChannelState = {
      name,
      partition: this.partitionOf(name),
      namespace: this.telemetry.namespaces?.of(name),
      subs: new Set(),
      waiters: new Set(),
      followers: new Set(),
      upstream: undefined,
      ready: false,
      failed: false,
      batch: [],
      pending: [],
      dirty: false,
      epoch: undefined,
      lastEpoch: undefined,
      lastSeq: 0,
      clear: 0,
      clearEpoch: undefined,
      recent: [],
      evicted: 0,
      polled: false,
      idleUntil: undefined,
    };
    this.channels.set(name, created);
    created.upstream = this.broker.subscribe(
      name,
      (event, epoch) => this.onEvent(created, event, epoch),
      () => this.onLost(created),
    );
    created.upstream.ready.then(
      () => (created.ready = true),
      () => {
        created.failed = true;
        if (created.idleUntil !== undefined) this.dropChannel(created);
      },
    );
    return created;
  }

  /**
   * With no subscriber and no waiter left, a channel lets go of its upstream subscription: at once,
   * or, when pollers followed it, after the grace period (unless someone comes back meanwhile).
   */
  private releaseIfIdle(state: ChannelState): void {
    if (state.subs.size > 0 || state.waiters.size > 0 || state.followers.size > 0 || state.idleUntil !== undefined)
      return;
    if (!state.polled || state.failed || this.pollGraceMs <= 0) {
      this.dropChannel(state);
      return;
    }
    state.idleUntil = this.pollClock() + this.pollGraceMs;
    this.idle.add(state);
    this.armPollTimer();
  }

  private dropChannel(state: ChannelState): void {
    this.idle.delete(state);
    state.idleUntil = undefined;
    if (this.channels.get(state.name) !== state) return;
    state.upstream?.unsubscribe();
    this.channels.delete(state.name);
    state.batch = [];
    state.pending = [];
  }

  /**
   * Registers a long-poll waiter on its channels (events on them queue for it while it reads). Returns
   * a promise only when an upstream subscription is not ready yet; it rejects (the waiter removed)
   * when the broker cannot subscribe.
   */
  addWaiter(waiter: PollWaiter): Promise<void> | undefined {
    if (this.waiters.size === 0) this.abortScanAt = -Infinity;
    this.waiters.add(waiter);
    let pending: Promise<void>[] | undefined;
    for (const name of waiter.channels) {
      const state = this.channelState(name);
      state.polled = true;
      state.waiters.add(waiter);
      if (!state.ready) (pending ??= []).push(state.upstream!.ready);
    }
    if (!pending) return undefined;
    return Promise.all(pending).then(
      () => {},
      (cause: unknown) => {
        this.removeWaiter(waiter);
        throw new HeraldError("broker_unavailable", "the broker could not subscribe", { cause });
      },
    );
  }

  /**
   * What follows `waiter`'s cursor on its channels, when the hub knows it all without the log: on
   * every channel, everything after the cursor is delivered here (`clear`) and what was delivered
   * after it is still in hand (`recent`). An empty list means the cursor is the predecessor of
   * whatever comes next, so the waiter can be held and answered from the next events in hand;
   * events (in `seq` order) answer it at once. Undefined when the log must be read. (A position is
   * one in a partition: events on the partition's other channels move it, so this is judged per channel.)
   */
  eventsInHand(waiter: PollWaiter): Delivery[] | undefined {
    let found: Delivery[] | undefined;
    for (const name of waiter.channels) {
      const state = this.channels.get(name);
      const at = state && waiter.at.get(state.partition);
      if (!at) return undefined;
      const { epoch, seq } = at;
      if (!state.ready || state.clearEpoch !== epoch || state.clear > seq) return undefined;
      if (state.lastEpoch === undefined || state.lastSeq <= seq) continue;
      if (state.lastEpoch !== epoch || state.evicted > seq) return undefined;
      const recent = state.recent;
      if (recent.length === 0) return undefined; // not kept since `clear` (cannot happen; read the log)
      let i = recent.length;
      while (i > 0 && recent[i - 1]!.event.seq > seq) i--;
      if (i === 0 && waiter.channels.length === 1) return recent;
      (found ??= []).push(...recent.slice(i));
    }
    if (found && waiter.channels.length > 1) found.sort((a, b) => a.event.seq - b.event.seq);
    return found ?? [];
  }

  /** Answers a registered waiter from events in hand (see {@link eventsInHand}). */
  answerFromHand(waiter: PollWaiter, deliveries: readonly Delivery[]): void {
    this.wake(waiter, deliveries, deliveriesAnswer(waiter, deliveries));
  }

  /**
   * Records that a log read of `channels`, begun after their upstream subscriptions were ready (so
   * by a waiter registered on them), saw the log at `head`: every event on them past `head` is
   * delivered here from now on.
   */
  noteClear(channels: readonly string[], epoch: string, head: number): void {
    for (const name of channels) {
      const state = this.channels.get(name);
      if (!state?.ready) continue;
      if (state.lastEpoch !== undefined && state.lastEpoch !== epoch) continue;
      if (state.clearEpoch === epoch) state.clear = Math.min(state.clear, head);
      else if (state.clearEpoch === undefined) {
        state.clearEpoch = epoch;
        state.clear = head;
      }
    }
  }

  /** Counts gaps told to one resuming client (for `stats()`), and tells the telemetry. */
  countGaps(n: number, transport = "sse", reason = "retention"): void {
    if (n <= 0) return;
    this.gaps += n;
    this.telemetry.record({ type: "gap", transport, channels: n, reason });
  }

  /** Counts a long-poll's log read (for `stats()`). */
  countPollRead(): void {
    this.pollReads++;
  }

  /**
   * Holds a registered waiter past its cursor, or past `heads` (where its read ended): events it
   * queued meanwhile past them are answered at once; otherwise it waits for the next ones, or its deadline.
   */
  holdWaiter(waiter: PollWaiter, heads?: Map<number, Mark>): void {
    if (waiter.state !== "reading") return;
    if (heads) waiter.at = heads;
    waiter.state = "held";
    const queued = waiter.queue;
    waiter.queue = [];
    const fresh = queued.filter((d) => waiter.wants(d));
    if (fresh.length > 0) {
      if (fresh.length > 1) fresh.sort((a, b) => a.event.seq - b.event.seq);
      this.wake(waiter, fresh, deliveriesAnswer(waiter, fresh));
      return;
    }
    const now = this.pollClock();
    waiter.deadline = now + waiter.waitMs;
    const key = Math.ceil(waiter.waitMs / WAIT_BUCKET_MS);
    let bucket = this.deadlines.get(key);
    if (!bucket) this.deadlines.set(key, (bucket = new Set()));
    bucket.add(waiter);
    waiter.bucket = key;
    this.held++;
    if (this.abortScanAt === -Infinity) this.abortScanAt = now + ABORT_SCAN_MS;
    if (Math.min(waiter.deadline, this.abortScanAt) < this.pollTimerAt) this.armPollTimer();
  }

  /** Answers a registered waiter (idempotent: a waiter already answered or gone is left alone). */
  answerWaiter(waiter: PollWaiter, answer: PollAnswer): void {
    if (waiter.state === "done" || !this.waiters.has(waiter)) return;
    this.removeWaiter(waiter);
    waiter.resolve(answer);
  }

  /** Lets go of a waiter without answering it (idempotent). */
  removeWaiter(waiter: PollWaiter): void {
    if (!this.waiters.delete(waiter)) return;
    if (waiter.bucket !== undefined) {
      const bucket = this.deadlines.get(waiter.bucket);
      bucket?.delete(waiter);
      if (bucket?.size === 0) this.deadlines.delete(waiter.bucket);
      waiter.bucket = undefined;
      this.held--;
    }
    for (const name of waiter.channels) {
      const state = this.channels.get(name);
      if (!state) continue;
      state.waiters.delete(waiter);
      this.releaseIfIdle(state);
    }
  }

  private wake(waiter: PollWaiter, deliveries: readonly Delivery[], answer: PollAnswer): void {
    this.pollWakes++;
    this.pollDelivered += deliveries.length;
    const namespaces = this.telemetry.namespaces;
    if (namespaces) for (const d of deliveries) this.telemetry.addDeliveries("poll", namespaces.of(d.event.channel), 1);
    this.answerWaiter(waiter, answer);
  }

  private onEvent(state: ChannelState, event: StoredEvent, epoch: string): void {
    this.see(state.partition, epoch, event.seq);
    // Where the channel is, whoever listens: a waiter's cursor is judged against it.
    if (epoch !== state.lastEpoch) {
      state.lastEpoch = epoch;
      state.lastSeq = 0;
      state.recent = [];
      state.evicted = 0;
      if (state.clearEpoch !== epoch) state.clearEpoch = undefined;
    }
    if (event.seq > state.lastSeq) state.lastSeq = event.seq;
    let delivery: Delivery | undefined;
    if (state.polled) {
      delivery = { event, epoch, partition: state.partition, envelope: undefined };
      if (state.recent.length >= RECENT_EVENTS) state.evicted = state.recent.shift()!.event.seq;
      state.recent.push(delivery);
    }
    if (this.telemetry.lagObserved) this.telemetry.lag(Math.max(0, Date.now() - event.ts) / 1000);
    if (state.subs.size > 0 && epoch !== state.epoch) {
      if (state.epoch !== undefined) this.telemetry.record({ type: "epoch.changed", subscribers: state.subs.size });
      // Rare: the first event on this channel, or the broker's log was lost and restarted. Positions
      // from the old epoch mean nothing in the new one, so its subscribers reconnect with their
      // cursor and get a `herald:gap` (reason "epoch") instead of silently skipping events.
      state.epoch = epoch;
      for (const sub of [...state.subs])
        if (sub.state === "live" && sub.at.get(state.partition)?.epoch !== epoch) this.epochChanged(sub);
    }
    for (const follower of state.followers) follower.deliver(event, epoch);
    const forSubs = state.subs.size > 0;
    const forWaiters = state.waiters.size > 0;
    if (!forSubs && !forWaiters) return;
    if (!state.dirty) {
      state.dirty = true;
      this.dirty.push(state);
    }
    if (forSubs) state.batch.push(encodeEventFrame(epoch, event, state.partition));
    if (forWaiters) state.pending.push(delivery ?? { event, epoch, partition: state.partition, envelope: undefined });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // A monotonic clock: this is scheduling, not event time, so it ignores the injected `now`.
      const wait = Math.min(this.coalesceMs, this.lastFlushAt + this.coalesceMs - performance.now());
      if (wait > 0) this.flushTimer = setTimeout(this.flush, wait);
      else setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    this.flushTimer = undefined;
    this.lastFlushAt = performance.now();
    const dirty = this.dirty;
    this.dirty = [];
    for (const state of dirty) {
      state.dirty = false;
      const frames = state.batch;
      state.batch = [];
      const deliveries = state.pending;
      state.pending = [];
      if (deliveries.length > 0 && state.waiters.size > 0) this.wakeWaiters(state, deliveries);
      if (frames.length === 0) continue;
      if (state.namespace !== undefined)
        this.telemetry.addDeliveries("sse", state.namespace, frames.length * state.subs.size);
      let bytes: Buffer | undefined;
      for (const sub of state.subs) {
        this.delivered += frames.length;
        const at = sub.channels.length === 1 ? sub.at.get(state.partition) : undefined;
        if (sub.state === "live" && at !== undefined && frames[0]!.seq > at.seq && !sub.skip) {
          // The common case: the shared bytes, as they are. (A subscriber that just went live may
          // already have the first frames from its replay; it takes the queue path below.)
          if (this.isSlow(sub)) continue;
          bytes ??= frames.length === 1 ? frames[0]!.bytes : Buffer.concat(frames.map((f) => f.bytes));
          sub.sink.write(bytes);
          this.deliveredBytes += bytes.length;
          at.seq = frames[frames.length - 1]!.seq;
        } else {
          // Replaying subscribers hold frames until their replay is written; multi-channel ones
          // gather frames from every channel of this flush and get them in one seq-ordered write
          // of the frames past their floor.
          if (sub.state === "live" && sub.queue.length === 0) this.multi.push(sub);
          for (const frame of frames) {
            sub.queue.push(frame);
            this.deliveredBytes += frame.bytes.length;
          }
        }
      }
    }
    if (this.multi.length > 0) {
      const multi = this.multi;
      this.multi = [];
      for (const sub of multi) {
        if (sub.state !== "live" || this.isSlow(sub)) continue;
        sub.drainQueue();
      }
    }
    if (this.multiWaiters.length > 0) {
      const waiters = this.multiWaiters;
      this.multiWaiters = [];
      for (const waiter of waiters) {
        if (waiter.state !== "held") continue;
        const queued = waiter.queue;
        waiter.queue = [];
        queued.sort((a, b) => a.event.seq - b.event.seq);
        this.wake(waiter, queued, deliveriesAnswer(waiter, queued));
      }
    }
  };

  /**
   * Answers the held waiters of one channel from this flush's events (in `seq` order). A
   * single-channel waiter whose floor is before all of them (the common case) gets the answer built
   * once for everyone; a waiter still reading queues them; a multi-channel one gathers them from
   * every channel of the flush and is answered once, in `seq` order, after all of them.
   */
  private wakeWaiters(state: ChannelState, deliveries: Delivery[]): void {
    const first = deliveries[0]!;
    const epoch = deliveries.every((d) => d.epoch === first.epoch) ? first.epoch : undefined;
    let shared: PollAnswer | undefined;
    for (const waiter of state.waiters) {
      const at = waiter.at.get(state.partition);
      if (
        waiter.state === "held" &&
        waiter.channels.length === 1 &&
        at !== undefined &&
        at.epoch === epoch &&
        first.event.seq > at.seq
      ) {
        // The cursor is the predecessor of these events on this channel: answer from them, as they are.
        shared ??= deliveriesAnswer(waiter, deliveries);
        this.wake(waiter, deliveries, shared);
        continue;
      }
      const fresh = deliveries.filter((d) => waiter.wants(d));
      if (fresh.length === 0) continue;
      if (waiter.state === "reading") {
        for (const d of fresh) waiter.queue.push(d);
      } else if (waiter.channels.length === 1) {
        this.wake(waiter, fresh, deliveriesAnswer(waiter, fresh));
      } else {
        if (waiter.queue.length === 0) this.multiWaiters.push(waiter);
        for (const d of fresh) waiter.queue.push(d);
      }
    }
  }

  /** Arms the one poll timer for the earliest long-poll deadline or end of grace (or stops it when there is none). */
  private armPollTimer(): void {
    let at = Infinity;
    for (const bucket of this.deadlines.values()) {
      for (const waiter of bucket) {
        if (waiter.deadline < at) at = waiter.deadline;
        break;
      }
    }
    for (const state of this.idle) {
      if (state.idleUntil! < at) at = state.idleUntil!;
      break;
    }
    if (this.held > 0 && this.abortScanAt < at) at = this.abortScanAt;
    if (at === this.pollTimerAt && this.pollTimer !== undefined) return;
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    this.pollTimerAt = at;
    if (at === Infinity) return;
    this.pollTimer = setTimeout(this.onPollTimer, Math.max(0, Math.ceil(at - this.pollClock())));
    this.pollTimer.unref?.();
  }

  private readonly onPollTimer = (): void => {
    this.pollTimer = undefined;
    this.pollTimerAt = Infinity;
    this.sweepPolls();
  };

  /**
   * Answers the long-polls whose wait is over (empty: nothing came), lets go of the ones whose client
   * left (about once a second) and of the channels whose grace ended, then re-arms the poll timer.
   * The timer calls it; tests with an injected `pollClock` may too.
   */
  sweepPolls(): void {
    const now = this.pollClock();
    if (this.held > 0 && now >= this.abortScanAt) {
      this.abortScanAt = now + ABORT_SCAN_MS;
      for (const waiter of this.waiters) if (waiter.signal?.aborted) this.answerWaiter(waiter, waiter.emptyAnswer());
    }
    for (const bucket of [...this.deadlines.values()]) {
      for (const waiter of bucket) {
        if (waiter.deadline > now) break;
        this.answerWaiter(waiter, waiter.emptyAnswer());
      }
    }
    for (const state of this.idle) {
      if (state.idleUntil! > now) break;
      this.dropChannel(state);
    }
    this.armPollTimer();
  }

  /**
   * The broker lost live events of this channel for good (its bus missed them and retention removed
   * them before it could read them back): nothing here vouches for positions on it any more. Its
   * streams end (`broker_unavailable`), so each client resumes from its cursor and is told with one
   * `herald:gap`; its held long-polls are answered empty, so their next request reads the log.
   */
  private onLost(state: ChannelState): void {
    state.clearEpoch = undefined;
    state.recent = [];
    state.evicted = 0;
    for (const sub of [...state.subs]) {
      this.close(sub, "broker_unavailable", "events of this stream were lost on the bus; reconnect to resume");
    }
    for (const waiter of [...state.waiters]) {
      if (waiter.state === "held") this.answerWaiter(waiter, waiter.emptyAnswer());
    }
    for (const follower of [...state.followers]) follower.lost?.();
  }

  /** Takes control frames (heartbeats, presence): live, or connected and held for a channel change. */
  private isOpen(sub: Subscriber): boolean {
    return sub.state === "live" || (sub.state === "replaying" && sub.connected);
  }

  private epochChanged(sub: Subscriber): void {
    this.close(sub, "epoch_changed", "the event log restarted; reconnect to learn what was lost");
  }

  /**
   * A subscriber is slow when the bytes it has not taken yet exceed the cap at the moment more
   * arrive; it is then dropped instead of written to. One burst may exceed the cap, so memory per
   * subscriber is bounded by the cap plus one flush.
   */
  private isSlow(sub: Subscriber): boolean {
    if (sub.sink.buffered() <= this.maxBufferedBytes) return false;
    this.dropped++;
    this.telemetry.record({ type: "slow_consumer", transport: "sse" });
    this.close(sub, "slow_consumer", "the client did not read fast enough; reconnect to resume");
    return true;
  }

  private readonly tick = (): void => {
    const now = this.now();
    if (now - this.lastHeartbeat >= this.heartbeatMs) {
      this.lastHeartbeat = now;
      for (const sub of this.subscribers) {
        if (this.isOpen(sub) && !this.isSlow(sub)) sub.sink.write(HEARTBEAT);
      }
    }
    if (this.rotating > 0) {
      const rotate = rotateFrame(this.retryMs);
      for (const sub of this.subscribers) {
        if (sub.deadline !== undefined && now >= sub.deadline && sub.state === "live") {
          // Like a dropped client: a reader that does not take its last bytes is torn down after
          // the grace, so its socket (and its connection slot) cannot outlive the rotation.
          sub.sink.end(rotate);
          this.closing.set(sub.sink, now + this.closeGraceMs);
          this.detach(sub, "rotate");
        }
      }
    }
    for (const [sink, until] of this.closing) {
      if (now >= until) {
        sink.destroy();
        this.closing.delete(sink);
      }
    }
    this.stopTimerIfIdle();
  };

  private ensureTimer(): void {
    if (this.timer !== undefined) return;
    this.lastHeartbeat = this.now();
    this.timer = setInterval(this.tick, Math.min(TICK_MS, this.heartbeatMs));
    this.timer.unref?.();
  }

  private stopTimerIfIdle(): void {
    if (this.timer !== undefined && this.subscribers.size === 0 && this.closing.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
