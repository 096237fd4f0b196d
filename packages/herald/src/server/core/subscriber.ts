/** One connected client as the hub sees it: its channels, its sink, and where it is in the log. */
import { Buffer } from "node:buffer";
import type { Frame } from "./frames.js";
import type { Sink } from "./sink.js";

/** Who is on the other end, as established by authentication. */
export interface Principal {
  /** The app's user id. */
  readonly userId: string;
  /** Anything else the app attached at authentication. */
  readonly [key: string]: unknown;
}

/**
 * Lifecycle of a subscriber: it queues live events while its replay is written, then goes live. A
 * live subscriber whose channels change replays again (the added channels' catch-up) and goes live again.
 */
export type SubscriberState = "replaying" | "live" | "closed";

/** A subscriber. Created by a transport handler; owned by the hub once attached. */
export class Subscriber {
  state: SubscriberState = "replaying";
  /** True once `herald:connected` was written: from then on it takes heartbeats and presence frames, even while replaying. */
  connected = false;
  /** Events with `seq <= floor` were already delivered (by replay) and are skipped. */
  floor = 0;
  /**
   * Channels added to the open stream, each with the `seq` its catch-up covered: their live events
   * at or before it are skipped (they were in the catch-up). Entries go once `floor` passes them.
   */
  skip: Map<string, number> | undefined;
  /** The log incarnation `floor` counts in; set when the subscriber goes live. */
  epoch: string | undefined;
  /** Live frames held while replaying, or gathered across channels within one flush. */
  queue: Frame[] = [];
  /** When set, the hub ends the stream at this time (rotation for serverless platforms). */
  deadline: number | undefined;
  /** Called once each, after the hub has let go of this subscriber. */
  readonly closeHandlers: ((reason: string) => void)[] = [];

  constructor(
    /** Unique id of this connection (random: it is what a channel change names the stream by). */
    readonly id: string,
    /** Channels this connection follows (validated, deduplicated); the hub replaces it when they change. */
    public channels: readonly string[],
    /** Where bytes go. */
    readonly sink: Sink,
    /** Who is connected, if authenticated. */
    readonly principal: Principal | null = null,
  ) {}

  /** Writes the queued frames with `seq > floor` (and past their channel's `skip`), in `seq` order, as one chunk. */
  drainQueue(): void {
    const frames = this.queue;
    this.queue = [];
    if (frames.length === 0) return;
    if (frames.length > 1) frames.sort((a, b) => a.seq - b.seq);
    const fresh: Buffer[] = [];
    const skip = this.skip;
    for (const frame of frames) {
      if (frame.seq > this.floor && !(skip && frame.seq <= (skip.get(frame.channel) ?? 0))) fresh.push(frame.bytes);
    }
    this.floor = Math.max(this.floor, frames[frames.length - 1]!.seq);
    if (skip) {
      for (const [channel, seq] of skip) if (seq <= this.floor) skip.delete(channel);
      if (skip.size === 0) this.skip = undefined;
    }
    if (fresh.length === 0) return;
    this.sink.write(fresh.length === 1 ? fresh[0]! : Buffer.concat(fresh));
  }
}
