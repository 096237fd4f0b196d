/** The browser's view of tasks: the shared wire model and reducer from `protocol/tasks.ts`. */
export {
  applyTaskEvent,
  isFinalStatus,
  seqOfId,
  type TaskSnapshot,
  type TaskStatus,
  type StepStatus,
  type TaskStep,
  type TaskFailure,
  type TaskRefusal,
  type TaskStartResult,
} from "../protocol/tasks.js";
