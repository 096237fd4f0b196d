/**
 * Jobs in worker processes: a BullMQ job reports progress, steps, streamed text and its result
 * through Herald's task model, and a cancel from the browser reaches the worker.
 *
 * Two halves, joined by the job's id (the Herald task's id):
 * - in the web process, {@link queuedJob} is the task's job: it adds the BullMQ job, relays what
 *   the worker reports (BullMQ progress events) into the task, resolves with the job's return value
 *   (or fails with its reason), and on cancel tells the worker and removes a job still waiting;
 * - in the worker, {@link heraldProcessor} wraps your processor: it gets a context shaped like a
 *   Herald task's (`progress`, `step`, `text`, `signal`), whose reports travel as BullMQ progress
 *   and whose `signal` aborts when the task is canceled anywhere.
 *
 * Only structural types are used, so `herald/redis` does not import `bullmq` (an optional peer).
 */
import type { RedisConnection } from "../brokers/redis.js";
import type { StepStatus, TaskContext, TaskJob } from "../server/tasks/types.js";
import { connect, end, type RedisSetting } from "./connection.js";

/** What the worker reports, carried in BullMQ's progress (`{ herald: [...] }`). */
type Report = { progress: number } | { step: [string, StepStatus] } | { text: string };

/** The part of a BullMQ `Job` the adapter uses. */
export interface JobLike<D = unknown> {
  readonly id?: string;
  readonly data: D;
  updateProgress(progress: object | number): Promise<void>;
}

/** The part of a BullMQ `Queue` the adapter uses. */
export interface QueueLike {
  readonly name: string;
  add(name: string, data: unknown, options?: { jobId?: string } & Record<string, unknown>): Promise<unknown>;
  /** BullMQ's connection (used to publish cancels). */
  readonly client: Promise<RedisConnection | { publish(channel: string, message: string): Promise<number> }>;
  remove(jobId: string): Promise<number>;
}

/** The part of a BullMQ `QueueEvents` the adapter uses. */
export interface QueueEventsLike {
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  waitUntilReady(): Promise<unknown>;
}

/** What the queued job's data looks like: your data and the task it reports to. */
export interface QueuedJobData<D = unknown> {
  heraldTaskId: string;
  data: D;
}

/** Options for {@link queuedJob}. */
export interface QueuedJobOptions {
  /** Options for `queue.add` (attempts, backoff, priority, …); `jobId` is always the task's id. */
  jobOptions?: Record<string, unknown>;
  /** Prefix of the cancel channel (default `herald`, as `heraldRedis`'s). */
  prefix?: string;
}

/** The pub/sub channel cancels travel on. */
const cancelChannel = (prefix: string, queue: string) => `${prefix}:job-cancel:${queue}`;

/**
 * A task job that runs as a BullMQ job in a worker process. Start it like any task: the task's
 * id is the job's id, and the job's data is `{ heraldTaskId, data }`.
 *
 * @example
 * ```ts
 * const reports = new Queue("reports", { connection });
 * const reportEvents = new QueueEvents("reports", { connection });
 * const task = await herald.tasks.start(userId, queuedJob(reports, reportEvents, "report", { url }), {
 *   title: "Report",
 * });
 * ```
 */
export function queuedJob<D, R = unknown>(
  queue: QueueLike,
  events: QueueEventsLike,
  name: string,
  data: D,
  options: QueuedJobOptions = {},
): TaskJob<R> {
  const prefix = options.prefix ?? "herald";
  return async (ctx: TaskContext) => {
    const jobId = ctx.id;
    await events.waitUntilReady();
    let settle!: { resolve: (value: R) => void; reject: (error: Error) => void };
    const finished = new Promise<R>((resolve, reject) => (settle = { resolve, reject }));
    const onProgress = (args: { jobId: string; data: unknown }) => {
      if (args.jobId !== jobId) return;
      const reports = (args.data as { herald?: Report[] } | null)?.herald;
      if (Array.isArray(reports)) for (const report of reports) apply(ctx, report);
    };
    const onCompleted = (args: { jobId: string; returnvalue: unknown }) => {
      if (args.jobId === jobId) settle.resolve(args.returnvalue as R); // parsed by QueueEvents
    };
    const onFailed = (args: { jobId: string; failedReason: string }) => {
      if (args.jobId === jobId) settle.reject(new Error(args.failedReason));
    };
    const onAbort = () => {
      settle.reject(new Error("canceled"));
      void (async () => {
        const client = await queue.client;
        await client.publish(cancelChannel(prefix, queue.name), jobId);
        await queue.remove(jobId).catch(() => 0); // still waiting: it never runs
      })().catch(() => {});
    };
    events.on("progress", onProgress as never);
    events.on("completed", onCompleted as never);
    events.on("failed", onFailed as never);
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    try {
      const payload: QueuedJobData<D> = { heraldTaskId: jobId, data };
      await queue.add(name, payload, { ...options.jobOptions, jobId });
      return await finished;
    } finally {
      events.off("progress", onProgress as never);
      events.off("completed", onCompleted as never);
      events.off("failed", onFailed as never);
      ctx.signal.removeEventListener("abort", onAbort);
    }
  };
}

