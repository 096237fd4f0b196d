/** Tracks the resume cursor and drops events already seen (per channel), across reconnects. */
import { parseCursor, type Cursor } from "../protocol/cursor.js";

/** See the module comment. */
export class CursorTracker {
  private current: Cursor | null = null;
  private text: string | null = null;
  private readonly lastSeq = new Map<string, number>();

  /** The cursor to resume from, or null before the first connection. */
  get cursor(): string | null {
    return this.text;
  }

  /** Moves the cursor to `id` if it is ahead (same epoch) or from a new epoch. */
  advance(id: string): void {
    const parsed = parseCursor(id);
    if (parsed) this.moveTo(parsed, id);
  }

  /** True the first time an event (channel, id) is seen; false for a duplicate from an overlap or replay. */
  accept(channel: string, id: string): boolean {
    const parsed = parseCursor(id);
    if (!parsed) return true;
    if (this.current && parsed.epoch !== this.current.epoch) {
      this.lastSeq.clear();
    } else {
      const last = this.lastSeq.get(channel);
      if (last !== undefined && parsed.seq <= last) return false;
    }
    this.lastSeq.set(channel, parsed.seq);
    this.moveTo(parsed, id);
    return true;
  }

  private moveTo(parsed: Cursor, id: string): void {
    if (this.current && parsed.epoch === this.current.epoch && parsed.seq <= this.current.seq) return;
    if (this.current && parsed.epoch !== this.current.epoch) this.lastSeq.clear();
    this.current = parsed;
    this.text = id;
  }

  /** Forgets a channel's dedupe position (after a gap, or when it is unsubscribed). */
  forget(channel: string): void {
    this.lastSeq.delete(channel);
  }
}

/** The oldest of `cursors` (null when one is unknown, or they are of different epochs: then no older start is known). */
export function oldest(cursors: (string | null)[]): string | null {
  let min: { text: string; seq: number; epoch: string } | null = null;
  for (const text of cursors) {
    const parsed = text === null ? null : parseCursor(text);
    if (!parsed || (min && parsed.epoch !== min.epoch)) return null;
    if (!min || parsed.seq < min.seq) min = { text: text!, ...parsed };
  }
  return min?.text ?? null;
}
