/** Long-running tasks with progress, steps, streamed text and cancellation: `createTasks`. */
import { randomBytes } from "node:crypto";
import { encodePosition } from "../../protocol/cursor.js";
import { HeraldError, isHeraldError } from "../../protocol/errors.js";
import type { TaskRefusal, TaskStartResult } from "../../protocol/tasks.js";
import type { TaskOwnerLookup } from "../auth/authorize.js";
import type { Publisher } from "../core/publish.js";
import { MAX_TEXT_CHUNK, TaskPipeline } from "./run.js";
import { MemoryTaskStore, type TaskStore } from "./store.js";
import { isFinished, type StepStatus, type TaskContext, type TaskJob, type TaskSnapshot } from "./types.js";

export type { TaskRefusal, TaskStartResult };

/** Options for {@link createTasks}. */
export interface TasksOptions {
  /** Where task state is kept. Default: a new {@link MemoryTaskStore} on the same clock. */
  store?: TaskStore;
  /** How long a finished task stays readable (default 10 minutes). */
  finishedTtlMs?: number;
  /**
   * Most tasks of one user whose jobs run at once in this process (default 5). One more `start()`
   * is refused with 429 `too_many_tasks` until one of them ends. `false` turns the cap off.
   */
  maxRunningPerUser?: number | false;
  /** Least time between two `progress` events of one task (default 100 ms); the last value always goes out. */
  progressIntervalMs?: number;
  /**
   * The message a client sees when a job throws. Default: the error's `message`. Replace it if your
   * jobs' errors can carry details users should not see.
   */
  errorMessage?: (error: unknown) => string;
  /** Called when publishing or storing a task's change fails. Default: `console.error` (no payloads). */
  onError?: (error: unknown, taskId: string) => void;
  /** Clock, injectable for tests. */
  now?: () => number;
  /** Told when a job starts running on this process and when it ends (for logs and metrics; no payloads). */
  onLifecycle?: (event: TaskLifecycleEvent) => void;
}

/** What {@link TasksOptions.onLifecycle} is told. */
export type TaskLifecycleEvent =
  | { readonly type: "task.start"; readonly taskId: string }
  | {
      readonly type: "task.end";
      readonly taskId: string;
      readonly status: "succeeded" | "failed" | "canceled";
      readonly durationMs: number;
    };

/** Options for {@link Tasks.start}. */
export interface StartOptions {
  /** Shown to the user. */
  title?: string;
  /** Steps known in advance, all `pending`; `ctx.step()` can add more. */
  steps?: readonly string[];
}

