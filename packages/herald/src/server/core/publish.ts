/** Validation of what `publish()` accepts: names from the allow-list, JSON data under a size cap. */
import { Buffer } from "node:buffer";
import { HeraldError } from "../../protocol/errors.js";
import { assertChannelName, assertEventName } from "../../protocol/names.js";

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
  // A UTF-8 byte count is between 1× and 3× the UTF-16 length: count bytes only when that range
  // straddles the cap.
  if (json.length > maxBytes || (json.length * 3 > maxBytes && Buffer.byteLength(json) > maxBytes)) {
    throw new HeraldError("payload_too_large", `data is larger than ${maxBytes} bytes once serialized`, {
      details: { limit: maxBytes },
    });
  }
  return json;
}
