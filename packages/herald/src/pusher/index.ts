/** `herald/pusher`: a Pusher Channels-compatible server (WebSocket protocol, HTTP API, webhooks) on Herald's bus. */
export { createPusherServer, type PusherServer, type PusherServerOptions } from "./server.js";
export { EVENT_ID_FIELD } from "./fanout.js";
export { MemoryPresenceStore, type PresenceStore, type PresenceMember } from "./presence.js";
export type { WebhookEvent, WebhookOptions } from "./webhooks.js";
export { signSocketAuth, verifySocketAuth } from "./signature.js";
export { authorizeChannel, type PresenceData } from "./authorize.js";
export {
  relayBroker,
  type RelayOptions,
  type RelayedEvent,
  type PusherRelayClient,
  type AblyRelayClient,
} from "../brokers/relay.js";