/** The task runner. */
export interface Tasks extends TaskOwnerLookup {
  /**
   * Creates a task owned by `ownerId` and runs `job` detached: resolves at once with the `queued`
   * snapshot while the job keeps running after the request that started it has been answered.
   * Every change is published on `task-{id}`.
   *
   * On a long-lived Node server (`next start`, a custom server) the process outlives the request,
   * so calling `start()` from a Server Action or route handler is enough. Where the platform may
   * freeze the function once the response is sent (serverless), keep it alive until the job ends
   * with Next 15's `after()` from `next/server`:
   *
   * @example
   * ```ts
   * "use server";
   * import { after } from "next/server";
   * export async function summarize(url: string) {
   *   const userId = await requireUser();
   *   const task = await tasks.start(userId, async (ctx) => {
   *     ctx.step("fetch", "active");
   *     const page = await fetch(url, { signal: ctx.signal }).then((r) => r.text());
   *     ctx.step("fetch", "done");
   *     ctx.progress(50);
   *     return { length: page.length };
   *   }, { title: "Summarize", steps: ["fetch"] });
   *   after(() => tasks.wait(task.id, userId)); // serverless only: hold the function until it ends
   *   return task;                                // { id, cursor, ... } for the client to subscribe
   * }
   * ```
   */
  start<R>(ownerId: string, job: TaskJob<R>, options?: StartOptions): Promise<TaskSnapshot<R>>;
  /**
   * {@link Tasks.start} for a Server Action: resolves with `{ ok: true, taskId, task }`, or with
   * `{ ok: false, error: { code, message, status, retryAfterMs?, limit? } }` when the start is
   * refused (`too_many_tasks` past the per-user cap, `unauthorized` when `ownerId` is null or
   * undefined, `invalid_request`...) instead of throwing: production Next.js turns an error thrown
   * by a Server Action into an HTTP 500 and hides its message. Programmer errors (a job that is not
   * a function) still throw.
   *
   * @example
   * ```ts
   * "use server";
   * export async function startReport() {
   *   return herald.tasks.tryStart(await currentUserId(), reportJob, { title: "Monthly report" });
   * }
   * // in the browser: const started = await startReport();
   * // if (!started.ok) show(started.error.message); // "5 tasks are running; wait for one to finish."
   * ```
   */
  tryStart<R>(ownerId: string | null | undefined, job: TaskJob<R>, options?: StartOptions): Promise<TaskStartResult<R>>;
  /** The task's snapshot. `task_not_found` (404) when it is unknown, expired, or not `userId`'s. */
  get(id: string, userId: string): Promise<TaskSnapshot>;
  /**
   * Cancels the task: its job's `signal` aborts and its status becomes `canceled`. Resolves to the
   * canceled snapshot. `task_not_found` (404) as for `get`; `task_finished` (409) when it already ended.
   */
  cancel(id: string, userId: string): Promise<TaskSnapshot>;
  /** `userId`'s tasks, newest first. */
  list(userId: string): Promise<TaskSnapshot[]>;
  /**
   * Resolves with the snapshot once the task's job, when it runs in this process, has finished and
   * its last event is stored; for a job running elsewhere, with the current snapshot.
   */
  wait(id: string, userId: string): Promise<TaskSnapshot>;
  /** The owner of a task, or null when unknown or expired (for channel authorization). */
  ownerOf(id: string): Promise<string | null>;
  /** Tasks whose job is running in this process. */
  readonly running: number;
  /** Stops the default store's sweep timer (a store you passed in is yours to close). */
  close?(): void;
}

const TASK_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_TITLE_LENGTH = 500;
const MAX_STEP_NAME_LENGTH = 200;
const MAX_ERROR_LENGTH = 1000;
const STEP_STATUSES: readonly StepStatus[] = ["pending", "active", "done", "failed"];

interface Run {
  pipeline: TaskPipeline;
  controller: AbortController;
  /** Set once the task's final event is queued: later calls from the job are ignored. */
  closed: boolean;
  done: Promise<void>;
  /** When the job began running (`performance.now()`), once it has. */
  startedAt?: number;
}

/**
 * Creates a task runner that publishes through `publisher` (a `Herald`). Authorize `task-{id}`
 * channels with `defaultAuthorize({ tasks })` so only a task's owner can follow it.
 */
