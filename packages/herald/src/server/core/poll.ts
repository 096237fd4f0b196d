/**
 * Long-polling on the hub's per-channel registry. A poll waiter attaches to the same channel
 * states (one upstream broker subscription per channel per process) as SSE subscribers, and is
 * answered from the events in hand when the hub can vouch that nothing on its channels lies between
 * its cursor and them; otherwise it reads the log once. Replies are built from each stored event's
 * JSON text as it is (never parsed, never re-stringified): one event's poll envelope is encoded once
 * and the reply built from it is shared by every waiter the same events wake.
 */
import { senderFields } from "./frames.js";
import type { Broker, StoredEvent } from "../../brokers/types.js";
import { encodeCursor, encodePosition, type Cursor } from "../../protocol/cursor.js";
import { continues, headsOf, readAfter, type PartRead } from "./partitions.js";
import type { Mark } from "./subscriber.js";
import type { GapPayload } from "../../protocol/envelope.js";
import type { Hub } from "./hub.js";
import { isJsonText } from "../../protocol/json-text.js";
import { REPLAY_LIMIT } from "./session.js";

/** Suggested delay after an answer with events: enough to batch a burst into the next answer. */
export const BUSY_RETRY_MS = 250;

/**
 * A poll answer, ready to send. `body` is the JSON text of `{ events, cursor, retryMs, gaps }`
 * (the wire shape of a poll reply, without `token`); the same string goes to every waiter one
 * flush wakes with the same events.
 */
export interface PollAnswer {
  readonly body: string;
  /** The cursor in `body` (the ETag). */
  readonly cursor: string;
  /** True when `body` carries neither events nor gaps (a conditional request may get a 304). */
  readonly empty: boolean;
  /** Number of gaps in `body`. */
  readonly gaps: number;
}

/** One event as the hub received it, with its poll envelope encoded at most once. */
export interface Delivery {
  readonly event: StoredEvent;
  readonly epoch: string;
  /** The partition of the event's channel. */
  readonly partition: number;
  /** `{"channel":…,"event":…,"id":…,"ts":…,"data":<json as stored>}`, once a poller needs it. */
  envelope: string | undefined;
}

/**
 * The poll envelope of an event (the SSE envelope, with the stored JSON text embedded as it is). A
 * stored text that is not JSON (a foreign writer on the broker) is answered as `null` data rather
 * than embedded: one bad event would make the whole answer unreadable, and every poller whose
 * cursor is before it would be stuck there.
 */
export function pollEnvelope(epoch: string, event: StoredEvent, partition: number): string {
  // Channel and event names are validated on publish to an alphabet without quotes or backslashes.
  const id = encodePosition(epoch, event.seq, partition);
  const data = isJsonText(event.json) ? event.json : "null";
  return `{"channel":"${event.channel}","event":"${event.event}","id":"${id}","ts":${event.ts}${senderFields(event)},"data":${data}}`;
}

/** The envelope of `delivery`, encoded on first use and kept. */
export function envelopeOf(delivery: Delivery): string {
  return (delivery.envelope ??= pollEnvelope(delivery.epoch, delivery.event, delivery.partition));
}

/** Builds an answer from envelopes already encoded (joined with commas). */
export function pollAnswer(
  eventsJson: string,
  cursor: string,
  retryMs: number,
  gaps: readonly GapPayload[],
): PollAnswer {
  const gapsJson = gaps.length === 0 ? "[]" : JSON.stringify(gaps);
  return {
    body: `{"events":[${eventsJson}],"cursor":"${cursor}","retryMs":${retryMs},"gaps":${gapsJson}}`,
    cursor,
    empty: eventsJson === "" && gaps.length === 0,
    gaps: gaps.length,
  };
}

/** `answer`'s body with the next single-use token added (last member, as clients have always seen it). */
export function withToken(body: string, token: string): string {
  return `${body.slice(0, -1)},"token":${JSON.stringify(token)}}`;
}

/** The answer to a first poll (no cursor): where "now" is, at once. */
export function firstAnswer(cursor: Cursor): PollAnswer {
  return pollAnswer("", encodeCursor(cursor), 0, []);
}

/**
 * The answer from one read after the cursor (atomic per partition): the events (or the gaps), and
 * the cursor past what was answered, a position per partition read. The cursor moves only past
 * what was answered, so an unchanged answer keeps its ETag.
 */
