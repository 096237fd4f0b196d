/**
 * Event data between the Pusher protocol and Herald's log: Pusher carries `data` as a string, the
 * broker stores JSON. Shared by the Pusher server and the hosted relays. Pure.
 */

/**
 * Pusher `data` (a string) as broker JSON: a string that is JSON is kept as that JSON (so SSE
 * subscribers get the parsed value); any other string becomes a JSON string.
 */
export function brokerJsonOfPusherData(data: string): string {
  try {
    JSON.parse(data);
    return data; // kept as sent: re-serializing could round big numbers
  } catch {
    return JSON.stringify(data);
  }
}

/**
 * Broker JSON as Pusher `data` (a string): a JSON string is sent as its text (as the `pusher` SDK
 * does for a string), anything else as its JSON.
 */
export function pusherDataOfBrokerJson(json: string): string {
  if (json.startsWith('"')) {
    try {
      const value: unknown = JSON.parse(json);
      if (typeof value === "string") return value;
    } catch {
      /* not ours: send it as it is */
    }
  }
  return json;
}