export function createTasks(publisher: Publisher, options: TasksOptions = {}): Tasks {
  const now = options.now ?? Date.now;
  const ownStore = options.store ? null : new MemoryTaskStore({ now });
  const store: TaskStore = options.store ?? ownStore!;
  const maxRunning = options.maxRunningPerUser === false ? Infinity : (options.maxRunningPerUser ?? 5);
  /** Running jobs per owner (reserved at the top of `start`, before any await, so a burst cannot slip past). */
  const runningByOwner = new Map<string, number>();
  const reserve = (ownerId: string): (() => void) => {
    const count = runningByOwner.get(ownerId) ?? 0;
    if (count >= maxRunning) {
      const running = maxRunning === 1 ? "1 task is running" : `${maxRunning} tasks are running`;
      throw new HeraldError("too_many_tasks", `${running}; wait for one to finish.`, {
        details: { limit: maxRunning },
        retryAfter: 5,
      });
    }
    runningByOwner.set(ownerId, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (runningByOwner.get(ownerId) ?? 1) - 1;
      if (left <= 0) runningByOwner.delete(ownerId);
      else runningByOwner.set(ownerId, left);
    };
  };
  const finishedTtlMs = options.finishedTtlMs ?? 10 * 60_000;
  const intervalMs = options.progressIntervalMs ?? 100;
  const errorMessage =
    options.errorMessage ?? ((error: unknown) => (error instanceof Error ? error.message : String(error)));
  const onError =
    options.onError ??
    ((error: unknown, taskId: string) => {
      console.error(`herald: task ${taskId}: ${error instanceof Error ? error.message : String(error)}`);
    });
  const deps = { publisher, store, finishedTtlMs, now, onError };
  const onLifecycle = options.onLifecycle;
  const ended = (run: Run, status: "succeeded" | "failed" | "canceled"): void => {
    if (run.startedAt === undefined || !onLifecycle) return;
    const durationMs = performance.now() - run.startedAt;
    onLifecycle({ type: "task.end", taskId: run.pipeline.state.id, status, durationMs });
  };
  const runs = new Map<string, Run>();

  async function owned(id: string, userId: string): Promise<TaskSnapshot> {
    const state = typeof id === "string" && TASK_ID.test(id) ? await store.get(id) : null;
    if (!state || state.ownerId !== userId) throw new HeraldError("task_not_found", "no such task");
    return state;
  }

  function runJob<R>(run: Run, job: TaskJob<R>): Promise<void> {
    const { pipeline, controller } = run;
    let pendingProgress: number | undefined;
    let lastProgressAt = -Infinity;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const flushProgress = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (pendingProgress === undefined || run.closed) return;
      lastProgressAt = now();
      void pipeline.push("progress", { progress: pendingProgress });
      pendingProgress = undefined;
    };

    const ctx: TaskContext = {
      signal: controller.signal,
      id: pipeline.state.id,
      progress(percent) {
        if (typeof percent !== "number" || !Number.isFinite(percent) || percent < 0 || percent > 100) {
          throw new RangeError("progress must be a number from 0 to 100");
        }
        if (run.closed) return;
        pendingProgress = percent;
        const elapsed = now() - lastProgressAt;
        if (percent === 100 || elapsed >= intervalMs) flushProgress();
        else timer ??= setTimeout(flushProgress, intervalMs - elapsed);
      },
      step(name, status) {
        if (typeof name !== "string" || name.length === 0 || name.length > MAX_STEP_NAME_LENGTH) {
          throw new RangeError(`step names are 1-${MAX_STEP_NAME_LENGTH} characters`);
        }
        if (!STEP_STATUSES.includes(status)) throw new RangeError(`unknown step status "${String(status)}"`);
        if (run.closed) return;
        void pipeline.push("step", { name, status });
      },
      text(chunk) {
        if (typeof chunk !== "string") throw new TypeError("text chunks are strings");
        if (run.closed || chunk.length === 0) return;
        for (let i = 0; i < chunk.length; i += MAX_TEXT_CHUNK) {
          void pipeline.push("text", { chunk: chunk.slice(i, i + MAX_TEXT_CHUNK) });
        }
      },
    };

    return (async () => {
      // Let start() answer first: the job runs on a later turn, detached from its caller.
      await new Promise<void>((resolve) => setImmediate(resolve));
      let outcome: { ok: true; value: unknown } | { ok: false; error: unknown } | undefined;
      if (!run.closed) {
        void pipeline.push("status", { status: "running" });
        run.startedAt = performance.now();
        onLifecycle?.({ type: "task.start", taskId: pipeline.state.id });
        try {
          const value = await job(ctx);
          // Store exactly what subscribers receive (JSON), so snapshot and replay agree.
          outcome = { ok: true, value: value === undefined ? null : JSON.parse(JSON.stringify(value)) };
        } catch (error) {
          outcome = { ok: false, error };
        }
      }
      if (outcome && !run.closed) {
        flushProgress();
        run.closed = true;
        ended(run, outcome.ok ? "succeeded" : "failed");
        if (outcome.ok) void pipeline.push("result", { status: "succeeded", result: outcome.value });
        else {
          const message = errorMessage(outcome.error).slice(0, MAX_ERROR_LENGTH);
          void pipeline.push("error", { status: "failed", error: { message } });
        }
      }
      if (timer !== undefined) clearTimeout(timer);
      await pipeline.drained();
    })();
  }

  const tasks: Tasks = {
    async start(ownerId, job, startOptions = {}) {
      if (typeof ownerId !== "string" || ownerId.length === 0) {
        throw new HeraldError("invalid_request", "ownerId must be a non-empty string");
      }
      if (typeof job !== "function") throw new TypeError("job must be a function");
      const title = startOptions.title ?? null;
      if (title !== null && (typeof title !== "string" || title.length > MAX_TITLE_LENGTH)) {
        throw new HeraldError("invalid_request", `title must be a string of at most ${MAX_TITLE_LENGTH} characters`);
      }
      const steps: { name: string; status: StepStatus }[] = [];
      for (const name of startOptions.steps ?? []) {
        if (typeof name !== "string" || name.length === 0 || name.length > MAX_STEP_NAME_LENGTH) {
          throw new HeraldError("invalid_request", `step names are 1-${MAX_STEP_NAME_LENGTH} characters`);
        }
        if (!steps.some((s) => s.name === name)) steps.push({ name, status: "pending" });
      }
      const release = reserve(ownerId);
      const id = randomBytes(16).toString("base64url");
      let state: TaskSnapshot;
      try {
        // No event of this new channel exists yet, so the broker's head is a position the snapshot is current at.
        const { epoch, seq: head, partition } = await publisher.position(`task-${id}`);
        const createdAt = now();
        state = {
          id,
          ownerId,
          title,
          status: "queued",
          progress: 0,
          steps,
          text: "",
          result: null,
          error: null,
          createdAt,
          updatedAt: createdAt,
          seq: head,
          cursor: encodePosition(epoch, head, partition),
        };
        await store.put(state);
      } catch (error) {
        release();
        throw error;
      }
      const run: Run = {
        pipeline: new TaskPipeline(state, deps),
        controller: new AbortController(),
        closed: false,
        done: Promise.resolve(),
      };
      runs.set(id, run);
      run.done = runJob(run, job as TaskJob<unknown>).finally(() => {
        runs.delete(id);
        release();
      });
      return structuredClone(state) as TaskSnapshot<never>;
    },

    tryStart(ownerId, job, startOptions) {
      return tryStartWith(tasks.start, ownerId, job, startOptions);
    },

    get: owned,

    async cancel(id, userId) {
      const state = await owned(id, userId);
      const run = runs.get(id);
      if (isFinished(state.status) || run?.closed) throw new HeraldError("task_finished", "task has already finished");
      if (run) {
        run.closed = true;
        ended(run, "canceled");
        const committed = run.pipeline.push("status", { status: "canceled" });
        run.controller.abort(new HeraldError("task_finished", "task was canceled"));
        await committed;
        return structuredClone(run.pipeline.state);
      }
      // The job is not running here (another process, or this one restarted): record the end.
      const pipeline = new TaskPipeline(state, deps);
      await pipeline.push("status", { status: "canceled" });
      return pipeline.state;
    },

    list: (userId) => store.list(userId),

    async wait(id, userId) {
      await owned(id, userId);
      await runs.get(id)?.done;
      return owned(id, userId);
    },

    async ownerOf(id) {
      if (typeof id !== "string" || !TASK_ID.test(id)) return null;
      return (await store.get(id))?.ownerId ?? null;
    },

    get running() {
      return runs.size;
    },

    close() {
      ownStore?.close();
    },
  };
  return tasks;
}

