/**
 * Validation of what is published: names from the allow-list, JSON data under a size cap, and the
 * nesting limit that every message from a browser passes (`POST …/publish`, WebSocket client events).
 */
import { Buffer } from "node:buffer";
import { HeraldError } from "../../protocol/errors.js";
import type { EventMeta } from "../../brokers/types.js";
import type { Position } from "../../protocol/cursor.js";
import { isJsonText } from "../../protocol/json-text.js";
import { assertChannelName, assertEventName } from "../../protocol/names.js";

/**
 * What publishes events: the port that long-running tasks and client messages publish through
 * (`Herald` implements it), so they depend on this, not on the instance that composes them.
 */
export interface Publisher {
  /**
   * Validates and publishes `data` (with `meta` stored beside it: a client event's sender);
   * resolves to the event's position in the log.
   */
  publishAt(channel: string, event: string, data: unknown, meta?: EventMeta): Promise<Position>;
  /**
   * Runs the checks `publishAt` runs on `data` (size, the channel map's schema) without publishing:
   * a batch is checked whole before any of it is published.
   */
  check?(channel: string, event: string, data: unknown): Promise<void>;
  /** Where the log of `channel`'s partition is now (its epoch and head), read atomically. */
  position(channel: string): Promise<Position>;
}

/**
 * Validates a publish of data already serialized: names from the allow-list, `json` one JSON value
 * (scanned, never parsed: any depth) and at most `maxBytes`. Returns `json`.
 */
export function prepareJson(channel: unknown, event: unknown, json: string, maxBytes: number): string {
  assertChannelName(channel);
  assertEventName(event);
  assertSize(json, maxBytes);
  if (!isJsonText(json)) throw new HeraldError("invalid_data", "data must be one JSON value");
  return json;
}

/** Throws `payload_too_large` when `json` is over `maxBytes` in UTF-8. */
function assertSize(json: string, maxBytes: number): void {
  // A UTF-8 byte count is between 1× and 3× the UTF-16 length: count bytes only when that range
  // straddles the cap.
  if (json.length > maxBytes || (json.length * 3 > maxBytes && Buffer.byteLength(json) > maxBytes)) {
    throw new HeraldError("payload_too_large", `data is larger than ${maxBytes} bytes once serialized`, {
      details: { limit: maxBytes },
    });
  }
}

/** Default cap on serialized `data`, in bytes. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;

/** Validates a publish call and returns `data` serialized once. Throws `HeraldError` with a `code`. */
export function preparePublish(channel: unknown, event: unknown, data: unknown, maxBytes: number): string {
  assertChannelName(channel);
  assertEventName(event);
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (cause) {
    throw new HeraldError("invalid_data", "data must be JSON-serialisable (no cycles, no BigInt)", { cause });
  }
  if (json === undefined)
    throw new HeraldError("invalid_data", "data must be JSON-serialisable (got undefined or a function)");
  assertSize(json, maxBytes);
  return json;
}

/** Deepest JSON nesting accepted in a message from a browser, by default. */
export const DEFAULT_MAX_CLIENT_DEPTH = 16;

/**
 * Nesting depth of a parsed JSON value, counting no further than `limit + 1` (iterative: no stack
 * overflow, however deep the input).
 */
export function jsonDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, level] = stack.pop()!;
    if (typeof node !== "object" || node === null) continue;
    if (level + 1 > max) max = level + 1;
    if (max > limit) return max;
    for (const child of Object.values(node)) stack.push([child, level + 1]);
  }
  return max;
}

/** Throws `invalid_data` when `value` is nested deeper than `limit`. */
export function assertDepth(value: unknown, limit: number): void {
  if (jsonDepth(value, limit) > limit) {
    throw new HeraldError("invalid_data", `data is nested deeper than ${limit} levels`, { details: { limit } });
  }
}
