/**
 * The transport the demo's client is told to use: `auto` (SSE, falling back to long-polling by
 * itself), or forced `sse` / `poll`. Chosen with `?transport=` on any page (middleware.ts stores it)
 * or the header's setting; kept in a cookie so the server renders the provider with it (no
 * remount after hydration). Imports nothing of Node or Next: used on both sides.
 */
export type TransportChoice = "auto" | "sse" | "poll";

/** Cookie holding the choice. */
export const TRANSPORT_COOKIE = "herald_demo_transport";
/** Request header set by middleware.ts when the URL carries `?transport=`. */
export const TRANSPORT_HEADER = "x-demo-transport";

/** The choice in `value`, or null when it is not one. */
export function parseTransport(value: string | null | undefined): TransportChoice | null {
  return value === "auto" || value === "sse" || value === "poll" ? value : null;
}

/**
 * How the chat talks: `sse` (the default) on the tab's one connection, like every other page
 * (presence and typing work on it), or `ws` on a WebSocket of its own to Herald's Pusher-compatible
 * server. Chosen with `?chat=ws` / `?chat=sse` on any page (middleware.ts stores it).
 */
export type ChatTransport = "sse" | "ws";
/** Cookie holding the chat's choice. */
export const CHAT_COOKIE = "herald_demo_chat";
/** Request header set by middleware.ts when the URL carries `?chat=`. */
export const CHAT_HEADER = "x-demo-chat";

/** The chat transport in `value`, or null when it is not one. */
export function parseChatTransport(value: string | null | undefined): ChatTransport | null {
  return value === "sse" || value === "ws" ? value : null;
}
