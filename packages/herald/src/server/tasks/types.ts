/** The shape of a task, its events and its job. */

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

/** What a job can do while it runs. Calls after the task has finished (or was canceled) are ignored. */
export interface TaskContext {
  /** Aborts when the task is canceled (or the task runner shuts down). */
  readonly signal: AbortSignal;
  /** The task's id. */
  readonly id: string;
  /** Reports progress, 0-100. Throttled: rapid calls coalesce; the last value is always published. */
  progress(percent: number): void;
  /** Sets a step's status, adding the step if it is new. */
  step(name: string, status: StepStatus): void;
  /** Appends streamed text (for example tokens from a model). */
  text(chunk: string): void;
}

/** A long-running job: resolves to the task's result; throwing fails the task with `{ message }`. */
export type TaskJob<R = unknown> = (ctx: TaskContext) => Promise<R>;

/** True for the final statuses. */
export function isFinished(status: TaskStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "canceled";
}
