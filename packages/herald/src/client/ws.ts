/**
 * The WebSocket transport of `herald/client`, as its own entry, `herald/client/ws`: apps that stay on SSE and polling do not ship it, and `herald/client`'s
 * bundle keeps its budget. Pass what it makes as the client's `ws` option with `transport: "ws"`.
 */
export {
  createWebSocketEventSource,
  type WebSocketSourceOptions,
  type WebSocketLike,
  type WebSocketFactory,
  type ChannelAuth,
  type ClientEventSender,
} from "./websocket-event-source.js";