function apply(ctx: TaskContext, report: Report): void {
  try {
    if ("progress" in report) ctx.progress(report.progress);
    else if ("step" in report) ctx.step(report.step[0], report.step[1]);
    else if ("text" in report) ctx.text(report.text);
  } catch {
    // a malformed report from the worker is dropped
  }
}

/** What a worker's processor gets: a Herald task's context, plus your data and the BullMQ job. */
export interface WorkerTaskContext<D = unknown> extends TaskContext {
  /** The data given to `queuedJob`. */
  readonly data: D;
}

/** Options for {@link heraldProcessor}. */
export interface HeraldProcessorOptions {
  /** Where cancels are heard: the same Redis as the web processes' (URL, options or `{ cluster }`). */
  redis: RedisSetting;
  /** Queue name (cancels are per queue). */
  queue: string;
  /**
   * The web side's prefix (default `herald`, as `heraldRedis`'s): cancels are heard on
   * `{prefix}:job-cancel:{queue}` and on `{prefix}:cancel` (a cancel recorded by another web
   * process when the one that started the task is gone).
   */
  prefix?: string;
}

/** A BullMQ processor that also listens for cancels; `close()` stops listening. */
export interface HeraldProcessor<D, R> {
  (job: JobLike<QueuedJobData<D>>, token?: string, signal?: AbortSignal): Promise<R>;
  close(): Promise<void>;
}

/**
 * Wraps `run` as a BullMQ processor for jobs added by {@link queuedJob}: `ctx.progress`, `ctx.step`
 * and `ctx.text` travel to the task as BullMQ progress (in order; `progress` throttled by the task),
 * the return value becomes the task's result, a throw fails it, and `ctx.signal` aborts when the
 * task is canceled from any process (stop then: the job fails, the task is already `canceled`).
 *
 * @example
 * ```ts
 * // worker.ts
 * const processor = heraldProcessor(async (ctx) => {
 *   ctx.step("fetch", "active");
 *   const page = await fetch(ctx.data.url, { signal: ctx.signal }).then((r) => r.text());
 *   ctx.step("fetch", "done");
 *   ctx.text(page.slice(0, 100));
 *   return { length: page.length };
 * }, { redis: process.env.HERALD_REDIS_URL!, queue: "reports" });
 * new Worker("reports", processor, { connection });
 * ```
 */
export function heraldProcessor<D, R>(
  run: (ctx: WorkerTaskContext<D>, job: JobLike<QueuedJobData<D>>) => Promise<R>,
  options: HeraldProcessorOptions,
): HeraldProcessor<D, R> {
  const prefix = options.prefix ?? "herald";
  const channel = cancelChannel(prefix, options.queue);
  /** Where `sharedCancel` announces cancels: heard too, for a task whose web-side runner is gone. */
  const taskCancels = `${prefix}:cancel`;
  const running = new Map<string, AbortController>();
  let subscriber: RedisConnection | undefined;
  let listening: Promise<unknown> | undefined;
  const listen = () => {
    if (listening) return listening;
    subscriber = connect(options.redis, { enableReadyCheck: false });
    subscriber.on("error", () => {});
    subscriber.on("message", (from: string, message: string) => {
      let jobId: unknown = from === channel ? message : undefined;
      if (from === taskCancels) {
        try {
          jobId = (JSON.parse(message) as { id?: unknown }).id;
        } catch {
          return;
        }
      }
      if (typeof jobId === "string") running.get(jobId)?.abort(new Error("task was canceled"));
    });
    return (listening = subscriber.subscribe(channel, taskCancels));
  };

  const processor = async (job: JobLike<QueuedJobData<D>>, _token?: string, signal?: AbortSignal): Promise<R> => {
    await listen();
    const id = job.data.heraldTaskId;
    const controller = new AbortController();
    if (signal) signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
    running.set(id, controller);
    // Reports go out in order, one progress update each, never waiting on the job's code.
    let chain: Promise<void> = Promise.resolve();
    const report = (r: Report) => {
      if (controller.signal.aborted) return;
      chain = chain.then(() => job.updateProgress({ herald: [r] })).catch(() => {});
    };
    const ctx: WorkerTaskContext<D> = {
      id,
      data: job.data.data,
      signal: controller.signal,
      progress(percent) {
        if (typeof percent !== "number" || !Number.isFinite(percent) || percent < 0 || percent > 100) {
          throw new RangeError("progress must be a number from 0 to 100");
        }
        report({ progress: percent });
      },
      step(name, status) {
        report({ step: [name, status] });
      },
      text(chunk) {
        if (typeof chunk !== "string") throw new TypeError("text chunks are strings");
        if (chunk.length > 0) report({ text: chunk });
      },
    };
    try {
      const result = await run(ctx, job);
      await chain; // every report reaches the task before the result does
      return result;
    } finally {
      running.delete(id);
    }
  };
  return Object.assign(processor, {
    async close() {
      running.clear();
      if (subscriber) await end(subscriber);
    },
  });
}
