/**
 * A task as the browser sees it, and the reducer that rolls a snapshot forward with live
 * `task-{id}` events. Mirrors the server's task model (which `react` may not import).
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

/** A task's snapshot as `GET {base}/tasks/{id}` returns it. */
export interface TaskSnapshot<R = unknown> {
  id: string;
  ownerId: string;
  title: string | null;
  status: TaskStatus;
  /** 0-100. */
  progress: number;
  steps: TaskStep[];
  /** Streamed text so far. */
  text: string;
  result: R | null;
  error: { message: string } | null;
  createdAt: number;
  updatedAt: number;
  /** Broker position of the last event applied: live events at or below it are already in. */
  seq: number;
  cursor?: string | null;
}

/** True for `succeeded`, `failed` and `canceled`. */
export function isFinalStatus(status: string): status is "succeeded" | "failed" | "canceled" {
  return status === "succeeded" || status === "failed" || status === "canceled";
}

/** The position of an event id (`{epoch}-{seq}`): the number after the last `-`, or -1. */
export function seqOfId(id: string): number {
  const seq = Number(id.slice(id.lastIndexOf("-") + 1));
  return Number.isSafeInteger(seq) ? seq : -1;
}

/**
 * Returns `state` with one live event applied (a new object), or `state` itself when the event is
 * already included (`seq <= state.seq`) or unknown.
 */
export function applyTaskEvent<R>(
  state: TaskSnapshot<R>,
  event: string,
  data: unknown,
  seq: number,
  ts?: number,
): TaskSnapshot<R> {
  if (seq <= state.seq) return state;
  const d = (data ?? {}) as Record<string, unknown>;
  const next: TaskSnapshot<R> = { ...state, seq, updatedAt: ts ?? state.updatedAt };
  switch (event) {
    case "status":
      if (typeof d.status === "string") next.status = d.status as TaskStatus;
      if ("result" in d) next.result = d.result as R;
      if (d.error && typeof d.error === "object") next.error = d.error as { message: string };
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
      next.error = (d.error as { message: string } | undefined) ?? { message: "task failed" };
      break;
    default:
      // An unknown event still moves the position, so it is not applied twice later.
      return { ...state, seq };
  }
  return next;
}
