/**
 * Tasks in Redis: `RedisTaskStore` (snapshots every process reads) and `sharedCancel` (a cancel on
 * any process reaches the job where it runs).
 */
import { randomBytes } from "node:crypto";
import type { RedisConnection } from "../brokers/redis.js";
import type { TaskStore } from "../server/tasks/store.js";
import type { Tasks } from "../server/tasks/tasks.js";
import { isFinished, type TaskSnapshot } from "../server/tasks/types.js";

/** Options for {@link RedisTaskStore}. */
export interface RedisTaskStoreOptions {
  /** Key prefix (default `herald`). Keys: `{prefix}:task:{id}` and `{prefix}:owner:{ownerId}`. */
  prefix?: string;
}

interface ScriptedTasks {
  heraldTaskPut(...args: (string | number)[]): Promise<number>;
}

/** How long an owner's index lives past the last write to any of its tasks (at least a finished task's TTL). */
const OWNER_IDLE_MS = 24 * 60 * 60_000;

/**
 * KEYS[1] the task, KEYS[2] its owner's index (sorted set: id by createdAt). ARGV: value
 * (`{status}\n{json}`), id, createdAt, ttl in ms (0: none), the index's life in ms. A stored final
 * state is never replaced (read from the value's first line, without decoding the snapshot), so a
 * late write of a job that was canceled elsewhere cannot bring it back to life. Returns 1 when written.
 */
const PUT_SCRIPT = `
local old = redis.call('GETRANGE', KEYS[1], 0, 15)
local status = string.match(old, '^(%a+)\\n')
if status == 'succeeded' or status == 'failed' or status == 'canceled' then return 0 end
if tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
return 1
`;

/**
 * The {@link TaskStore} on Redis: a task's snapshot lives in Redis, so any process answers for it
 * and it survives the process that ran it. A finished task expires with its TTL; the owner's index
 * drops ids whose task is gone when it is listed, and expires a day after the last write to any of
 * the owner's tasks (a job silent for a day drops out of the list, still readable by id). The task
 * and its owner's index share the `{prefix}` hash tag (one script writes both: one slot on a Cluster).
 */
export class RedisTaskStore implements TaskStore {
  private readonly tag: string;

  constructor(
    private readonly redis: RedisConnection,
    options: RedisTaskStoreOptions = {},
  ) {
    this.tag = `{${options.prefix ?? "herald"}}`;
    redis.defineCommand("heraldTaskPut", { numberOfKeys: 2, lua: PUT_SCRIPT });
  }

  private taskKey(id: string): string {
    return `${this.tag}:task:${id}`;
  }

  private ownerKey(ownerId: string): string {
    return `${this.tag}:owner:${ownerId}`;
  }

  async get(id: string): Promise<TaskSnapshot | null> {
    return parse(await this.redis.get(this.taskKey(id)));
  }

  async put(state: TaskSnapshot, ttlMs?: number): Promise<void> {
    const ttl = ttlMs === undefined ? 0 : Math.max(1, Math.ceil(ttlMs));
    await (this.redis as unknown as ScriptedTasks).heraldTaskPut(
      this.taskKey(state.id),
      this.ownerKey(state.ownerId),
      `${state.status}\n${JSON.stringify(state)}`,
      state.id,
      state.createdAt,
      ttl,
      Math.max(ttl, OWNER_IDLE_MS),
    );
  }

  async delete(id: string): Promise<void> {
    const state = await this.get(id);
    await this.redis.del(this.taskKey(id));
    if (state) await this.redis.zrem(this.ownerKey(state.ownerId), id);
  }

  async list(ownerId: string): Promise<TaskSnapshot[]> {
    const ids = await this.redis.zrevrange(this.ownerKey(ownerId), 0, -1);
    if (ids.length === 0) return [];
    const texts = await this.redis.mget(...ids.map((id) => this.taskKey(id)));
    const out: TaskSnapshot[] = [];
    const gone: string[] = [];
    texts.forEach((text, i) => {
      const state = parse(text);
      if (state) out.push(state);
      else gone.push(ids[i]!);
    });
    if (gone.length > 0) await this.redis.zrem(this.ownerKey(ownerId), ...gone);
    out.sort((a, b) => b.createdAt - a.createdAt);
    return out;
  }
}

function parse(text: string | null): TaskSnapshot | null {
  if (text === null) return null;
  try {
    return JSON.parse(text.slice(text.indexOf("\n") + 1)) as TaskSnapshot;
  } catch {
    return null;
  }
}

/** Options for {@link sharedCancel}. */
export interface SharedCancelOptions {
  /** Key and channel prefix (default `herald`). */
  prefix?: string;
  /** A connection for commands. */
  redis: RedisConnection;
  /** A connection this process uses only to listen (it is put in subscriber mode). */
  subscriber: RedisConnection;
  /** How long a running job's lease lives without renewal (default 15,000 ms; renewed every third). */
  leaseMs?: number;
  /** Longest wait for the running process to record a cancel (default 5,000 ms); then it is recorded here. */
  cancelTimeoutMs?: number;
  /** Receives Redis errors. */
  onError?: (error: unknown) => void;
}

