/**
 * The load generator: a separate process (forked by run.mjs, driven over IPC) holding every
 * subscriber socket. Commands: connect, disconnect, reset, count, report, pollMode, close; each
 * reply carries the request's `id`. A row may use several of these processes (each holds its share
 * of the connections); the runner sums their counts and merges their histograms.
 *
 * Kinds of subscriber (`connect`'s `kind`): `sse` (subscriber.mjs), `ws` and `pusher`
 * (ws-subscriber.mjs: plain WebSocket, or the Pusher handshake and a subscription), `poll`
 * (poller.mjs: long or short polling, as `pollMode` says).
 */
import { performance } from "node:perf_hooks";
import { Histogram } from "../lib/histogram.mjs";
import { openPoller, pollMode } from "./poller.mjs";
import { openSubscriber } from "./subscriber.mjs";
import { openWsSubscriber } from "./ws-subscriber.mjs";

const sockets = new Set();
const histogram = new Histogram();
let received = 0;
let openCount = 0;
let closedSinceReset = 0;
let openErrors = 0;
// Poll answers since the last reset: with events, without (200 empty or 304), other statuses.
let answersWithEvents = 0;
let answersEmpty = 0;
let answersOther = 0;
const errorSamples = [];
let cpuAtReset = process.cpuUsage();
let wallAtReset = performance.now();

const onEvent = (latencyMs) => {
  received++;
  histogram.record(latencyMs);
};

const onAnswer = (status, events) => {
  if (status === 200 && events > 0) answersWithEvents++;
  else if (status === 200 || status === 304) answersEmpty++;
  else answersOther++;
};

const OPENERS = {
  sse: openSubscriber,
  ws: (o) => openWsSubscriber({ ...o, pusher: false }),
  pusher: (o) => openWsSubscriber({ ...o, pusher: true }),
  poll: openPoller,
};

function sample(error) {
  if (error && errorSamples.length < 5) errorSamples.push(String(error.message ?? error));
}

/** Opens `count` subscribers in batches, waiting for each batch's response heads before the next. */
async function connect({ kind = "sse", port, path, count, batch = 500, batchTimeoutMs = 20_000, timeoutMs = 90_000 }) {
  const open = OPENERS[kind];
  if (!open) throw new Error(`unknown subscriber kind ${kind}`);
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
        const socket = open({
          port,
          path,
          onAnswer,
          onOpen: (error) => {
            if (error) {
              openErrors++;
              sample(error);
            } else {
              wasOpen = true;
              openCount++;
            }
            settle();
          },
          onEvent,
          onClose: (error) => {
            sockets.delete(socket);
            if (wasOpen) {
              openCount--;
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
  return {
    open: openCount,
    openErrors,
    errorSamples,
    timedOut,
    stalled,
    connectMs: Math.round(performance.now() - started),
  };
}

/** Closes every socket and resolves once they are all closed. */
async function disconnect() {
  for (const s of sockets) s.destroy();
  for (let i = 0; i < 100 && sockets.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  openErrors = 0;
  errorSamples.length = 0;
  return { open: openCount, remaining: sockets.size };
}

function reset() {
  histogram.reset();
  received = 0;
  closedSinceReset = 0;
  cpuAtReset = process.cpuUsage();
  wallAtReset = performance.now();
  answersWithEvents = answersEmpty = answersOther = 0;
  return { open: openCount };
}

function report() {
  const cpu = process.cpuUsage(cpuAtReset);
  const wallMs = performance.now() - wallAtReset;
  return {
    open: openCount,
    received,
    answers: { withEvents: answersWithEvents, empty: answersEmpty, other: answersOther },
    histogram: histogram.toSparse(),
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
        body = { open: openCount, received, answers: answersWithEvents + answersEmpty + answersOther };
        break;
      case "pollMode":
        Object.assign(pollMode, {
          long: msg.long ?? pollMode.long,
          waitS: msg.waitS ?? pollMode.waitS,
          intervalMs: msg.intervalMs ?? pollMode.intervalMs,
          generation: pollMode.generation + 1,
        });
        body = { ...pollMode };
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
