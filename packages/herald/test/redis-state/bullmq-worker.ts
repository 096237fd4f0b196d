/**
 * A BullMQ worker process running Herald task jobs: `bullmq-worker.ts <redis-port> <queue> <prefix>`.
 * Jobs: `{ mode: "finish" }` reports a step, progress and text, then returns; `{ mode: "wait" }`
 * reports, then waits for its signal (a cancel) and prints `aborted <task id>`.
 */
import { Worker } from "bullmq";
import { heraldProcessor } from "../../src/redis/bullmq.js";

const [port, queue, prefix] = process.argv.slice(2);
const connection = { host: "127.0.0.1", port: Number(port) };
const processor = heraldProcessor<{ mode: string }, unknown>(
  async (ctx) => {
    ctx.step("fetch", "active");
    ctx.progress(25);
    ctx.text("Hello ");
    ctx.text("from the worker");
    ctx.step("fetch", "done");
    ctx.progress(75);
    if (ctx.data.mode === "wait") {
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
      process.stdout.write(`aborted ${ctx.id}\n`);
      throw new Error("canceled");
    }
    if (ctx.data.mode === "fail") throw new Error("the report could not be built");
    return { pid: process.pid, pages: 3 };
  },
  { redis: connection, queue: queue!, prefix },
);
const worker = new Worker(queue!, processor, { connection, concurrency: 4 });
worker.on("ready", () => process.stdout.write("ready\n"));
await worker.waitUntilReady();
process.stdout.write("ready\n");
