/** `herald`: the server API. */
export { createHerald, type Herald } from "./herald.js";
export type { HeraldOptions, RequestContext } from "./options.js";
export type { Principal } from "./core/subscriber.js";
export type { HubStats } from "./core/hub.js";
export { MemoryBroker, type MemoryBrokerOptions } from "../brokers/memory.js";
export type { Broker, BrokerListener, BrokerSubscription, ReadResult, StoredEvent } from "../brokers/types.js";
export { HeraldError, isHeraldError, type HeraldErrorCode } from "../protocol/errors.js";
export { errorResponse } from "./http/responses.js";
export { createClientPublisher, type ClientPublisher, type ClientPublishOptions } from "./http/client-publish.js";
export { hardenServer, HARDENED_SERVER_OPTIONS, type HardenOptions } from "./http/harden.js";
export type { CorsOptions } from "./http/cors.js";
export type { LimitOptions, RouteKind } from "./http/limits/limits.js";
export type { TrustProxy } from "./http/limits/client-ip.js";
export type { BucketOptions } from "./http/limits/token-bucket.js";
export type { EventEnvelope, GapPayload, ConnectedPayload } from "../protocol/envelope.js";
export * from "./auth/tokens/index.js";
export * from "./tasks/index.js";
export { defaultAuthorize, type DefaultAuthorizeOptions, type TaskOwnerLookup } from "./auth/authorize.js";