export function snapshotAnswer(parts: readonly PartRead[], cursorText: string, idleRetryMs: number): PollAnswer {
  const gaps: GapPayload[] = [];
  const next = headsOf(parts);
  let eventsJson = "";
  let count = 0;
  for (const part of parts) {
    const { snapshot, partition } = part;
    if (!continues(part)) {
      for (const channel of part.channels) gaps.push({ channel, reason: "epoch", cursor: cursorText });
      continue;
    }
    for (const channel of snapshot.trimmed) gaps.push({ channel, reason: "retention", cursor: cursorText });
    for (const event of snapshot.events) {
      const envelope = pollEnvelope(snapshot.epoch, event, partition);
      eventsJson = eventsJson === "" ? envelope : `${eventsJson},${envelope}`;
    }
    count += snapshot.events.length;
    if (snapshot.trimmed.length === 0) {
      const last = snapshot.events[snapshot.events.length - 1]?.seq ?? part.from!.seq;
      next.get(partition)!.seq = last;
    }
  }
  return pollAnswer(eventsJson, encodeCursor(next), count > 0 ? BUSY_RETRY_MS : idleRetryMs, gaps);
}

/** Lifecycle of a waiter: it reads the log (or not), is held, then answered once. */
export type PollWaiterState = "reading" | "held" | "done";

/** One long-poll request as the hub holds it. Created by {@link longPoll}; owned by the hub once added. */
export class PollWaiter {
  state: PollWaiterState = "reading";
  /**
   * Where it stands in each partition of its channels (from its cursor, then from its read's heads):
   * events at or before a position (in its epoch) are behind the cursor or in its read, never answered.
   */
  at = new Map<number, Mark>();
  /** Events received while reading, or gathered across channels within one flush. */
  queue: Delivery[] = [];
  /** When the hub answers it empty (a timeout), on the hub's poll clock. */
  deadline = Infinity;
  /** The hub's deadline bucket this waiter sits in, while held. */
  bucket: number | undefined;
  /** Settles once: the answer, or the error (the server closing). */
  readonly answered: Promise<PollAnswer>;
  private settle!: (answer: PollAnswer) => void;
  private fail!: (error: Error) => void;

