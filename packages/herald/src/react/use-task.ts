/**
 * `useTask`: a long-running task's state, from a snapshot plus live `task-{id}` events.
 *
 * The snapshot says which broker position it is current at (`seq`), so the hook applies only live
 * events above it. Order of work, so that no event falls between snapshot and stream:
 * 1. take a first snapshot (or the `initial` one) to show something at once; if the task has already
 *    finished, stop there;
 * 2. subscribe to `task-{id}`, buffering what arrives;
 * 3. once the stream serving that channel is open, take the snapshot again: every event after it
 *    is now certain to arrive live, and buffered ones above its `seq` are applied on top;
 * 4. after a `gap` for the channel (the server could not replay what was missed), repeat step 3 on
 *    the next connection;
 * 5. once the task has finished, unsubscribe.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import type { EventEnvelope } from "../client/index.js";
import { errorFromReply, HeraldError, isHeraldError } from "../protocol/errors.js";
import { useHerald } from "./provider.js";
import { useLatest } from "./use-latest.js";
import {
  applyTaskEvent,
  isFinalStatus,
  seqOfId,
  type TaskSnapshot,
  type TaskStatus,
  type TaskStep,
} from "./task-state.js";

/** `loading` until the first snapshot, `error` when it could not be read, then the task's status. */
export type UseTaskStatus = "loading" | "error" | TaskStatus;

/** Options of {@link useTask}. */
export interface UseTaskOptions<R = unknown> {
  /** Where the Herald routes are mounted (default: the provider's `basePath`): reads `GET {baseUrl}/tasks/{id}`. */
  baseUrl?: string;
  /** A snapshot already at hand (from a Server Component or the action that started the task). */
  initial?: TaskSnapshot<R> | null;
  /** `fetch` to use (default: the global one). Requests are same-origin with cookies. */
  fetch?: typeof fetch;
}

/** What {@link useTask} returns. */
export interface TaskState<R = unknown> {
  /** See {@link UseTaskStatus}. */
  status: UseTaskStatus;
  /** 0-100 (0 while loading). */
  progress: number;
  steps: TaskStep[];
  /** Streamed text so far. */
  text: string;
  /** The job's result once `succeeded`. */
  result: R | null;
  /** The task's failure (`failed`), or why the snapshot could not be read (`error`). */
  error: { message: string; code?: string } | null;
  title: string | null;
  /** The whole current snapshot, or null while loading. */
  task: TaskSnapshot<R> | null;
  /** Cancels the task (`POST {baseUrl}/tasks/{id}/cancel`); rejects with a {@link HeraldError}. */
  cancel(): Promise<void>;
  /** Reads the snapshot again. */
  refresh(): void;
}

interface View<R> {
  taskId: string | null;
  task: TaskSnapshot<R> | null;
  error: HeraldError | null;
}

interface Buffered {
  id: string;
  event: string;
  data: unknown;
  seq: number;
  ts: number;
}

/** Most live events kept for re-applying on top of a newer snapshot. */
const BUFFER_LIMIT = 1000;

/**
 * Follows task `taskId` (null: none). Keyed on `status`: render `loading`, then the task.
 *
 * @example
 * ```tsx
 * const { status, progress, steps, text, cancel } = useTask(id);
 * if (status === "loading") return <Skeleton />;
 * return <Progress value={progress} onCancel={cancel} />;
 * ```
 */
