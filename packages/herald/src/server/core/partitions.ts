/**
 * Reading the log after a cursor, partition by partition. A broker's snapshot is one atomic read of
 * one partition; a connection's channels may span several, each read after the cursor's position
 * there. Positions compare only within a partition, so each part is judged on its own: replayed,
 * trimmed, or (no position there, or one of another epoch) a gap.
 */
import type { Broker, Snapshot } from "../../brokers/types.js";
import type { Cursor, Position } from "../../protocol/cursor.js";
import { partitionOf } from "../../protocol/partition.js";
import type { Mark } from "./subscriber.js";

/** One partition's part of a read after a cursor. */
export interface PartRead {
  readonly partition: number;
  /** The channels read, all of this partition. */
  readonly channels: readonly string[];
  /** The cursor's position in this partition (undefined: it has none). */
  readonly from: Position | undefined;
  readonly snapshot: Snapshot;
}

/** The partition function of `broker`. */
export function partitionsOf(broker: Broker): (channel: string) => number {
  const partitions = broker.partitions ?? 1;
  return (channel) => partitionOf(channel, partitions);
}

/** `channels` grouped by partition, in order of first appearance. */
export function byPartition(
  channels: readonly string[],
  partition: (channel: string) => number,
): Map<number, string[]> {
  const groups = new Map<number, string[]>();
  for (const channel of channels) {
    const p = partition(channel);
    const group = groups.get(p);
    if (group) group.push(channel);
    else groups.set(p, [channel]);
  }
  return groups;
}

/**
 * Reads `channels` after `cursor` (null: only where each partition is now), one snapshot per
 * partition, at most `limit` events per channel. A partition the cursor has no position in is read
 * for its head only.
 */
export function readAfter(
  broker: Broker,
  channels: readonly string[],
  cursor: Cursor | null,
  limit: number,
): Promise<PartRead[]> {
  const groups = byPartition(channels, partitionsOf(broker));
  if (groups.size === 0) groups.set(0, []);
  return Promise.all(
    [...groups].map(async ([partition, group]) => {
      const from = cursor?.get(partition);
      const snapshot = await broker.snapshot(group, from?.seq ?? 0, from ? limit : 0);
      return { partition, channels: group, from, snapshot };
    }),
  );
}

/**
 * True when `part` continues its cursor: a position in the same epoch, not past the head (else its
 * channels get an epoch gap: a position past the head is one the log lost, as a failover may lose
 * a master's last writes, and the positions after the head will be given again).
 */
export function continues(part: PartRead): boolean {
  const { from, snapshot } = part;
  return from !== undefined && from.epoch === snapshot.epoch && from.seq <= snapshot.head;
}

/** Where each part's read ends: a position per partition at its head. */
export function headsOf(parts: readonly PartRead[]): Map<number, Mark> {
  const heads = new Map<number, Mark>();
  for (const { partition, snapshot } of parts)
    heads.set(partition, { partition, epoch: snapshot.epoch, seq: snapshot.head });
  return heads;
}

/** Where each part's replay starts: the cursor's position where the part continues it, else the head (after a gap). */
export function startsOf(parts: readonly PartRead[]): Map<number, Mark> {
  const starts = headsOf(parts);
  for (const part of parts) if (continues(part)) starts.set(part.partition, { ...part.from! });
  return starts;
}