/**
 * The refusal an error stands for ({@link TaskRefusal}), or null when it is not one of Herald's
 * (a bug, a failing store), which should still be thrown.
 */
export function taskRefusal(error: unknown): TaskRefusal | null {
  if (!isHeraldError(error) || error.code === "internal") return null;
  const refusal: TaskRefusal = { code: error.code, message: error.message, status: error.status };
  if (error.retryAfter !== undefined) refusal.retryAfterMs = error.retryAfter * 1000;
  const limit = error.details?.limit;
  if (typeof limit === "number") refusal.limit = limit;
  return refusal;
}

/**
 * {@link Tasks.tryStart} over any `start` (wrappers of a runner call it with their own): refusals
 * become `{ ok: false, error }`, anything else is thrown.
 */
export async function tryStartWith<R>(
  start: Tasks["start"],
  ownerId: string | null | undefined,
  job: TaskJob<R>,
  startOptions?: StartOptions,
): Promise<TaskStartResult<R>> {
  if (ownerId === null || ownerId === undefined) {
    return { ok: false, error: { code: "unauthorized", message: "Sign in to start a task.", status: 401 } };
  }
  try {
    const task = await start(ownerId, job, startOptions);
    return { ok: true, taskId: task.id, task };
  } catch (error) {
    const refusal = taskRefusal(error);
    if (!refusal) throw error;
    return { ok: false, error: refusal };
  }
}