export function useTask<R = unknown>(taskId: string | null | undefined, options: UseTaskOptions<R> = {}): TaskState<R> {
  const { client, store, basePath } = useHerald();
  const baseUrl = (options.baseUrl ?? basePath).replace(/\/+$/, "");
  const initialRef = useLatest(options.initial ?? null);
  const fetchRef = useLatest(options.fetch);
  const [view, setView] = useState<View<R>>({ taskId: null, task: null, error: null });
  const actions = useRef<{ cancel(): Promise<void>; refresh(): void } | null>(null);

  useEffect(() => {
    if (!taskId || !client) return;
    let disposed = false;
    const id = taskId;
    const channel = `task-${id}`;
    const taskUrl = `${baseUrl}/tasks/${encodeURIComponent(id)}`;
    const initial = initialRef.current;
    let current: TaskSnapshot<R> | null = initial && initial.id === id ? initial : null;
    let buffer: Buffered[] = [];
    let unsubscribe: (() => void) | null = null;
    let offs: Array<() => void> = [];
    let needsResync = true;
    let resyncGeneration = 0;

    const request = async (url: string, init: RequestInit): Promise<TaskSnapshot<R>> => {
      const doFetch = fetchRef.current ?? globalThis.fetch;
      let response: Response;
      try {
        response = await doFetch(url, { credentials: "same-origin", cache: "no-store", ...init });
      } catch (error) {
        throw new HeraldError("network", String((error as Error)?.message ?? error));
      }
      const body = (await response.json().catch(() => null)) as
        (TaskSnapshot<R> & { error?: { code?: string; message?: string } }) | null;
      if (!response.ok || !body || typeof body.seq !== "number") {
        const err = body?.error;
        throw errorFromReply(response.status, body ?? { error: err });
      }
      return body;
    };
    const fetchSnapshot = (): Promise<TaskSnapshot<R>> => request(taskUrl, { headers: { accept: "application/json" } });

    const show = (): void => {
      if (!disposed) setView({ taskId: id, task: current, error: null });
    };
    const showError = (error: unknown): void => {
      if (disposed) return;
      const e = isHeraldError(error) ? error : new HeraldError("network", String(error));
      setView({ taskId: id, task: current, error: e });
    };

    /** Takes `snap` as the base and re-applies buffered live events above it. */
    const rebase = (snap: TaskSnapshot<R>): void => {
      let next = snap;
      for (const e of buffer) next = applyTaskEvent(next, e.event, e.data, e.seq, e.ts, e.id);
      buffer = buffer.filter((e) => e.seq > snap.seq);
      current = next;
    };
    const stopFollowing = (): void => {
      for (const off of offs) off();
      offs = [];
      unsubscribe?.();
      unsubscribe = null;
    };
    const settle = (): void => {
      show();
      if (current && isFinalStatus(current.status)) stopFollowing();
    };

    const resync = async (): Promise<void> => {
      needsResync = false;
      const generation = ++resyncGeneration;
      try {
        const snap = await fetchSnapshot();
        if (disposed || generation !== resyncGeneration) return;
        rebase(snap);
        settle();
      } catch (error) {
        if (disposed || generation !== resyncGeneration) return;
        needsResync = true; // try again on the next connection
        if (!current) showError(error);
      }
    };

    const onEvent = (envelope: EventEnvelope): void => {
      const seq = seqOfId(envelope.id);
      buffer.push({ id: envelope.id, event: envelope.event, data: envelope.data, seq, ts: envelope.ts });
      if (buffer.length > BUFFER_LIMIT) buffer.splice(0, buffer.length - BUFFER_LIMIT);
      if (current && seq > current.seq) {
        current = applyTaskEvent(current, envelope.event, envelope.data, seq, envelope.ts, envelope.id);
        settle();
      }
    };

    const follow = (): void => {
      if (unsubscribe || disposed) return;
      offs.push(
        client.on("gap", (gap) => {
          if (gap.channel === channel) needsResync = true;
        }),
        client.on("connected", (connected) => {
          if (needsResync && connected.channels.includes(channel)) void resync();
        }),
      );
      unsubscribe = client.subscribe(channel, onEvent);
      // Already served by the open stream (another hook follows it): its events arrive from now on.
      if (store.isLive(channel)) void resync();
    };

    if (current) {
      show();
      if (!isFinalStatus(current.status)) follow();
    } else {
      setView({ taskId: id, task: null, error: null });
      fetchSnapshot().then(
        (snap) => {
          if (disposed) return;
          current = snap;
          show();
          if (!isFinalStatus(snap.status)) follow();
        },
        (error: unknown) => showError(error),
      );
    }

    actions.current = {
      async cancel() {
        const snap = await request(`${taskUrl}/cancel`, {
          method: "POST",
          headers: { accept: "application/json" },
        });
        if (disposed) return;
        if (!current || snap.seq >= current.seq) rebase(snap);
        settle();
      },
      refresh() {
        if (disposed) return;
        if (unsubscribe) {
          void resync();
          return;
        }
        fetchSnapshot().then(
          (snap) => {
            if (disposed) return;
            if (!current || snap.seq >= current.seq) current = snap;
            show();
            if (!isFinalStatus(snap.status)) follow();
          },
          (error: unknown) => showError(error),
        );
      },
    };

    return () => {
      disposed = true;
      stopFollowing();
      actions.current = null;
    };
  }, [client, store, taskId, baseUrl, initialRef, fetchRef]);

  const cancel = useCallback(async () => {
    if (!actions.current) throw new HeraldError("not_ready", "the task is not loaded yet");
    await actions.current.cancel();
  }, []);
  const refresh = useCallback(() => actions.current?.refresh(), []);

  const fresh = view.taskId === (taskId ?? null);
  const initial = options.initial && options.initial.id === taskId ? options.initial : null;
  const task = (fresh ? view.task : null) ?? initial;
  const loadError = fresh ? view.error : null;
  const status: UseTaskStatus = task ? task.status : loadError ? "error" : "loading";
  return {
    status,
    progress: task?.progress ?? 0,
    steps: task?.steps ?? EMPTY_STEPS,
    text: task?.text ?? "",
    result: task?.result ?? null,
    error: task?.error ?? (loadError && !task ? { message: loadError.message, code: loadError.code } : null),
    title: task?.title ?? null,
    task,
    cancel,
    refresh,
  };
}

const EMPTY_STEPS: TaskStep[] = [];
