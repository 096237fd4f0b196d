/**
 * Opening a stream for a subscriber: attach to the hub, replay from the cursor (or report a gap),
 * then announce `herald:connected` with the cursor to resume from, and go live.
 */
import { Buffer } from "node:buffer";
import type { Broker, StoredEvent } from "../brokers/types.js";
import { encodeCursor, type Cursor } from "../protocol/cursor.js";
import { connectedFrame, encodeEventFrame, gapFrame } from "./frames.js";
import type { Hub } from "./hub.js";
import type { Subscriber } from "./subscriber.js";

/** Most events replayed per channel on one resume; past it the client gets a gap for that channel. */
export const REPLAY_LIMIT = 10_000;

/** Attaches `sub` and writes its replay; resolves once it is live. */
export async function startSession(
  hub: Hub,
  broker: Broker,
  sub: Subscriber,
  cursor: Cursor | null,
  cursorText: string | null,
  retryMs: number,
): Promise<void> {
  await hub.attach(sub);
  const epoch = await broker.epoch();
  let floor = await broker.head();
  const parts: Buffer[] = [];
  if (cursor && cursorText !== null) {
    if (cursor.epoch !== epoch) {
      for (const channel of sub.channels) parts.push(gapFrame({ channel, reason: "epoch", cursor: cursorText }));
    } else {
      const replay: StoredEvent[] = [];
      for (const channel of sub.channels) {
        const { events, trimmed } = await broker.read(channel, cursor.seq, REPLAY_LIMIT);
        if (trimmed || events.length === REPLAY_LIMIT) {
          parts.push(gapFrame({ channel, reason: "retention", cursor: cursorText }));
        }
        for (const event of events) replay.push(event);
      }
      replay.sort((a, b) => a.seq - b.seq);
      for (const event of replay) {
        parts.push(encodeEventFrame(epoch, event).bytes);
        if (event.seq > floor) floor = event.seq;
      }
    }
  }
  if (sub.state !== "replaying") return; // the client left while we were reading
  parts.push(
    connectedFrame({
      connectionId: sub.id,
      cursor: encodeCursor(epoch, floor),
      channels: [...sub.channels],
      retry: retryMs,
    }),
  );
  hub.goLive(sub, Buffer.concat(parts), floor);
}
