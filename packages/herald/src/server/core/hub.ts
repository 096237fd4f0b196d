/**
 * The hub holds this process's subscribers per channel. Each event is serialized once; what
 * arrives in one tick is coalesced into one write per subscriber; one shared timer drives
 * heartbeats, rotation and the teardown of dropped clients; a subscriber whose unread bytes pass
 * the cap is dropped (it reconnects and resumes from the log).
 */
import { Buffer } from "node:buffer";
import type { Broker, BrokerSubscription, StoredEvent } from "../../brokers/types.js";
import { HeraldError, type HeraldErrorCode } from "../../protocol/errors.js";
import { encodeEventFrame, errorFrame, HEARTBEAT, rotateFrame, type Frame } from "./frames.js";
import type { Sink } from "./sink.js";
import type { Subscriber } from "./subscriber.js";

/** Options for {@link Hub}. */
export interface HubOptions {
  /** Interval between heartbeat comments, in ms (default 15,000). */
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
}

interface ChannelState {
  readonly name: string;
  readonly subs: Set<Subscriber>;
  upstream: BrokerSubscription | undefined;
  batch: Frame[];
  /** Epoch of the last event seen on this channel. */
  epoch: string | undefined;
}

/** Counts describing the hub, for dashboards and tests. */
export interface HubStats {
  subscribers: number;
  channels: number;
  /** True while the shared timer runs (only when there is something to time). */
  timerActive: boolean;
  /** Events written to subscribers since start (one per event per subscriber). */
  delivered: number;
  /** Subscribers dropped for being too slow since start. */
  dropped: number;
  /** Ended streams (dropped, rotated, closed) whose connection is torn down once their grace ends. */
  closing: number;
}

const TICK_MS = 1000;
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
  private dropped = 0;
  /** Interval between heartbeat comments, in ms (told to every client in `herald:connected`). */
  readonly heartbeatMs: number;
  private readonly maxBufferedBytes: number;
  private readonly closeGraceMs: number;
  private readonly retryMs: number;
  private readonly coalesceMs: number;
  private readonly now: () => number;

  constructor(
    private readonly broker: Broker,
    options: HubOptions = {},
  ) {
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.closeGraceMs = options.closeGraceMs ?? 5_000;
    this.retryMs = options.retryMs ?? 1_000;
    this.coalesceMs = options.coalesceMs ?? 50;
    this.now = options.now ?? Date.now;
  }

  /**
   * Registers `sub` on its channels (queuing live events while it replays) and resolves once the
   * broker delivers live events for all of them.
   */
  async attach(sub: Subscriber): Promise<void> {
    this.subscribers.add(sub);
    if (sub.deadline !== undefined) this.rotating++;
    const ready: Promise<void>[] = [];
    for (const name of sub.channels) {
      let state = this.channels.get(name);
      if (!state) {
        state = { name, subs: new Set(), upstream: undefined, batch: [], epoch: undefined };
        this.channels.set(name, state);
        const s = state;
        state.upstream = this.broker.subscribe(name, (event, epoch) => this.onEvent(s, event, epoch));
      }
      state.subs.add(sub);
      ready.push(state.upstream!.ready);
    }
    this.ensureTimer();
    try {
      await Promise.all(ready);
    } catch (cause) {
      this.detach(sub, "broker_unavailable");
      throw new HeraldError("broker_unavailable", "the broker could not subscribe", { cause });
    }
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

  /** Writes `preamble` (the end of the replay and `herald:connected`), then the live events queued meanwhile. */
  goLive(sub: Subscriber, preamble: Uint8Array, floor: number, epoch: string): void {
    if (sub.state !== "replaying") return;
    sub.floor = floor;
    sub.epoch = epoch;
    sub.sink.write(preamble);
    sub.state = "live";
    if (sub.queue.some((frame) => frame.epoch !== epoch)) {
      this.epochChanged(sub);
      return;
    }
    sub.drainQueue();
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
      if (state.subs.size === 0) {
        state.upstream?.unsubscribe();
        this.channels.delete(name);
      }
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

  /** Ends every stream (on shutdown) and stops the timer. */
  closeAll(code: HeraldErrorCode = "server_closing", message = "the server is shutting down"): void {
    for (const sub of [...this.subscribers]) this.close(sub, code, message);
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      this.flushScheduled = false;
      this.dirty = [];
    }
    for (const sink of this.closing.keys()) sink.destroy();
    this.closing.clear();
    this.stopTimerIfIdle();
  }

  /** Counts describing the hub. */
  stats(): HubStats {
    return {
      closing: this.closing.size,
      subscribers: this.subscribers.size,
      channels: this.channels.size,
      timerActive: this.timer !== undefined,
      delivered: this.delivered,
      dropped: this.dropped,
    };
  }

  /** Number of this process's subscribers on `channel`. */
  subscriberCount(channel: string): number {
    return this.channels.get(channel)?.subs.size ?? 0;
  }

  private onEvent(state: ChannelState, event: StoredEvent, epoch: string): void {
    if (state.subs.size === 0) return;
    if (epoch !== state.epoch) {
      // Rare: the first event on this channel, or the broker's log was lost and restarted. Positions
      // from the old epoch mean nothing in the new one, so its subscribers reconnect with their
      // cursor and get a `herald:gap` (reason "epoch") instead of silently skipping events.
      state.epoch = epoch;
      for (const sub of [...state.subs]) if (sub.state === "live" && sub.epoch !== epoch) this.epochChanged(sub);
      if (state.subs.size === 0) return;
    }
    if (state.batch.length === 0) this.dirty.push(state);
    state.batch.push(encodeEventFrame(epoch, event));
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
      const frames = state.batch;
      state.batch = [];
      let bytes: Buffer | undefined;
      for (const sub of state.subs) {
        this.delivered += frames.length;
        if (sub.state === "live" && sub.channels.length === 1 && frames[0]!.seq > sub.floor) {
          // The common case: the shared bytes, as they are. (A subscriber that just went live may
          // already have the first frames from its replay; it takes the queue path below.)
          if (this.isSlow(sub)) continue;
          bytes ??= frames.length === 1 ? frames[0]!.bytes : Buffer.concat(frames.map((f) => f.bytes));
          sub.sink.write(bytes);
          sub.floor = frames[frames.length - 1]!.seq;
        } else {
          // Replaying subscribers hold frames until their replay is written; multi-channel ones
          // gather frames from every channel of this flush and get them in one seq-ordered write
          // of the frames past their floor.
          if (sub.state === "live" && sub.queue.length === 0) this.multi.push(sub);
          for (const frame of frames) sub.queue.push(frame);
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
  };

  /**
   * A subscriber is slow when the bytes it has not taken yet exceed the cap at the moment more
   * arrive; it is then dropped instead of written to. One burst may exceed the cap, so memory per
   * subscriber is bounded by the cap plus one flush.
   */
  private epochChanged(sub: Subscriber): void {
    this.close(sub, "epoch_changed", "the event log restarted; reconnect to learn what was lost");
  }

  private isSlow(sub: Subscriber): boolean {
    if (sub.sink.buffered() <= this.maxBufferedBytes) return false;
    this.dropped++;
    this.close(sub, "slow_consumer", "the client did not read fast enough; reconnect to resume");
    return true;
  }

  private readonly tick = (): void => {
    const now = this.now();
    if (now - this.lastHeartbeat >= this.heartbeatMs) {
      this.lastHeartbeat = now;
      for (const sub of this.subscribers) {
        if (sub.state === "live" && !this.isSlow(sub)) sub.sink.write(HEARTBEAT);
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
