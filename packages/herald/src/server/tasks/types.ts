/** The shape of a task's job context; the wire types live in `protocol/tasks.ts`. */
import type { StepStatus } from "../../protocol/tasks.js";

export type {
  TaskStatus,
  StepStatus,
  TaskStep,
  TaskFailure,
  TaskSnapshot,
  TaskEventMap,
  TaskEventName,
} from "../../protocol/tasks.js";

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
export { isFinalStatus as isFinished } from "../../protocol/tasks.js";
