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

/** Lifecycle of a subscriber: it queues live events while its replay is written, then goes live. */
export type SubscriberState = "replaying" | "live" | "closed";

/** A subscriber. Created by a transport handler; owned by the hub once attached. */
export class Subscriber {
  state: SubscriberState = "replaying";
  /** Events with `seq <= floor` were already delivered (by replay) and are skipped. */
  floor = 0;
  /** The log incarnation `floor` counts in; set when the subscriber goes live. */
  epoch: string | undefined;
  /** Live frames held while replaying, or gathered across channels within one flush. */
  queue: Frame[] = [];
  /** When set, the hub ends the stream at this time (rotation for serverless platforms). */
  deadline: number | undefined;
  /** Called once each, after the hub has let go of this subscriber. */
  readonly closeHandlers: ((reason: string) => void)[] = [];

  constructor(
    /** Unique id of this connection. */
    readonly id: string,
    /** Channels this connection follows (validated, deduplicated). */
    readonly channels: readonly string[],
    /** Where bytes go. */
    readonly sink: Sink,
    /** Who is connected, if authenticated. */
    readonly principal: Principal | null = null,
  ) {}

  /** Writes the queued frames with `seq > floor`, in `seq` order, as one chunk. */
  drainQueue(): void {
    const frames = this.queue;
    this.queue = [];
    if (frames.length === 0) return;
    if (frames.length > 1) frames.sort((a, b) => a.seq - b.seq);
    const fresh: Buffer[] = [];
    for (const frame of frames) if (frame.seq > this.floor) fresh.push(frame.bytes);
    if (fresh.length === 0) return;
    this.floor = frames[frames.length - 1]!.seq;
    this.sink.write(fresh.length === 1 ? fresh[0]! : Buffer.concat(fresh));
  }
}
