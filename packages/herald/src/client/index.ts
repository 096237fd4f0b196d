/** `herald/client`: the browser client. Imports only `protocol`; never server code or Node built-ins. */
export {
  createHeraldClient,
  type HeraldClient,
  type HeraldClientOptions,
  type EventHandler,
  type ClientEvents,
  type ClientTransport,
  type PresenceState,
  type TokenResult,
} from "./client.js";
export { FetchEventSource, type FetchErrorDetail } from "./fetch-event-source.js";
export { createPollEventSource, type PollOptions } from "./poll-event-source.js";
export { pollUrlOf } from "./routes.js";
export type { TransportKind, NegotiationOptions } from "./transport.js";
export { backoffDelay, type BackoffOptions } from "./backoff.js";
export type { ConnectionState, Transition } from "./state.js";
export type { EventSourceFactory, EventSourceLike, Timers, OnlineTarget, VisibilityTarget } from "./types.js";
export { HeraldError, isHeraldError } from "../protocol/errors.js";
export type {
  EventEnvelope,
  GapPayload,
  ConnectedPayload,
  ErrorPayload,
  PresenceMember,
  PresencePayload,
} from "../protocol/envelope.js";
