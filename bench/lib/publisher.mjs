/**
 * The publish schedule every benchmarked server runs in its own process, so publishes are
 * triggered the same way for all of them. The runner starts it through the control endpoint;
 * each event's payload carries its publish time (`t`, wall-clock ms with sub-ms precision) and its
 * number (`n`), and the load generator compares `t` with its own clock on receipt.
 *
 * Modes:
 * - `paced`: event i is due at start + i * (1000 / rate) ms. One timer; when it fires it publishes
 *   every event that is due (so a busy loop catches up with several publishes in one tick, as
 *   independent publishers would queue up in reality).
 * - `grouped`: every `group` events are due together; each group is published synchronously in
 *   one tick (for example a job emitting several progress events at once).
 */
import { performance } from "node:perf_hooks";

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes on one host. */
export function wallMs() {
  return performance.timeOrigin + performance.now();
}

/**
 * @param {(payload: {t: number, n: number}) => unknown} publish  publishes one event (may return a promise)
 */
export function createPublisher(publish) {
  let run = null;
  let errors = 0;
  let lastError = null;

  function publishOne(n) {
    try {
      const r = publish({ t: wallMs(), n });
      if (r && typeof r.then === "function") r.then(undefined, onError);
    } catch (error) {
      onError(error);
    }
  }
  function onError(error) {
    errors++;
    lastError = String(error?.stack ?? error);
  }

  function start({ mode = "paced", rate = 5, durationMs = 10_000, group = 1 }) {
    if (run && !run.done) throw new Error("a publish run is already in progress");
    const total = Math.max(1, Math.round((rate * durationMs) / 1000));
    const step = group === 1 || mode !== "grouped" ? 1 : group;
    const intervalMs = (1000 / rate) * step;
    const r = {
      mode,
      rate,
      durationMs,
      group: step,
      total,
      published: 0,
      ticks: 0,
      maxPerTick: 0,
      startedAt: wallMs(),
      endedAt: null,
      done: false,
      timer: null,
    };
    run = r;
    const fire = () => {
      r.timer = null;
      const now = wallMs();
      const dueGroups = Math.floor((now - r.startedAt) / intervalMs) + 1;
      const due = Math.min(r.total, dueGroups * step);
      const before = r.published;
      while (r.published < due) publishOne(++r.published);
      if (r.published > before) {
        r.ticks++;
        r.maxPerTick = Math.max(r.maxPerTick, r.published - before);
      }
      if (r.published >= r.total) {
        r.done = true;
        r.endedAt = wallMs();
        return;
      }
      const nextDue = r.startedAt + Math.floor(r.published / step) * intervalMs;
      r.timer = setTimeout(fire, Math.max(0, nextDue - wallMs()));
    };
    fire();
    return status();
  }

  function stop() {
    if (run?.timer) clearTimeout(run.timer);
    if (run && !run.done) {
      run.done = true;
      run.endedAt = wallMs();
    }
  }

  function status() {
    if (!run) return { idle: true, errors, lastError };
    const rest = { ...run };
    delete rest.timer;
    return { ...rest, errors, lastError };
  }

  return { start, stop, status };
}
