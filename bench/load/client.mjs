/**
 * The load generator: a separate process (forked by run.mjs, driven over IPC) holding every
 * subscriber socket. Commands: connect, disconnect, reset, count, report, close; each reply
 * carries the request's `id`.
 */
import { performance } from "node:perf_hooks";
import { Histogram } from "../lib/histogram.mjs";
import { openSubscriber } from "./subscriber.mjs";

const sockets = new Set();
const histogram = new Histogram();
let received = 0;
let open = 0;
let closedSinceReset = 0;
let openErrors = 0;
const errorSamples = [];
let cpuAtReset = process.cpuUsage();
let wallAtReset = performance.now();

const onEvent = (latencyMs) => {
  received++;
  histogram.record(latencyMs);
};

function sample(error) {
  if (error && errorSamples.length < 5) errorSamples.push(String(error.message ?? error));
}

/** Opens `count` subscribers in batches, waiting for each batch's response heads before the next. */
async function connect({ port, path, count, batch = 500, batchTimeoutMs = 20_000, timeoutMs = 90_000 }) {
  const started = performance.now();
  let done = 0;
  let timedOut = false;
  let stalled = false;
  while (done < count) {
    if (performance.now() - started > timeoutMs) {
      timedOut = true;
      break;
    }
    const n = Math.min(batch, count - done);
    const settledInBatch = await new Promise((resolve) => {
      let settled = 0;
      const timer = setTimeout(() => resolve(settled), batchTimeoutMs);
      const settle = () => {
        if (++settled === n) {
          clearTimeout(timer);
          resolve(settled);
        }
      };
      for (let i = 0; i < n; i++) {
        let wasOpen = false;
        const socket = openSubscriber({
          port,
          path,
          onOpen: (error) => {
            if (error) {
              openErrors++;
              sample(error);
            } else {
              wasOpen = true;
              open++;
            }
            settle();
          },
          onEvent,
          onClose: (error) => {
            sockets.delete(socket);
            if (wasOpen) {
              open--;
              closedSinceReset++;
              sample(error);
            }
          },
        });
        sockets.add(socket);
      }
    });
    done += n;
    if (settledInBatch === 0) {
      // Not one response head (nor error) in a whole batch: the server accepts but does not answer.
      stalled = true;
      sample(new Error(`no response head from any of ${n} requests within ${batchTimeoutMs} ms`));
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { open, openErrors, errorSamples, timedOut, stalled, connectMs: Math.round(performance.now() - started) };
}

/** Closes every socket and resolves once they are all closed. */
async function disconnect() {
  for (const s of sockets) s.destroy();
  for (let i = 0; i < 100 && sockets.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  openErrors = 0;
  errorSamples.length = 0;
  return { open, remaining: sockets.size };
}

function reset() {
  histogram.reset();
  received = 0;
  closedSinceReset = 0;
  cpuAtReset = process.cpuUsage();
  wallAtReset = performance.now();
  return { open };
}

function report() {
  const cpu = process.cpuUsage(cpuAtReset);
  const wallMs = performance.now() - wallAtReset;
  return {
    open,
    received,
    closed: closedSinceReset,
    openErrors,
    errorSamples,
    latency: histogram.summary(),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    wallMs: Math.round(wallMs),
    /** Share of one core the load generator used since the last reset. */
    cpuShare: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 1000,
  };
}

process.on("message", async (msg) => {
  let body;
  try {
    switch (msg.type) {
      case "connect":
        body = await connect(msg);
        break;
      case "disconnect":
        body = await disconnect();
        break;
      case "reset":
        body = reset();
        break;
      case "count":
        body = { open, received };
        break;
      case "report":
        body = report();
        break;
      case "close":
        for (const s of sockets) s.destroy();
        body = { ok: true };
        setTimeout(() => process.exit(0), 50);
        break;
      default:
        body = { error: `unknown command ${msg.type}` };
    }
  } catch (error) {
    body = { error: String(error?.stack ?? error) };
  }
  process.send({ id: msg.id, ...body });
});
process.on("disconnect", () => process.exit(0));
