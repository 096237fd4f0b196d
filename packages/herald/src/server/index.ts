/** `herald`: the server API. */
export { createHerald, type Herald } from "./herald.js";
export type { HeraldOptions, RequestContext } from "./options.js";
export type { Principal } from "./subscriber.js";
export type { HubStats } from "./hub.js";
export { MemoryBroker, type MemoryBrokerOptions } from "../brokers/memory.js";
export type { Broker, BrokerListener, BrokerSubscription, ReadResult, StoredEvent } from "../brokers/types.js";
export { HeraldError, isHeraldError, type HeraldErrorCode } from "../protocol/errors.js";
export { errorResponse } from "./responses.js";
export { createClientPublisher, type ClientPublisher, type ClientPublishOptions } from "./client-publish.js";
export { hardenServer, HARDENED_SERVER_OPTIONS, type HardenOptions } from "./harden.js";
export type { CorsOptions } from "./cors.js";
export type { LimitOptions } from "./limits/limits.js";
export type { BucketOptions } from "./limits/token-bucket.js";
export type { EventEnvelope, GapPayload, ConnectedPayload } from "../protocol/envelope.js";
export * from "./tokens/index.js";
export * from "./tasks/index.js";
export { defaultAuthorize, type DefaultAuthorizeOptions, type TaskOwnerLookup } from "./authorize.js";
