/**
 * Positions and resume cursors. The log has one or more partitions (protocol/partition.ts), each
 * with its own sequence and epoch: an event's position is (partition, epoch, seq), written
 * `{partition}:{epoch}-{seq}`, or `{epoch}-{seq}` for partition 0. `epoch` names one incarnation of
 * a partition's log; when it changes, the positions it numbered are gone and the subscriber gets a
 * gap event instead of silence.
 *
 * A cursor holds one position per partition, written as positions joined by `.`; it resumes any set
 * of channels: for each channel, replay what has a higher `seq` than the cursor's position in the
 * channel's partition. With one partition a cursor is a single `{epoch}-{seq}`. The first position
 * of an event's `id` is the event's own (the rest are where the connection stands in its other
 * partitions), so a client reads an event's position from its id without knowing the partitions.
 */
import { HeraldError } from "./errors.js";
import { MAX_PARTITIONS } from "./partition.js";

/** A position in one partition's log. */
export interface Position {
  readonly partition: number;
  readonly epoch: string;
  readonly seq: number;
}

/** A decoded cursor: a position per partition, in the order written. */
export type Cursor = ReadonlyMap<number, Position>;

const EPOCH = /^[a-z0-9]{1,24}$/;
const POSITION = /^(?:(0|[1-9][0-9]{0,2}):)?([a-z0-9]{1,24})-(0|[1-9][0-9]{0,15})$/;
/** Longest one position written: `255:` and a 24-character epoch and 16 digits. */
const MAX_POSITION_LENGTH = 46;
/** Longest string `decodeCursor` will look at (a position in every partition); anything longer is rejected unparsed. */
export const MAX_CURSOR_LENGTH = MAX_PARTITIONS * (MAX_POSITION_LENGTH + 1);

/**
 * Formats one position (an event's id, or a one-partition cursor). Positions come from the broker:
 * one that cannot be written (its epoch outside `[a-z0-9]{1,24}`, its seq not a safe integer: the
 * broker's data is damaged) throws a plain `Error`, an internal error, never a line break in a
 * stream.
 */
export function encodePosition(epoch: string, seq: number, partition = 0): string {
  if (!EPOCH.test(epoch) || !Number.isSafeInteger(seq) || seq < 0)
    throw new Error(`herald: cannot write the position ${JSON.stringify(epoch)}-${seq} (damaged broker data)`);
  return partition === 0 ? `${epoch}-${seq}` : `${partition}:${epoch}-${seq}`;
}

/** Formats a cursor as sent in the SSE `id:` field and poll responses; `first`: the partition written first. */
export function encodeCursor(cursor: Cursor, first?: number): string {
  const lead = first === undefined ? undefined : cursor.get(first);
  let text = lead ? encodePosition(lead.epoch, lead.seq, lead.partition) : "";
  for (const p of cursor.values()) {
    if (p === lead) continue;
    const one = encodePosition(p.epoch, p.seq, p.partition);
    text = text === "" ? one : `${text}.${one}`;
  }
  return text;
}

/** A cursor of one position. */
export function cursorOf(position: Position): Cursor {
  return new Map([[position.partition, position]]);
}

/**
 * Parses a cursor, or null when it is malformed or oversized (longer than {@link MAX_CURSOR_LENGTH}),
 * or names a partition twice or out of range, or a position past the safe integers.
 */
export function parseCursor(text: string): Cursor | null {
  if (text.length > MAX_CURSOR_LENGTH) return null;
  const cursor = new Map<number, Position>();
  for (const part of text.split(".")) {
    const match = POSITION.exec(part);
    const partition = Number(match?.[1] ?? 0);
    const seq = Number(match?.[3]);
    if (!match || partition >= MAX_PARTITIONS || cursor.has(partition) || !Number.isSafeInteger(seq)) return null;
    cursor.set(partition, { partition, epoch: match[2]!, seq });
  }
  return cursor;
}

/**
 * Parses a cursor from untrusted input (`Last-Event-ID`, `lastEventId` query). Throws
 * `HeraldError("invalid_cursor")` for whatever {@link parseCursor} refuses.
 */
export function decodeCursor(text: string): Cursor {
  const cursor = parseCursor(text);
  if (!cursor)
    throw new HeraldError(
      "invalid_cursor",
      "a cursor is positions `{epoch}-{seq}` (`{partition}:{epoch}-{seq}` past partition 0) joined by `.`, each partition once",
    );
  return cursor;
}

/** The first position of `text` (an event id: the event's own position), or null when malformed. */
export function parsePosition(text: string): Position | null {
  const end = text.indexOf(".");
  const first = parseCursor(end < 0 ? text : text.slice(0, end));
  return first ? first.values().next().value! : null;
}

/** Makes a fresh epoch: time plus randomness, so two broker incarnations never share one. */
export function newEpoch(now: number = Date.now(), random: () => number = Math.random): string {
  const rand = Math.floor(random() * 36 ** 6)
    .toString(36)
    .padStart(6, "0");
  return `${now.toString(36)}${rand}`;
}
