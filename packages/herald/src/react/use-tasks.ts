/**
 * `useTasks`: the signed-in user's tasks, newest first, current across reloads, tabs and
 * reconnections: read from `GET {basePath}/tasks`, and read again when a task starts (the server
 * announces it on `user-{id}` as `task.started`) and when the connection comes back.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { errorFromReply } from "../protocol/errors.js";
import { useHerald } from "./provider.js";
import type { TaskSnapshot } from "./task-state.js";
import { useEvent } from "./use-event.js";

/** A reconnection re-reads the list when the last read is older than this. */
const STALE_AFTER_MS = 5_000;

/** What {@link useTasks} returns. */
export interface TasksState {
  /** The user's tasks, newest first (empty while loading and when signed out). */
  tasks: TaskSnapshot[];
  /** `loading` until the first answer; `signed-out` on 401; `error` when the list could not be read. */
  status: "loading" | "ready" | "signed-out" | "error";
  /**
   * Reads the list again. Pass a snapshot you already have (the one a Server Action returned from
   * `herald.tasks.start`) to show it at once.
   */
  refresh(started?: TaskSnapshot): void;
}

/**
 * The signed-in user's tasks. Render each with `useTask(id)`.
 *
 * @example
 * ```tsx
 * const { tasks } = useTasks();
 * return tasks.map((task) => <TaskCard key={task.id} id={task.id} />);
 * ```
 */
export function useTasks(): TasksState {
  const { basePath, userId, store } = useHerald();
  const [tasks, setTasks] = useState<TaskSnapshot[]>([]);
  const [status, setStatus] = useState<TasksState["status"]>("loading");
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
      const body = (await response.json()) as { tasks: TaskSnapshot[] };
      if (mine !== request.current) return;
      setTasks(body.tasks);
      setStatus("ready");
    } catch {
      if (mine === request.current) setStatus("error");
    }
  }, [basePath]);

  const refresh = useCallback(
    (started?: TaskSnapshot) => {
      if (started) setTasks((list) => (list.some((t) => t.id === started.id) ? list : [started, ...list]));
      void load();
    },
    [load],
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
  return { tasks, status, refresh };
}
