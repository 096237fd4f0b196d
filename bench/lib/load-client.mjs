/**
 * The runner's handle on the load generators of one row (load/client.mjs): one or more processes,
 * each holding its share of the connections (the open-file limit is per process), driven over IPC
 * with request/reply. `call` sends a command to every process and folds the replies into one:
 * counts are summed, latency histograms merged, CPU shares summed (`cpuShare`, cores) with the
 * busiest process's share beside it (`cpuShareMax`, for "saturated").
 */
import path from "node:path";
import { BENCH_DIR } from "./config.mjs";
import { forkModule } from "./children.mjs";
import { Histogram } from "./histogram.mjs";

function startOne() {
  const child = forkModule(path.join(BENCH_DIR, "load", "client.mjs"));
  let nextId = 1;
  const pending = new Map();
  child.on("message", (msg) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) p.reject(new Error(`load generator: ${msg.error}`));
    else p.resolve(msg);
  });
  child.once("exit", (code, signal) => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`load generator exited (${code ?? signal})`));
    }
    pending.clear();
  });
  const call = (type, args = {}, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`load generator: no reply to ${type} in ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      child.send({ id, type, ...args });
    });
  return { child, call };
}

const sum = (replies, key) => replies.reduce((acc, r) => acc + (r[key] ?? 0), 0);

function fold(type, replies) {
  if (replies.length === 1 && type !== "report") return replies[0];
  switch (type) {
    case "connect":
      return {
        open: sum(replies, "open"),
        openErrors: sum(replies, "openErrors"),
        errorSamples: replies.flatMap((r) => r.errorSamples).slice(0, 5),
        timedOut: replies.some((r) => r.timedOut),
        stalled: replies.some((r) => r.stalled),
        connectMs: Math.max(...replies.map((r) => r.connectMs)),
      };
    case "disconnect":
      return { open: sum(replies, "open"), remaining: sum(replies, "remaining") };
    case "reset":
      return { open: sum(replies, "open") };
    case "count":
      return { open: sum(replies, "open"), received: sum(replies, "received"), answers: sum(replies, "answers") };
    case "report": {
      const histogram = new Histogram();
      for (const r of replies) histogram.merge(r.histogram);
      const answers = { withEvents: 0, empty: 0, other: 0 };
      for (const r of replies) for (const k of Object.keys(answers)) answers[k] += r.answers?.[k] ?? 0;
      return {
        open: sum(replies, "open"),
        received: sum(replies, "received"),
        closed: sum(replies, "closed"),
        openErrors: sum(replies, "openErrors"),
        errorSamples: replies.flatMap((r) => r.errorSamples).slice(0, 5),
        answers,
        latency: histogram.summary(),
        cpuMs: sum(replies, "cpuMs"),
        wallMs: Math.max(...replies.map((r) => r.wallMs)),
        cpuShare: Math.round(sum(replies, "cpuShare") * 1000) / 1000,
        cpuShareMax: Math.max(...replies.map((r) => r.cpuShare)),
        processes: replies.length,
      };
    }
    default:
      return replies[0];
  }
}

/** Starts `n` load-generator processes; `connect` splits `count` (and `batch`) between them. */
export function startLoadGenerator(n = 1) {
  const procs = Array.from({ length: Math.max(1, n) }, startOne);
  const call = async (type, args = {}, timeoutMs = 30_000) => {
    const replies = await Promise.all(
      procs.map((p, i) => {
        if (type !== "connect") return p.call(type, args, timeoutMs);
        const share = Math.floor(args.count / procs.length) + (i < args.count % procs.length ? 1 : 0);
        const batch = Math.max(1, Math.ceil((args.batch ?? 500) / procs.length));
        // `ports`: process i connects to ports[i % ports.length] (subscribers spread over several servers).
        const port = args.ports ? args.ports[i % args.ports.length] : args.port;
        return p.call(type, { ...args, port, count: share, batch }, timeoutMs);
      }),
    );
    return fold(type, replies);
  };
  return { children: procs.map((p) => p.child), call };
}
