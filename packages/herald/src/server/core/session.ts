/**
 * Opening a stream for a subscriber: attach to the hub (live events queue up), take one atomic
 * snapshot of the log (its head, and the events after the cursor), write the replay (or gap
 * events), announce `herald:connected` with the head as the cursor, then release the queued live
 * events that are past the head. Every event on the subscriber's channels is either at or before
 * the head (so in the snapshot) or after it (so delivered live): none falls between. A channel
 * added to the open stream later is caught up with the same {@link writeReplay} (core/channel-change.ts).
 */
import { Buffer } from "node:buffer";
import type { Broker } from "../../brokers/types.js";
import { encodeCursor, type Cursor } from "../../protocol/cursor.js";
import { connectedFrame, encodeEventFrame, gapFrame, idLine } from "./frames.js";
import type { Hub } from "./hub.js";
import { continues, headsOf, readAfter, startsOf, type PartRead } from "./partitions.js";
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
  const parts = await readAfter(broker, sub.channels, resume ? cursor : null, REPLAY_LIMIT);
  if (sub.state !== "replaying") return; // the client left while we were reading
  const frames = resume ? await writeReplay(hub, sub, parts, cursorText, true) : [];
  if (frames === undefined || sub.state !== "replaying") return;
  const heads = headsOf(parts);
  const at = encodeCursor(await hub.cursorWith(heads));
  if (sub.state !== "replaying") return;
  frames.push(
    connectedFrame({
      connectionId: sub.id,
      cursor: at,
      channels: [...sub.channels],
      retry: retryMs,
      heartbeat: heartbeatMs,
    }),
  );
  hub.goLive(sub, Buffer.concat(frames), heads);
}

/**
 * Writes the replay of `parts` (read after the cursor `cursorText`) to a replaying `sub`: one
 * `herald:gap` per channel of a partition whose position the cursor lacks or whose epoch is gone,
 * else one per channel retention trimmed and the events, in pieces. Returns the frames left to
 * write (under a piece: the caller writes them with what follows), or undefined when the client is
 * gone or was dropped. `resume`: count it as a resume in the telemetry (a new connection's, not a
 * channel added to an open one).
 */
export async function writeReplay(
  hub: Hub,
  sub: Subscriber,
  parts: readonly PartRead[],
  cursorText: string,
  resume: boolean,
): Promise<Buffer[] | undefined> {
  let frames: Buffer[] = [];
  let pending = 0;
  /** Queues a frame; writes the queue once it reaches a piece. False when the client is gone or dropped. */
  const push = async (frame: Buffer, force = false): Promise<boolean> => {
    if (frame.length > 0) frames.push(frame);
    pending += frame.length;
    if (pending === 0 || (pending < REPLAY_PIECE_BYTES && !force)) return true;
    const piece = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
    frames = [];
    pending = 0;
    return hub.writeReplay(sub, piece);
  };
  let gaps = 0;
  for (const part of parts) {
    if (continues(part)) continue;
    for (const channel of part.channels) frames.push(gapFrame({ channel, reason: "epoch", cursor: cursorText }));
    hub.countGaps(part.channels.length, "sse", "epoch");
    gaps += part.channels.length;
  }
  for (const part of parts) {
    if (!continues(part)) continue;
    const { snapshot } = part;
    for (const channel of snapshot.trimmed) frames.push(gapFrame({ channel, reason: "retention", cursor: cursorText }));
    hub.countGaps(snapshot.trimmed.length, "sse", "retention");
    gaps += snapshot.trimmed.length;
  }
  if (resume) hub.telemetry.record({ type: "resume", transport: "sse", result: gaps > 0 ? "gap" : "recovered" });
  // Of several partitions, each event's id is the cursor so far: the event's own position first, the
  // partitions replayed before it at their last event, the others where the replay starts.
  const several = parts.length > 1;
  const at = startsOf(parts);
  for (const part of parts) {
    if (!continues(part)) continue;
    const { snapshot, partition } = part;
    const mark = at.get(partition)!;
    for (const event of snapshot.events) {
      const frame = encodeEventFrame(snapshot.epoch, event, partition);
      mark.seq = event.seq;
      if (!(await push(several ? Buffer.concat([idLine(encodeCursor(at, partition)), frame.body]) : frame.bytes)))
        return;
    }
  }
  if (pending >= REPLAY_PIECE_BYTES / 4 && !(await push(Buffer.alloc(0), true))) return;
  return frames;
}
