/** One connected client as the hub sees it: its channels, its sink, and where it is in the log. */
import { Buffer } from "node:buffer";
import { encodeCursor, type Position } from "../../protocol/cursor.js";
import { idLine, type Frame } from "./frames.js";
import type { Sink } from "./sink.js";

/** A subscriber's position in one partition (moves as events are written). */
export interface Mark extends Position {
  seq: number;
}

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
  /**
   * Where the subscriber stands in each partition its channels use (set when it goes live): events
   * at or before a partition's position were already delivered (by replay) and are skipped; its
   * epoch is the incarnation of the partition's log the position counts in. Its cursor.
   */
  at = new Map<number, Mark>();
  /**
   * Channels added to the open stream, each with the `seq` its catch-up covered: their live events
   * at or before it are skipped (they were in the catch-up). Entries go once the position passes them.
   */
  skip: Map<string, number> | undefined;
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
    /** The partition of a channel (the broker's). */
    readonly partitionOf: (channel: string) => number = () => 0,
  ) {}

  /** The position of `partition` (0 when the subscriber has none there). */
  floor(partition: number): number {
    return this.at.get(partition)?.seq ?? 0;
  }

  /**
   * Writes the queued frames past its position (and past their channel's `skip`), in `seq` order
   * within each partition, as one chunk. Of one partition, each frame goes as it was encoded; of
   * several, each with the subscriber's cursor as its `id:`, the event's own position first.
   */
  drainQueue(): void {
    const frames = this.queue;
    this.queue = [];
    if (frames.length === 0) return;
    if (frames.length > 1) frames.sort((a, b) => a.seq - b.seq);
    const fresh: Buffer[] = [];
    const skip = this.skip;
    const several = this.at.size > 1;
    for (const frame of frames) {
      const at = this.at.get(frame.partition);
      if (at === undefined || frame.seq <= at.seq) continue;
      at.seq = frame.seq;
      if (skip && frame.seq <= (skip.get(frame.channel) ?? 0)) continue;
      if (several) fresh.push(idLine(encodeCursor(this.at, frame.partition)), frame.body);
      else fresh.push(frame.bytes);
    }
    if (skip) {
      for (const [channel, seq] of skip) if (seq <= this.floor(this.partitionOf(channel))) skip.delete(channel);
      if (skip.size === 0) this.skip = undefined;
    }
    if (fresh.length === 0) return;
    this.sink.write(fresh.length === 1 ? fresh[0]! : Buffer.concat(fresh));
  }
}
