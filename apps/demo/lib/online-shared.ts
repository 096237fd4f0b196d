/** Who is online: what the server (lib/online.ts) publishes and the notifications page reads. */
import type { DemoUser } from "./users";

/** The public channel status changes are published on (signed-in readers only: `allowAnonymous: false`). */
export const ONLINE_CHANNEL = "online";
/** The event on {@link ONLINE_CHANNEL}. */
export const ONLINE_EVENT = "status";

/** A change on {@link ONLINE_CHANNEL}. */
export interface OnlineStatus {
  id: string;
  online: boolean;
  at: number;
}

/** A signed-in user with whether they are online now. */
export interface Recipient extends DemoUser {
  online: boolean;
}