  constructor(
    /** Channels it follows (validated, deduplicated). */
    readonly channels: readonly string[],
    /** Its cursor. */
    readonly cursor: Cursor,
    /** Its cursor as the client sent it (gaps name it). */
    readonly cursorText: string,
    /** How long it may be held, in ms. */
    readonly waitMs: number,
    /**
     * Aborts when the client goes away. Not listened to (an abort listener per request costs more
     * than the rest of a wake): the hub looks at held waiters' signals on its poll timer, about
     * once a second, and lets go of the ones whose client left.
     */
    readonly signal?: GoneSignal,
    /** The partition of a channel. */
    readonly partitionOf: (channel: string) => number = () => 0,
  ) {
    for (const channel of channels) {
      const partition = partitionOf(channel);
      const position = cursor.get(partition);
      if (position && !this.at.has(partition)) this.at.set(partition, { ...position });
    }
    this.answered = new Promise<PollAnswer>((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
  }

  /** True when `delivery` is past where the waiter stands (or of another epoch). */
  wants(delivery: Delivery): boolean {
    const at = this.at.get(delivery.partition);
    return at === undefined || delivery.epoch !== at.epoch || delivery.event.seq > at.seq;
  }

  /** The answer when nothing came: the cursor as it was (same ETag), come back at once. */
  emptyAnswer(): PollAnswer {
    return pollAnswer("", this.cursorText, 0, []);
  }

  /** Settles the waiter (the hub calls it once, after letting go of it). */
  resolve(answer: PollAnswer): void {
    this.state = "done";
    this.queue = [];
    this.settle(answer);
  }

  /** Fails the waiter (the hub calls it once, after letting go of it). */
  reject(error: Error): void {
    this.state = "done";
    this.queue = [];
    this.fail(error);
  }
}

/**
 * Answers `deliveries` (in `seq` order per partition, all past the waiter's position or from another
 * epoch) to a waiter: the events, or, when a partition's epoch changed under the cursor, a gap on
 * each of its channels. The answer's cursor holds the positions of the waiter's partitions only,
 * so one single-channel answer can go to every waiter the same events wake.
 */
export function deliveriesAnswer(waiter: PollWaiter, deliveries: readonly Delivery[]): PollAnswer {
  const next = new Map<number, Mark>();
  for (const [partition, at] of waiter.at) next.set(partition, { ...at });
  const moved = deliveries.find((d) => waiter.at.get(d.partition)?.epoch !== d.epoch);
  if (moved) {
    // The partition's log restarted: positions of the old epoch mean nothing now. Gaps, and a cursor
    // just before the first event seen in the new epoch, so the next poll gets it and what follows.
    const gaps = waiter.channels
      .filter((channel) => waiter.partitionOf(channel) === moved.partition)
      .map((channel) => ({ channel, reason: "epoch" as const, cursor: waiter.cursorText }));
    next.set(moved.partition, { partition: moved.partition, epoch: moved.epoch, seq: moved.event.seq - 1 });
    return pollAnswer("", encodeCursor(next), 0, gaps);
  }
  let eventsJson = "";
  for (const delivery of deliveries) {
    const envelope = envelopeOf(delivery);
    eventsJson = eventsJson === "" ? envelope : `${eventsJson},${envelope}`;
    const at = next.get(delivery.partition);
    if (at && delivery.event.seq > at.seq) at.seq = delivery.event.seq;
  }
  return pollAnswer(eventsJson, encodeCursor(next), BUSY_RETRY_MS, []);
}

/** A poll without `wait` (or whose client already left): one read. */
export async function readPoll(
  broker: Broker,
  channels: readonly string[],
  cursor: Cursor,
  cursorText: string,
  idleRetryMs: number,
): Promise<PollAnswer> {
  return snapshotAnswer(await readAfter(broker, channels, cursor, REPLAY_LIMIT), cursorText, idleRetryMs);
}

/**
 * Whether a poll's client went away: all the hub reads of a signal (an `AbortSignal` is one; the
 * Node adapter sets a plain flag, which costs a fraction of an AbortController per request).
 */
export interface GoneSignal {
  readonly aborted: boolean;
}

/**
 * A long-poll: attach a waiter to the hub's channels first (so no event can fall between), then
 * either answer it from the events in hand or hold it at once (the hub vouches for everything on
 * its channels after the cursor: nothing yet, or what it still has), or read the log once after the cursor: events or gaps are answered at once, otherwise the waiter is
 * held past the read's head. A held waiter is answered from the next events in hand, or empty
 * after `waitMs` or once the hub sees `signal` aborted (within about a second). Rejects when the broker cannot subscribe or read, or the
 * hub closes. (Not `async`: the common case, held at once, returns the waiter's own promise.)
 */
export function longPoll(
  hub: Hub,
  broker: Broker,
  channels: readonly string[],
  cursor: Cursor,
  cursorText: string,
  waitMs: number,
  signal: GoneSignal,
): Promise<PollAnswer> {
  const waiter = new PollWaiter(channels, cursor, cursorText, waitMs, signal, hub.partitionOf);
  const attaching = hub.addWaiter(waiter);
  const inHand = attaching === undefined ? hub.eventsInHand(waiter) : undefined;
  if (inHand) {
    if (inHand.length > 0) hub.answerFromHand(waiter, inHand);
    else hub.holdWaiter(waiter);
    return waiter.answered;
  }
  // Settled (by the hub closing) maybe before it is awaited below: not an unhandled rejection.
  waiter.answered.catch(() => {});
  return readThenHold(hub, broker, waiter, attaching);
}

async function readThenHold(
  hub: Hub,
  broker: Broker,
  waiter: PollWaiter,
  attaching: Promise<void> | undefined,
): Promise<PollAnswer> {
  const { channels, cursor, cursorText } = waiter;
  try {
    if (attaching) await attaching;
    if (waiter.state === "reading") {
      const inHand = hub.eventsInHand(waiter);
      if (inHand) {
        if (inHand.length > 0) hub.answerFromHand(waiter, inHand);
        else hub.holdWaiter(waiter);
      } else {
        hub.countPollRead();
        const parts = await readAfter(broker, channels, cursor, REPLAY_LIMIT);
        if (waiter.state === "reading") {
          const answer = snapshotAnswer(parts, cursorText, 0);
          if (!answer.empty) hub.answerWaiter(waiter, answer);
          else {
            // The read began after every channel's upstream was ready: each channel is known
            // complete past its head, for this waiter and the ones after it.
            for (const part of parts) hub.noteClear(part.channels, part.snapshot.epoch, part.snapshot.head);
            hub.holdWaiter(waiter, headsOf(parts));
          }
        }
      }
    }
    return await waiter.answered;
  } catch (error) {
    hub.removeWaiter(waiter);
    throw error;
  }
}
