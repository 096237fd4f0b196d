/**
 * The control endpoint every benchmarked server exposes (under `/api/bench/<op>`), transport-neutral:
 * `stats`, `gc` (full GC, then stats), `start` (a publish run, see publisher.mjs), `stop`.
 * Node servers mount it with {@link nodeControl}; the Next app calls {@link createControl} from a
 * route handler.
 */
import { collectGarbage, processStats } from "./process-stats.mjs";
import { createPublisher } from "./publisher.mjs";

export const CONTROL_PREFIX = "/api/bench/";

/**
 * @param {{ publish: (payload: {t: number, n: number}) => unknown, subscribers: () => number }} target
 * @returns {(op: string, params: URLSearchParams) => Promise<{status: number, body: object}>}
 */
export function createControl({ publish, subscribers }) {
  const publisher = createPublisher(publish);
  const snapshot = () => ({ ...processStats(), subscribers: subscribers(), run: publisher.status() });
  return async (op, params) => {
    try {
      switch (op) {
        case "stats":
          return { status: 200, body: snapshot() };
        case "gc":
          await collectGarbage();
          return { status: 200, body: snapshot() };
        case "start":
          publisher.start({
            mode: params.get("mode") ?? "paced",
            rate: Number(params.get("rate") ?? 5),
            durationMs: Number(params.get("durationMs") ?? 10_000),
            group: Number(params.get("group") ?? 1),
          });
          return { status: 200, body: snapshot() };
        case "stop":
          publisher.stop();
          return { status: 200, body: snapshot() };
        case "throughput":
          return {
            status: 200,
            body: await throughput(publish, {
              durationMs: Number(params.get("durationMs") ?? 2000),
              concurrency: Number(params.get("concurrency") ?? 1),
            }),
          };
        default:
          return { status: 404, body: { error: `unknown control op ${op}` } };
      }
    } catch (error) {
      return { status: 500, body: { error: String(error?.stack ?? error) } };
    }
  };
}

/**
 * Publish throughput: publishes as fast as it can for `durationMs`, keeping `concurrency`
 * publishes in flight (1: each publish awaited before the next), and counts the publishes that
 * resolved. Returns events/s and this process's CPU over the window.
 */
async function throughput(publish, { durationMs, concurrency }) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + Math.min(durationMs, 10_000);
  let done = 0;
  let errors = 0;
  let n = 0;
  const worker = async () => {
    while (performance.now() < end) {
      try {
        await publish({ t: performance.timeOrigin + performance.now(), n: ++n });
        done++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, 1000)) }, worker));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    concurrency,
    published: done,
    errors,
    ms: Math.round(ms),
    eventsPerS: Math.round((done / ms) * 1000),
    cpuUsPerPublish: done ? Math.round(((cpu.user + cpu.system) / done) * 100) / 100 : null,
  };
}

/** Serves the control endpoint on a Node request if its path is under {@link CONTROL_PREFIX}; returns false otherwise. */
export function nodeControl(control, req, res) {
  if (!req.url.startsWith(CONTROL_PREFIX)) return false;
  const url = new URL(req.url, "http://127.0.0.1");
  const op = url.pathname.slice(CONTROL_PREFIX.length);
  control(op, url.searchParams).then(({ status, body }) => {
    res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
    res.end(JSON.stringify(body));
  });
  return true;
}
