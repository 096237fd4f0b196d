"use client";
/**
 * `herald/react`: a provider and hooks over `herald/client`, headless (no markup, no styles).
 * Imports only `client`, `protocol` and React: never server code or Node built-ins.
 */
export {
  HeraldProvider,
  HeraldContext,
  useHerald,
  useHeraldClient,
  type HeraldProviderProps,
  type HeraldProviderOptions,
  type HeraldContextValue,
} from "./provider.js";
export { useEvent, type EventCallback } from "./use-event.js";
export {
  useChannel,
  channelStatus,
  type ChannelState,
  type ChannelStatus,
  type UseChannelOptions,
} from "./use-channel.js";
export { useConnectionStatus, type ConnectionStatus } from "./use-connection-status.js";
export { useHistory, type HistoryState, type HistoryStatus, type UseHistoryOptions } from "./use-history.js";
export {
  createHeraldHooks,
  type TypedHooks,
  type HeraldHooksOptions,
  type PresenceInfoMap,
  type PresenceInfo,
  type TypedPresenceMember,
  type TypedPresenceState,
} from "./typed.js";
export type { ReceiveValidation } from "./validate.js";
export type { Channels, ChannelMap, StandardSchemaV1 } from "../protocol/channels.js";
export { usePresence, NO_PRESENCE } from "./use-presence.js";
export { useClientEvent } from "./use-client-event.js";
export { useTasks, type TasksState, type UseTasksOptions, type StartedTask } from "./use-tasks.js";
export { HeraldError, isHeraldError, type HeraldErrorCode } from "../protocol/errors.js";
export { useTask, type TaskState, type UseTaskOptions, type UseTaskStatus } from "./use-task.js";
export {
  createConnectionStore,
  IDLE_SNAPSHOT,
  type ConnectionSnapshot,
  type ConnectionStore,
} from "./connection-store.js";
export {
  applyTaskEvent,
  isFinalStatus,
  seqOfId,
  type TaskSnapshot,
  type TaskStatus,
  type TaskStep,
  type StepStatus,
  type TaskRefusal,
  type TaskStartResult,
} from "./task-state.js";
export type {
  ConnectionState,
  EventEnvelope,
  HeraldClient,
  HeraldClientOptions,
  PresenceMember,
  PresenceState,
} from "../client/index.js";
