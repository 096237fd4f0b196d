/** Reading a subscription request (channels, cursor, token) from a URL and headers, strictly. */
import { HeraldError, type HeraldErrorCode } from "../../protocol/errors.js";
import { assertChannelName } from "../../protocol/names.js";
import { decodeCursor, type Cursor } from "../../protocol/cursor.js";

/** What a subscription request asks for. */
export interface SubscriptionRequest {
  /** Channels, validated and deduplicated, in the order given. */
  channels: string[];
  /** Where to resume, when the client sent a cursor. */
  cursor: Cursor | null;
  /** The cursor text as sent (echoed in gap events). */
  cursorText: string | null;
  /** The single-use token from the `token` query parameter, if any. */
  token: string | null;
}

/**
 * Parses `?channel=a&channel=b&lastEventId=...&token=...` plus the `Last-Event-ID` header (which
 * wins: browsers send it on their own reconnects). Throws `HeraldError` on anything invalid.
 */
export function parseSubscription(
  url: URL,
  lastEventIdHeader: string | null | undefined,
  maxChannels: number,
): SubscriptionRequest {
  const raw = url.searchParams.getAll("channel");
  if (raw.length === 0) throw new HeraldError("invalid_request", "at least one `channel` query parameter is required");
  const channels = parseChannels(raw, maxChannels);
  const header = lastEventIdHeader?.trim() || null;
  const cursorText = header ?? (url.searchParams.get("lastEventId") || null);
  const cursor = cursorText === null ? null : decodeCursor(cursorText);
  const tokens = url.searchParams.getAll("token");
  if (tokens.length > 1) throw new HeraldError("invalid_request", "send one `token` parameter");
  return { channels, cursor, cursorText, token: tokens[0] ?? null };
}

/**
 * A connection's channels: at most `maxChannels`, each a valid name (`invalid_channel`), duplicates
 * dropped, in the order given. Throws `too_many_channels` past the cap.
 */
export function parseChannels(raw: readonly unknown[], maxChannels: number): string[] {
  if (raw.length > maxChannels) {
    throw new HeraldError("too_many_channels", `at most ${maxChannels} channels per connection`, {
      details: { limit: maxChannels },
    });
  }
  const channels: string[] = [];
  for (const name of raw) {
    assertChannelName(name);
    if (!channels.includes(name)) channels.push(name);
  }
  return channels;
}

/**
 * `text` parsed as a JSON object (not an array); otherwise a `HeraldError` with `code` and the
 * message for what it was instead (`notJson`, `notObject`).
 */
export function jsonObject(
  text: string,
  code: HeraldErrorCode,
  notJson: string,
  notObject: string,
): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HeraldError(code, notJson);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new HeraldError(code, notObject);
  return value as Record<string, unknown>;
}
