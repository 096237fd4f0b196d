/** Long-running tasks. */
export {
  createTasks,
  taskRefusal,
  tryStartWith,
  type Tasks,
  type TasksOptions,
  type StartOptions,
  type TaskLifecycleEvent,
  type TaskRefusal,
  type TaskStartResult,
} from "./tasks.js";
export { MemoryTaskStore, type TaskStore, type MemoryTaskStoreOptions } from "./store.js";
export { applyTaskEvent } from "../../protocol/tasks.js";
export {
  isFinished,
  type TaskSnapshot,
  type TaskStatus,
  type StepStatus,
  type TaskStep,
  type TaskFailure,
  type TaskEventMap,
  type TaskEventName,
  type TaskContext,
  type TaskJob,
} from "./types.js";
