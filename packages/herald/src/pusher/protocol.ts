/** Pusher protocol 7 frames and close codes (pusher-websockets-protocol). */

/** Close and error codes Herald uses. */
export const CODES = {
  /** 4001: no app with that key. */
  appNotFound: 4001,
  /** 4005: the path is not `/app/{key}`. */
  pathNotFound: 4005,
  /** 4007: protocol version not supported. */
  unsupportedProtocol: 4007,
  /** 4008: no protocol version given. */
  noProtocol: 4008,
  /** 4009: unauthorized (bad sign-in, or terminated by the app). */
  unauthorized: 4009,
  /** 4100: over capacity (connection cap, or a client too slow to read); reconnect after backoff. */
  overCapacity: 4100,
  /** 4200: generic "reconnect now" (the server is shutting down). */
  reconnect: 4200,
  /** 4201: the client did not answer `pusher:ping`. */
  pongNotReceived: 4201,
  /** 4301: client event rate limit (sent as `pusher:error`, the connection stays open). */
  clientEventRateLimit: 4301,
} as const;

/** A server → client frame: `data` is a JSON-encoded string, except where the protocol embeds JSON. */
export function frame(event: string, data: unknown, channel?: string): string {
  const message: Record<string, unknown> = { event };
  if (channel !== undefined) message.channel = channel;
  message.data = typeof data === "string" ? data : JSON.stringify(data);
  return JSON.stringify(message);
}

/**
 * `pusher:error`. Unlike other frames its `data` is an object (`{code, message}`), as Pusher sends
 * it and pusher-js reads it.
 */
export function errorFrame(code: number | null, message: string): string {
  return JSON.stringify({ event: "pusher:error", data: { code, message } });
}

/** A client → server frame, parsed leniently: `data` may be an object (pusher-js) or a JSON string. */
export interface ClientFrame {
  event: string;
  channel?: string;
  data: unknown;
}

/** Parses a client frame; null when it is not `{event: string, …}` JSON. */
export function parseClientFrame(text: string): ClientFrame | null {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof message !== "object" || message === null) return null;
  const { event, channel, data } = message as Record<string, unknown>;
  if (typeof event !== "string") return null;
  let parsed = data;
  if (typeof data === "string" && !event.startsWith("client-")) {
    try {
      parsed = JSON.parse(data);
    } catch {
      /* keep the string */
    }
  }
  return { event, channel: typeof channel === "string" ? channel : undefined, data: parsed };
}
