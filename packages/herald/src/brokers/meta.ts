/** Event metadata (`EventMeta`) as the brokers store it beside an event. */
import type { EventMeta } from "./types.js";

/** True when `meta` carries anything. */
export function hasMeta(meta: EventMeta | undefined): meta is EventMeta {
  return meta !== undefined && (meta.exclude !== undefined || meta.userId !== undefined);
}

/** `meta` as stored beside an event (`""` when empty); {@link decodeMeta} reads it back. Never holds a newline. */
export function encodeMeta(meta: EventMeta | undefined): string {
  if (!hasMeta(meta)) return "";
  const out: { x?: string; u?: string } = {};
  if (meta.exclude !== undefined) out.x = meta.exclude;
  if (meta.userId !== undefined) out.u = meta.userId;
  return JSON.stringify(out);
}

/** Reads what {@link encodeMeta} wrote (undefined for `""` or anything unreadable). */
export function decodeMeta(text: string | undefined): EventMeta | undefined {
  if (!text) return undefined;
  try {
    const { x, u } = JSON.parse(text) as { x?: unknown; u?: unknown };
    const meta: { exclude?: string; userId?: string } = {};
    if (typeof x === "string") meta.exclude = x;
    if (typeof u === "string") meta.userId = u;
    return hasMeta(meta) ? meta : undefined;
  } catch {
    return undefined;
  }
}
