/** The client's connection state machine and its transition reports. */

/**
 * `idle → connecting → connected → reconnecting → failed | closed`.
 * `reconnecting` covers both the wait before an attempt and the attempt itself.
 */
export type ConnectionState = "idle" | "connecting" | "connected" | "reconnecting" | "failed" | "closed";

/** One reported state change. */
export interface Transition {
  prev: ConnectionState;
  next: ConnectionState;
  /** Why: `connect`, `open`, `error`, `rotate`, `online`, `retry`, `unauthorized`, `forbidden`, `max_attempts`, `close`, a server error code... */
  reason: string;
  /** Reconnect attempts made since the last stable connection. */
  attempt: number;
  /** Delay before the next attempt, when one is scheduled (ms), else 0. */
  delayMs: number;
}

/** Which transitions are legal; anything else is a bug and throws. */
const ALLOWED: Record<ConnectionState, readonly ConnectionState[]> = {
  idle: ["connecting", "closed"],
  connecting: ["connected", "reconnecting", "failed", "closed", "idle"],
  connected: ["reconnecting", "failed", "closed", "idle"],
  reconnecting: ["connected", "reconnecting", "failed", "closed", "idle"],
  failed: ["connecting", "closed"],
  closed: [],
};

/** True when moving from `prev` to `next` is allowed. */
export function canTransition(prev: ConnectionState, next: ConnectionState): boolean {
  return ALLOWED[prev].includes(next);
}
