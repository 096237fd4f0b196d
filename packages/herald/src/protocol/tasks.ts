import { parsePosition } from "./cursor.js";
import type { HeraldErrorCode } from "./errors.js";

/**
 * Tasks on the wire: the snapshot shape, the `task-{id}` events and the reducer that applies them.
 * Shared by `server/tasks` and `react` (which may not import server code).
 */

/** Lifecycle of a task. `succeeded`, `failed` and `canceled` are final. */
export type TaskStatus = "queued" | "running" | "succeeded" | "failed" | "canceled";

/** Lifecycle of one named step. */
export type StepStatus = "pending" | "active" | "done" | "failed";

/** One named step of a task. */
export interface TaskStep {
  name: string;
  status: StepStatus;
}

/** Why a task failed. */
export interface TaskFailure {
  message: string;
}

/**
 * A task's state, as stored and as returned by `get`. `seq` is the broker position of the last
 * event applied to it: a client that took this snapshot applies only live events with a higher
 * position (or subscribes with `lastEventId: cursor` to replay exactly the ones it lacks).
 */
export interface TaskSnapshot<R = unknown> {
  id: string;
  ownerId: string;
  title: string | null;
  status: TaskStatus;
  /** 0-100. */
  progress: number;
  steps: TaskStep[];
  /** Streamed text, appended chunk by chunk. */
  text: string;
  /** The job's return value once `succeeded`, else null. */
  result: R | null;
  /** Why the task failed, once `failed`, else null. */
  error: TaskFailure | null;
  createdAt: number;
  updatedAt: number;
  /** Broker position of the last event applied (0 before any). */
  seq: number;
  /** The same position as a cursor (`{epoch}-{seq}`), or null before any event. */
  cursor: string | null;
}

/**
 * Why a task was not started, for a UI to show: `too_many_tasks` (429, the per-user cap),
 * `unauthorized` (401, signed out), `invalid_request` (400), `rate_limited` (429)...
 */
export interface TaskRefusal {
  code: HeraldErrorCode;
  /** For people, e.g. "5 tasks are running; wait for one to finish." */
  message: string;
  /** The HTTP status that goes with `code`. */
  status: number;
  /** How long to wait before trying again, when waiting helps. */
  retryAfterMs?: number;
  /** For `too_many_tasks`: the cap (tasks of one user running at once). */
  limit?: number;
}

/**
 * What `herald.tasks.tryStart` resolves with (a plain object, so a Server Action can return it):
 * the started task, or the refusal. Never an exception for an expected refusal, so production
 * Next.js does not turn it into a 500 whose message it hides.
 */
export type TaskStartResult<R = unknown> =
  { ok: true; taskId: string; task: TaskSnapshot<R> } | { ok: false; error: TaskRefusal };

/**
 * Events published on `task-{id}`, by name, with their data. Each carries enough to update a
 * snapshot; {@link applyTaskEvent} is the reducer.
 */
export interface TaskEventMap {
  /** The task moved to `running` or `canceled`. */
  status: { status: TaskStatus };
  progress: { progress: number };
  /** A step was added or changed. */
  step: TaskStep;
  /** Text appended. */
  text: { chunk: string };
  /** The job returned: the task `succeeded`. */
  result: { status: "succeeded"; result: unknown };
  /** The job threw: the task `failed`. */
  error: { status: "failed"; error: TaskFailure };
}

/** Name of a task event. */
export type TaskEventName = keyof TaskEventMap;

/** True for `succeeded`, `failed` and `canceled`. */
export function isFinalStatus(status: string): status is "succeeded" | "failed" | "canceled" {
  return status === "succeeded" || status === "failed" || status === "canceled";
}

/** The position in its partition of an event id, or -1 when it is not one. */
export function seqOfId(id: string): number {
  return parsePosition(id)?.seq ?? -1;
}

/**
 * The task reducer, shared by the server (which keeps the state) and the browser (which rolls a
 * snapshot forward): returns `state` with one `task-{id}` event at broker position `seq` applied
 * (a new object), or `state` itself when the event is already included (`seq <= state.seq`).
 * Unknown events only move the position. Defensive about `data`: it arrived over the network.
 */
export function applyTaskEvent<R>(
  state: TaskSnapshot<R>,
  event: string,
  data: unknown,
  seq: number,
  ts?: number,
  cursor?: string | null,
): TaskSnapshot<R> {
  if (seq <= state.seq) return state;
  const d = (data ?? {}) as Record<string, unknown>;
  const next: TaskSnapshot<R> = { ...state, seq, cursor: cursor ?? state.cursor, updatedAt: ts ?? state.updatedAt };
  switch (event) {
    case "status":
      if (typeof d.status === "string") next.status = d.status as TaskStatus;
      if ("result" in d) next.result = d.result as R;
      if (d.error && typeof d.error === "object") next.error = d.error as TaskFailure;
      break;
    case "progress":
      if (typeof d.progress === "number") next.progress = d.progress;
      break;
    case "step": {
      const name = d.name as string;
      const status = d.status as StepStatus;
      const found = state.steps.some((s) => s.name === name);
      next.steps = found
        ? state.steps.map((s) => (s.name === name ? { name, status } : s))
        : [...state.steps, { name, status }];
      break;
    }
    case "text":
      next.text = state.text + (typeof d.chunk === "string" ? d.chunk : "");
      break;
    case "result":
      next.status = "succeeded";
      next.result = (d.result ?? null) as R;
      break;
    case "error":
      next.status = "failed";
      next.error = (d.error as TaskFailure | undefined) ?? { message: "task failed" };
      break;
    default:
      // An unknown event still moves the position, so it is not applied twice later.
      return { ...state, seq, cursor: cursor ?? state.cursor };
  }
  // Progress, a step or text is only ever published by a running task: a view that has not seen
  // its `status: running` yet (still coming, or caught up past) shows it running.
  if (next.status === "queued" && (event === "progress" || event === "step" || event === "text"))
    next.status = "running";
  return next;
}
