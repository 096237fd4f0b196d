/**
 * Changing the channels of an open stream without reconnecting. The stream's live events are held
 * (they queue, as while it replays), the added channels attached to the hub, and one snapshot of
 * their log read after the client's cursor; their presence is joined. Only then, when nothing can
 * fail any more, the removed channels are let go, the added channels' catch-up (or `herald:gap`) is
 * written as a new connection's replay is (core/session.ts), and the held events are released,
 * each past its own position: an added channel's past its partition's head (anything up to it was in
 * the catch-up), the others' past what the stream already got (`Subscriber.skip`). So no event of
 * an added channel falls between its catch-up and its live events, none is sent twice, and the
 * channels the stream kept lose nothing. A change that fails changes nothing.
 */
import { Buffer } from "node:buffer";
import type { Broker } from "../../brokers/types.js";
import type { Cursor } from "../../protocol/cursor.js";
import { HeraldError } from "../../protocol/errors.js";
import type { Hub } from "./hub.js";
import type { SsePresence } from "./presence.js";
import { headsOf, readAfter, type PartRead } from "./partitions.js";
import { REPLAY_LIMIT, writeReplay } from "./session.js";
import type { Subscriber } from "./subscriber.js";

/** What a change asks for. */
export interface ChannelChange {
  /** The stream's complete new set of channels (validated, deduplicated, authorized). */
  readonly channels: readonly string[];
  /** Where the added channels' catch-up starts (null: they start now, as a new connection without a cursor). */
  readonly cursor: Cursor | null;
  /** The cursor as sent (echoed in gap events). */
  readonly cursorText: string | null;
}

/** The error when the stream is gone (or went while the change was made). */
export function streamGone(): HeraldError {
  return new HeraldError("unknown_connection", "no open stream with this connectionId on this server");
}

/**
 * Changes `sub`'s channels to `change.channels`; resolves once the added channels' catch-up is
 * written and they are live. `presence` (made on first use) joins and leaves `presence-*` channels.
 * Rejects (changing nothing) with `unknown_connection` when the stream is not live or closes
 * meanwhile, `broker_unavailable`, `forbidden` (a full presence channel), or `epoch_changed` (the
 * log restarted under the stream, which is then closed, as the hub would on its next event).
 * Changes of one stream must not overlap (the caller runs them one after another).
 */
export async function changeChannels(
  hub: Hub,
  broker: Broker,
  sub: Subscriber,
  change: ChannelChange,
  presence: () => SsePresence,
): Promise<void> {
  const current = new Set(sub.channels);
  const wanted = new Set(change.channels);
  const added = change.channels.filter((c) => !current.has(c));
  const removed = sub.channels.filter((c) => !wanted.has(c));
  if (!hub.hold(sub)) throw streamGone();
  const { cursor, cursorText } = change;
  const resume = cursor !== null && cursorText !== null;
  let parts: PartRead[] | undefined;
  let joined: string[] = [];
  try {
    if (added.length > 0) {
      await hub.addChannels(sub, added);
      parts = await readAfter(broker, added, resume ? cursor : null, REPLAY_LIMIT);
      if (sub.state !== "replaying") throw streamGone();
      const moved = (part: PartRead) => {
        const at = sub.at.get(part.partition);
        return at !== undefined && at.epoch !== part.snapshot.epoch;
      };
      if (parts.some(moved)) {
        hub.close(sub, "epoch_changed", "the event log restarted; reconnect to learn what was lost");
        throw new HeraldError("epoch_changed", "the event log restarted; reconnect to learn what was lost");
      }
      if (added.some((c) => c.startsWith("presence-"))) joined = await presence().enter(sub, added);
      if (sub.state !== "replaying") throw streamGone();
    }
  } catch (error) {
    hub.removeChannels(sub, added);
    hub.goLive(sub, Buffer.alloc(0));
    throw error;
  }
  // Nothing below can fail but the stream itself.
  hub.removeChannels(sub, removed);
  if (removed.some((c) => c.startsWith("presence-"))) presence().leave(sub, removed);
  sub.channels = [...change.channels];
  let frames: Buffer[] | undefined = [];
  if (parts) {
    const skip = (sub.skip ??= new Map());
    for (const part of parts) for (const channel of part.channels) skip.set(channel, part.snapshot.head);
    if (resume) frames = await writeReplay(hub, sub, parts, cursorText, false);
  }
  if (frames === undefined || sub.state !== "replaying") throw streamGone();
  hub.goLive(sub, Buffer.concat(frames), parts ? headsOf(parts) : undefined);
  if (joined.length > 0) await presence().announce(sub, joined);
}
