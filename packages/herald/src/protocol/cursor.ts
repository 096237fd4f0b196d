/**
 * The resume cursor. Every event gets a position `seq` in one broker-wide sequence, so a single
 * `{epoch}-{seq}` string resumes any set of channels: for each channel, replay what has a higher
 * `seq`. `epoch` names one incarnation of the broker's log; when it changes, the positions it
 * numbered are gone and the subscriber gets a gap event instead of silence.
 */
import { HeraldError } from "./errors.js";

/** A decoded cursor. */
export interface Cursor {
  readonly epoch: string;
  readonly seq: number;
}

const EPOCH = /^[a-z0-9]{1,24}$/;
const CURSOR = /^([a-z0-9]{1,24})-(0|[1-9][0-9]{0,15})$/;
/** Longest string `decodeCursor` will look at; anything longer is rejected unparsed. */
export const MAX_CURSOR_LENGTH = 41;

/** Formats a cursor as sent in the SSE `id:` field and poll responses. */
export function encodeCursor(epoch: string, seq: number): string {
  if (!EPOCH.test(epoch)) throw new HeraldError("invalid_cursor", "epoch must be 1-24 of [a-z0-9]");
  if (!Number.isSafeInteger(seq) || seq < 0) throw new HeraldError("invalid_cursor", "seq must be a safe integer");
  return `${epoch}-${seq}`;
}

/**
 * Parses a cursor from untrusted input (`Last-Event-ID`, `lastEventId` query). Throws
 * `HeraldError("invalid_cursor")` for anything malformed or oversized.
 */
export function decodeCursor(text: string): Cursor {
  if (text.length > MAX_CURSOR_LENGTH) throw new HeraldError("invalid_cursor", "cursor is too long");
  const match = CURSOR.exec(text);
  if (!match) throw new HeraldError("invalid_cursor", "cursor must look like {epoch}-{seq}");
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(seq)) throw new HeraldError("invalid_cursor", "cursor position is out of range");
  return { epoch: match[1]!, seq };
}

/** Like {@link decodeCursor}, but returns null instead of throwing (for ids the server wrote). */
export function parseCursor(text: string): Cursor | null {
  try {
    return decodeCursor(text);
  } catch {
    return null;
  }
}

/** Makes a fresh epoch: time plus randomness, so two broker incarnations never share one. */
export function newEpoch(now: number = Date.now(), random: () => number = Math.random): string {
  const rand = Math.floor(random() * 36 ** 6)
    .toString(36)
    .padStart(6, "0");
  return `${now.toString(36)}${rand}`;
}
