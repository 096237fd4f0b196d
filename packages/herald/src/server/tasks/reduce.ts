/**
 * The task reducer: applies one `task-{id}` event to a snapshot. Pure and dependency-free, so a
 * client can use the same function to rebuild the state from a snapshot plus live events.
 */
import type { TaskEventMap, TaskEventName, TaskSnapshot } from "./types.js";

/**
 * Returns `state` updated by `event` at broker position `seq`. Events at or below `state.seq` are
 * already in the snapshot and return it unchanged; unknown event names are ignored.
 */
export function applyTaskEvent<R>(
  state: TaskSnapshot<R>,
  event: string,
  data: unknown,
  seq: number,
  cursor: string | null = null,
  ts: number = state.updatedAt,
): TaskSnapshot<R> {
  if (seq <= state.seq) return state;
  const next: TaskSnapshot<R> = { ...state, seq, cursor, updatedAt: ts };
  switch (event as TaskEventName) {
    case "status":
      next.status = (data as TaskEventMap["status"]).status;
      break;
    case "progress":
      next.progress = (data as TaskEventMap["progress"]).progress;
      break;
    case "step": {
      const step = data as TaskEventMap["step"];
      const steps = state.steps.map((s) => (s.name === step.name ? { name: s.name, status: step.status } : s));
      if (!state.steps.some((s) => s.name === step.name)) steps.push({ name: step.name, status: step.status });
      next.steps = steps;
      break;
    }
    case "text":
      next.text = state.text + (data as TaskEventMap["text"]).chunk;
      break;
    case "result":
      next.status = "succeeded";
      next.result = (data as TaskEventMap["result"]).result as R;
      break;
    case "error":
      next.status = "failed";
      next.error = (data as TaskEventMap["error"]).error;
      break;
    default:
      return { ...state, seq, cursor };
  }
  return next;
}
