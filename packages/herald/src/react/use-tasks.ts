/**
 * `useTasks`: the signed-in user's tasks, newest first, current across reloads, tabs and
 * reconnections: read from `GET {basePath}/tasks`, and read again when a task starts (the server
 * announces it on `user-{id}` as `task.started`) and when the connection comes back. `start(action)`
 * runs a Server Action that starts a task and keeps its refusal, if any, for the page to show.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { errorFromReply, isHeraldError } from "../protocol/errors.js";
import type { TaskRefusal, TaskStartResult } from "../protocol/tasks.js";
import { useHerald } from "./provider.js";
import type { TaskSnapshot } from "./task-state.js";
import { useEvent } from "./use-event.js";

/** A reconnection re-reads the list when the last read is older than this. */
const STALE_AFTER_MS = 5_000;

/** What a start action may resolve with: `herald.tasks.tryStart`'s result, or a bare snapshot. */
export type StartedTask<R = unknown> = TaskStartResult<R> | TaskSnapshot<R>;

/** Options of {@link useTasks}. */
export interface UseTasksOptions<R = unknown> {
  /** The list already at hand (read by a Server Component with `herald.tasks.list`): shown at once. */
  initial?: TaskSnapshot<R>[];
}

/** What {@link useTasks} returns. */
export interface TasksState<R = unknown> {
  /** The user's tasks, newest first (empty while loading and when signed out). */
  tasks: TaskSnapshot<R>[];
  /** `loading` until the first answer; `signed-out` on 401; `error` when the list could not be read. */
  status: "loading" | "ready" | "signed-out" | "error";
  /**
   * Reads the list again. Pass what a Server Action returned from `herald.tasks.tryStart` (or the
   * snapshot from `herald.tasks.start`) to show the new task at once.
   */
  refresh(started?: StartedTask<R> | null): void;
  /**
   * Calls `action` (a Server Action that returns `herald.tasks.tryStart(...)`), shows the task it
   * started at once, and keeps its refusal in `refusal`. Never rejects: an action that throws
   * (production Next.js hides its message) becomes a refusal with code `internal`.
   */
  start(action: () => Promise<StartedTask<R>>): Promise<TaskStartResult<R>>;
  /** Why the last `start` was refused (`message` is for people), or null. */
  refusal: TaskRefusal | null;
  /** True while a `start` is waiting for its action. */
  starting: boolean;
}

/**
 * The signed-in user's tasks. Render each with `useTask(id)`.
 *
 * @example
 * ```tsx
 * const { tasks, start, refusal } = useTasks();
 * <button onClick={() => start(startReport)}>Start</button>
 * {refusal && <p role="alert">{refusal.message}</p>}
 * {tasks.map((task) => <TaskCard key={task.id} id={task.id} />)}
 * ```
 */
export function useTasks<R = unknown>(options: UseTasksOptions<R> = {}): TasksState<R> {
  const { basePath, userId, store } = useHerald();
  const [tasks, setTasks] = useState<TaskSnapshot<R>[]>(() => options.initial ?? []);
  const [status, setStatus] = useState<TasksState["status"]>(options.initial ? "ready" : "loading");
  const [refusal, setRefusal] = useState<TaskRefusal | null>(null);
  const [starting, setStarting] = useState(false);
  const request = useRef(0);

  const load = useCallback(async () => {
    const mine = ++request.current;
    try {
      const response = await fetch(`${basePath}/tasks`, { credentials: "same-origin", cache: "no-store" });
      if (mine !== request.current) return;
      if (response.status === 401) {
        setTasks([]);
        setStatus("signed-out");
        return;
      }
      if (!response.ok) throw errorFromReply(response.status, await response.json().catch(() => null));
      const body = (await response.json()) as { tasks: TaskSnapshot<R>[] };
      if (mine !== request.current) return;
      setTasks(body.tasks);
      setStatus("ready");
    } catch {
      if (mine === request.current) setStatus("error");
    }
  }, [basePath]);

  const refresh = useCallback(
    (started?: StartedTask<R> | null) => {
      const task = !started ? null : "ok" in started ? (started.ok ? started.task : null) : started;
      if (task) setTasks((list) => (list.some((t) => t.id === task.id) ? list : [task, ...list]));
      void load();
    },
    [load],
  );

  const start = useCallback(
    async (action: () => Promise<StartedTask<R>>): Promise<TaskStartResult<R>> => {
      setStarting(true);
      let result: TaskStartResult<R>;
      try {
        const started = await action();
        result = "ok" in started ? started : { ok: true, taskId: started.id, task: started };
      } catch (error) {
        const code = isHeraldError(error) ? error.code : "internal";
        const status = isHeraldError(error) ? error.status : 500;
        result = { ok: false, error: { code, status, message: "The task could not be started; try again." } };
      }
      setStarting(false);
      setRefusal(result.ok ? null : result.error);
      if (result.ok) refresh(result);
      return result;
    },
    [refresh],
  );

  // On mount and when the session changes; and when the connection comes back after a while
  // away (anything may have started meanwhile; a quick channel change is not worth a read).
  const loadedAt = useRef(0);
  useEffect(() => {
    loadedAt.current = Date.now();
    void load();
  }, [load, userId]);
  useEffect(() => {
    let wasConnected = store.getSnapshot().state === "connected";
    return store.subscribe(() => {
      const connected = store.getSnapshot().state === "connected";
      if (connected && !wasConnected && Date.now() - loadedAt.current > STALE_AFTER_MS) {
        loadedAt.current = Date.now();
        void load();
      }
      wasConnected = connected;
    });
  }, [store, load]);

  useEvent(userId ? `user-${userId}` : null, "task.started", () => void load());
  return { tasks, status, refresh, start, refusal, starting };
}
