/**
 * Tracks the resume cursor and drops events already seen (per channel), across reconnects. A cursor
 * holds a position per partition of the server's log (protocol/cursor.ts): each id the server sends
 * is merged in, partition by partition, and an event's own position is the first of its id.
 */
import { encodeCursor, parseCursor, type Cursor, type Position } from "../protocol/cursor.js";

/** See the module comment. */
export class CursorTracker {
  private readonly at = new Map<number, Position>();
  private text: string | null = null;
  private readonly last = new Map<string, Position>();

  /** The cursor to resume from, or null before the first connection. */
  get cursor(): string | null {
    return this.text;
  }

  /** Merges cursor `id` in: each of its partitions moves ahead (same epoch) or to a new epoch. */
  advance(id: string): void {
    const parsed = parseCursor(id);
    if (parsed) this.merge(parsed);
  }

  /** True the first time an event (channel, id) is seen; false for a duplicate from an overlap or replay. */
  accept(channel: string, id: string): boolean {
    const parsed = parseCursor(id);
    if (!parsed) return true;
    const own = parsed.values().next().value!;
    const last = this.last.get(channel);
    if (last && last.partition === own.partition && last.epoch === own.epoch && own.seq <= last.seq) return false;
    this.last.set(channel, own);
    this.merge(parsed);
    return true;
  }

  private merge(cursor: Cursor): void {
    let moved = false;
    for (const position of cursor.values()) {
      const current = this.at.get(position.partition);
      if (current && current.epoch === position.epoch && position.seq <= current.seq) continue;
      this.at.set(position.partition, position);
      moved = true;
    }
    if (moved) this.text = encodeCursor(this.at);
  }

  /** Forgets a channel's dedupe position (after a gap, or when it is unsubscribed). */
  forget(channel: string): void {
    this.last.delete(channel);
  }
}

/**
 * The oldest of `cursors`, partition by partition (null when one is unknown). A partition that one of
 * them lacks, or holds in another epoch, is left out: no older start is known there.
 */
export function oldest(cursors: (string | null)[]): string | null {
  let min: Map<number, Position> | null = null;
  for (const text of cursors) {
    const parsed = text === null ? null : parseCursor(text);
    if (!parsed) return null;
    if (!min) {
      min = new Map(parsed);
      continue;
    }
    for (const [partition, position] of min) {
      const other = parsed.get(partition);
      if (!other || other.epoch !== position.epoch) min.delete(partition);
      else if (other.seq < position.seq) min.set(partition, other);
    }
  }
  return min && min.size > 0 ? encodeCursor(min) : null;
}