/** A task runner whose cancels cross processes, and the means to stop listening. */
export interface SharedCancel {
  /** Wraps `tasks`: the same runner, with `cancel` reaching the job on whichever process runs it. */
  wrap(tasks: Tasks): Tasks;
  /** Stops the lease renewal and the listener (the connections are the caller's). */
  close(): void;
}

/** How often a cross-process cancel request is repeated while the runner has not answered. */
const REPEAT_CANCEL_MS = 250;

/**
 * Cancels that reach the job wherever it runs. The process running a job holds a lease on it in
 * Redis (`{prefix}:runner:{id}`, renewed while the job runs) and listens on `{prefix}:cancel`. A
 * cancel on a process that does not run the job publishes the request there; the runner cancels
 * it (its job's `signal` aborts, `canceled` is published and stored) and the requester answers
 * with the stored snapshot. When no process holds the lease (the runner died: at most `leaseMs`
 * after it), or the runner does not record the cancel within `cancelTimeoutMs`, the requester
 * records it itself.
 */
export function sharedCancel(options: SharedCancelOptions): SharedCancel {
  const prefix = options.prefix ?? "herald";
  const { redis, subscriber } = options;
  const leaseMs = options.leaseMs ?? 15_000;
  const cancelTimeoutMs = options.cancelTimeoutMs ?? 5_000;
  const onError = options.onError ?? (() => {});
  const instance = randomBytes(9).toString("base64url");
  const channel = `${prefix}:cancel`;
  const runnerKey = (id: string) => `${prefix}:runner:${id}`;
  /** Jobs running here: id → owner. */
  const local = new Map<string, string>();
  const wrapped: Tasks[] = [];
  let timer: ReturnType<typeof setInterval> | undefined;

  const renew = () => {
    for (const id of local.keys()) redis.set(runnerKey(id), instance, "PX", leaseMs).catch(onError);
  };
  const ensureTimer = () => {
    if (timer !== undefined) return;
    timer = setInterval(
      () => {
        if (local.size === 0) {
          clearInterval(timer);
          timer = undefined;
        } else renew();
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    );
    timer.unref?.();
  };

  const onMessage = (from: string, message: string) => {
    if (from !== channel) return;
    let request: { id?: unknown; userId?: unknown };
    try {
      request = JSON.parse(message) as typeof request;
    } catch {
      return;
    }
    const { id, userId } = request;
    if (typeof id !== "string" || typeof userId !== "string" || !local.has(id)) return;
    for (const tasks of wrapped) void tasks.cancel(id, userId).catch(() => {});
  };
  subscriber.on("message", onMessage);
  subscriber.subscribe(channel).catch(onError);

  return {
    wrap(tasks) {
      const inner = tasks;
      // Requests from other processes cancel through the inner runner (the job is local).
      wrapped.push(inner);
      return {
        ...inner,
        get running() {
          return inner.running;
        },
        async start(ownerId, job, startOptions) {
          const snapshot = await inner.start(ownerId, job, startOptions);
          const id = snapshot.id;
          local.set(id, ownerId);
          ensureTimer();
          await redis.set(runnerKey(id), instance, "PX", leaseMs).catch(onError);
          void inner
            .wait(id, ownerId)
            .catch(() => {})
            .finally(() => {
              local.delete(id);
              redis.del(runnerKey(id)).catch(onError);
            });
          return snapshot;
        },
        async cancel(id, userId) {
          if (local.has(id)) return inner.cancel(id, userId);
          const state = await inner.get(id, userId); // task_not_found for others' tasks
          if (isFinished(state.status)) return inner.cancel(id, userId); // task_finished
          const runner = typeof id === "string" ? await redis.get(runnerKey(id)).catch(() => null) : null;
          if (runner !== null && runner !== instance) {
            const request = JSON.stringify({ id, userId });
            await redis.publish(channel, request);
            const end = Date.now() + cancelTimeoutMs;
            let again = Date.now() + REPEAT_CANCEL_MS;
            while (Date.now() < end) {
              await new Promise((resolve) => setTimeout(resolve, 20));
              // Pub/sub keeps nothing: a request published while the runner's subscriber was
              // reconnecting is lost (ioredis 6 reconnects each connection after its own jittered
              // backoff), so it is said again until the runner answers. A repeat is a no-op there.
              if (Date.now() >= again) {
                again = Date.now() + REPEAT_CANCEL_MS;
                await redis.publish(channel, request).catch(onError);
              }
              const now = await inner.get(id, userId);
              if (now.status === "canceled") return now;
              if (isFinished(now.status)) return inner.cancel(id, userId); // ended first: task_finished
              // The runner's lease ran out (it died): stop waiting.
              if ((await redis.exists(runnerKey(id)).catch(() => 1)) === 0) break;
            }
          }
          // Nobody runs it (or the runner did not answer): record the end here, and say so on the
          // channel anyway, for workers whose web-side runner is gone (`heraldProcessor` listens).
          if (runner === null) await redis.publish(channel, JSON.stringify({ id, userId })).catch(onError);
          return inner.cancel(id, userId);
        },
      };
    },
    close() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      subscriber.off("message", onMessage);
    },
  };
}
