/** Presence for the Pusher server: the store every transport shares lives in the core. */
export {
  MemoryPresenceStore,
  type PresenceChange,
  type PresenceJoin,
  type PresenceMember,
  type PresenceStore,
} from "../server/core/presence-store.js";
