/**
 * Jobs in a worker process: a BullMQ worker (a child process) runs a Herald task's job on a real
 * Redis; its progress, steps, text and result reach the task, and a cancel on the web side reaches it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Queue, QueueEvents } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHerald, type Herald } from "../../src/server/index.js";
import { heraldRedis, queuedJob } from "../../src/redis/index.js";
import type { StoredEvent } from "../../src/brokers/types.js";
import { waitFor } from "../helpers.js";
import { startRedis, type TestRedis } from "../redis/redis-server.js";

let redis: TestRedis;
let worker: ChildProcess;
let herald: Herald;
let queue: Queue;
let events: QueueEvents;
let out = "";
const prefix = "bq";
const QUEUE = "reports";

beforeAll(async () => {
  redis = await startRedis();
  const connection = { host: "127.0.0.1", port: redis.port };
  worker = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      fileURLToPath(new URL("./bullmq-worker.ts", import.meta.url)),
      String(redis.port),
      QUEUE,
      prefix,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  worker.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  herald = createHerald({ redis: heraldRedis(redis.url, { prefix }) });
  queue = new Queue(QUEUE, { connection });
  events = new QueueEvents(QUEUE, { connection });
  await events.waitUntilReady();
  await waitFor(() => out.includes("ready"), 15_000, "the worker");
}, 30_000);
afterAll(async () => {
  worker?.kill("SIGKILL");
  await events?.close();
  await queue?.close();
  await herald?.close();
  await redis?.stop();
});

function follow(taskId: string): StoredEvent[] {
  const seen: StoredEvent[] = [];
  herald.broker.subscribe(`task-${taskId}`, (event) => seen.push(event));
  return seen;
}

describe("BullMQ jobs as Herald tasks", () => {
  it("a job in a worker process reports steps, progress, text and its result through the task", async () => {
    const task = await herald.tasks.start("alice", queuedJob(queue, events, "report", { mode: "finish" }, { prefix }), {
      title: "Report",
      steps: ["fetch"],
    });
    const seen = follow(task.id);
    const done = await herald.tasks.wait(task.id, "alice");
    expect(done).toMatchObject({
      status: "succeeded",
      progress: 75,
      text: "Hello from the worker",
      steps: [{ name: "fetch", status: "done" }],
      result: { pages: 3, pid: worker.pid },
    });
    expect(seen.map((e) => e.event)).toContain("result");
  });

  it("a failing job fails the task with its message", async () => {
    const task = await herald.tasks.start("alice", queuedJob(queue, events, "report", { mode: "fail" }, { prefix }));
    expect(await herald.tasks.wait(task.id, "alice")).toMatchObject({
      status: "failed",
      error: { message: "the report could not be built" },
    });
  });

  it("a cancel from the browser reaches the job in the worker", async () => {
    const task = await herald.tasks.start("alice", queuedJob(queue, events, "report", { mode: "wait" }, { prefix }));
    for (let i = 0; i < 200; i++) {
      if ((await herald.tasks.get(task.id, "alice")).progress === 75) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(await herald.tasks.get(task.id, "alice")).toMatchObject({ status: "running", progress: 75 });
    expect(await herald.tasks.cancel(task.id, "alice")).toMatchObject({ status: "canceled" });
    await waitFor(() => out.includes(`aborted ${task.id}`), 5000, "the worker's job to abort");
    expect(await herald.tasks.wait(task.id, "alice")).toMatchObject({ status: "canceled" });
  });

  it("a cancel reaches the worker even when the web process that started the task is gone", async () => {
    const starter = createHerald({ redis: heraldRedis(redis.url, { prefix, cancel: { leaseMs: 600 } }) });
    const task = await starter.tasks.start("alice", queuedJob(queue, events, "report", { mode: "wait" }, { prefix }));
    for (let i = 0; i < 200; i++) {
      if ((await herald.tasks.get(task.id, "alice")).progress === 75) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await starter.close(); // its relay is gone; the job still runs in the worker
    expect(await herald.tasks.cancel(task.id, "alice")).toMatchObject({ status: "canceled" });
    await waitFor(() => out.includes(`aborted ${task.id}`), 5000, "the worker's job to abort");
  });
});
