/**
 * Opening a stream for a subscriber: attach to the hub (live events queue up), take one atomic
 * snapshot of the log (its head, and the events after the cursor), write the replay (or gap
 * events), announce `herald:connected` with the head as the cursor, then release the queued live
 * events that are past the head. Every event on the subscriber's channels is either at or before
 * the head (so in the snapshot) or after it (so delivered live): none falls between. A channel
 * added to the open stream later is caught up with the same {@link writeReplay} (core/channel-change.ts).
 */
import { Buffer } from "node:buffer";
import type { Broker, Snapshot } from "../../brokers/types.js";
import { encodeCursor, type Cursor } from "../../protocol/cursor.js";
import { connectedFrame, encodeEventFrame, gapFrame } from "./frames.js";
import type { Hub } from "./hub.js";
import type { Subscriber } from "./subscriber.js";

/** Most events replayed per channel on one resume; past it the client gets a gap for that channel. */
export const REPLAY_LIMIT = 10_000;
/**
 * Bytes of replay written at a time. Before each piece the hub checks the client's unread bytes
 * against its cap, so a replay never piles up whole in memory for a client that does not read.
 */
export const REPLAY_PIECE_BYTES = 64 * 1024;

/** Attaches `sub` and writes its replay; resolves once it is live. */
export async function startSession(
  hub: Hub,
  broker: Broker,
  sub: Subscriber,
  cursor: Cursor | null,
  cursorText: string | null,
  retryMs: number,
  heartbeatMs: number,
): Promise<void> {
  await hub.attach(sub);
  const resume = cursor !== null && cursorText !== null;
  const snapshot = await broker.snapshot(resume ? sub.channels : [], resume ? cursor.seq : 0, REPLAY_LIMIT);
  if (sub.state !== "replaying") return; // the client left while we were reading
  const parts = resume ? await writeReplay(hub, sub, snapshot, sub.channels, cursor, cursorText, true) : [];
  if (parts === undefined || sub.state !== "replaying") return;
  parts.push(
    connectedFrame({
      connectionId: sub.id,
      cursor: encodeCursor(snapshot.epoch, snapshot.head),
      channels: [...sub.channels],
      retry: retryMs,
      heartbeat: heartbeatMs,
    }),
  );
  hub.goLive(sub, Buffer.concat(parts), snapshot.head, snapshot.epoch);
}

/**
 * Writes the replay of `channels` from `snapshot` (read after `cursor`) to a replaying `sub`: one
 * `herald:gap` per channel when the cursor's epoch is gone, else one per channel retention trimmed
 * and the events, in pieces. Returns the frames left to write (under a piece: the caller writes them
 * with what follows), or undefined when the client is gone or was dropped. `resume`: count it as a
 * resume in the telemetry (a new connection's, not a channel added to an open one).
 */
export async function writeReplay(
  hub: Hub,
  sub: Subscriber,
  snapshot: Snapshot,
  channels: readonly string[],
  cursor: Cursor,
  cursorText: string,
  resume: boolean,
): Promise<Buffer[] | undefined> {
  let parts: Buffer[] = [];
  let pending = 0;
  /** Queues a frame; writes the queue once it reaches a piece. False when the client is gone or dropped. */
  const push = async (frame: Buffer, force = false): Promise<boolean> => {
    if (frame.length > 0) parts.push(frame);
    pending += frame.length;
    if (pending === 0 || (pending < REPLAY_PIECE_BYTES && !force)) return true;
    const piece = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    parts = [];
    pending = 0;
    return hub.writeReplay(sub, piece);
  };
  if (cursor.epoch !== snapshot.epoch) {
    for (const channel of channels) parts.push(gapFrame({ channel, reason: "epoch", cursor: cursorText }));
    hub.countGaps(channels.length, "sse", "epoch");
    if (resume) hub.telemetry.record({ type: "resume", transport: "sse", result: "gap" });
  } else {
    for (const channel of snapshot.trimmed) parts.push(gapFrame({ channel, reason: "retention", cursor: cursorText }));
    hub.countGaps(snapshot.trimmed.length, "sse", "retention");
    const result = snapshot.trimmed.length > 0 ? "gap" : "recovered";
    if (resume) hub.telemetry.record({ type: "resume", transport: "sse", result });
    for (const event of snapshot.events) if (!(await push(encodeEventFrame(snapshot.epoch, event).bytes))) return;
  }
  if (pending >= REPLAY_PIECE_BYTES / 4 && !(await push(Buffer.alloc(0), true))) return;
  return parts;
}
