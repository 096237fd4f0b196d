/**
 * One measurement: one fresh server process and one fresh load-generator process, at one number of
 * subscribers. Steps: start, warm up, GC + RSS, connect N idle subscribers, GC + RSS, a steady run
 * (5 events/s), then the burst runs when N is a burst size. Both processes are stopped at the end,
 * whatever happened.
 */
import path from "node:path";
import { BENCH_DIR, NEXT_APP_DIR, NEXT_BIN, ROOT_DIR } from "./config.mjs";
import { freePort, sleep, startProcess, stopProcess } from "./children.mjs";
import { control, waitUntilUp } from "./control-client.mjs";
import { startLoadGenerator } from "./load-client.mjs";
import { busyCores, machineTicks, stealShare } from "./machine-load.mjs";

export function serverCommand(server, port, config) {
  const nodeArgs = ["--expose-gc"];
  if (config.cpuProfile) {
    nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${path.join(config.outDir, "tmp")}`);
    nodeArgs.push(`--cpu-prof-name=${server.name}-${Date.now()}.cpuprofile`);
  }
  const env = { ...process.env, PORT: String(port), NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" };
  if (server.next) {
    env.BENCH_TARGET = server.next;
    const args = [...nodeArgs, NEXT_BIN, "start", NEXT_APP_DIR, "-p", String(port), "-H", "127.0.0.1"];
    return { args, env };
  }
  return { args: [...nodeArgs, path.join(BENCH_DIR, server.script)], env };
}

export const cpuOf = (s) => s.cpuUser + s.cpuSystem;

/** A saturated server (the naive Next pattern at 10k) may take this long to answer a control call. */
export const BUSY_TIMEOUT_MS = 60_000;

/** Waits until the server counts `n` subscribers (or `timeoutMs`); returns its last stats. */
export async function waitForSubscribers(port, n, timeoutMs, exact = false) {
  const until = Date.now() + timeoutMs;
  let stats;
  do {
    stats = await control(port, "stats");
    if (exact ? stats.subscribers === n : stats.subscribers >= n) return stats;
    await sleep(100);
  } while (Date.now() < until);
  return stats;
}

/**
 * One publish run: reset the load generator's counters, read the server's CPU time, start the
 * server's publish schedule, wait for it to end and for deliveries to stop arriving, read the CPU
 * time again.
 */
export async function publishRun(port, load, { label, mode, rate, durationMs, group = 1 }, otherPorts = []) {
  const { open: openAtStart } = await load.call("reset");
  // CPU of other server processes that deliver the same events (several processes on one broker).
  const others0 = await Promise.all(otherPorts.map((p) => control(p, "stats", {}, BUSY_TIMEOUT_MS)));
  const s0 = await control(port, "stats", {}, BUSY_TIMEOUT_MS);
  const m0 = machineTicks();
  const t0 = performance.now();
  await control(port, "start", { mode, rate, durationMs, group }, BUSY_TIMEOUT_MS);
  await sleep(durationMs);
  // Wait for the schedule to finish and for deliveries to stop (all in, or nothing new for 1.5 s).
  let last = -1;
  let lastChange = performance.now();
  const capUntil = performance.now() + Math.max(30_000, durationMs * 2);
  for (;;) {
    const status = await control(port, "stats", {}, BUSY_TIMEOUT_MS);
    const { received } = await load.call("count");
    const published = status.run?.published ?? 0;
    if (status.run?.done && received >= published * openAtStart) break;
    if (received !== last) {
      last = received;
      lastChange = performance.now();
    } else if (status.run?.done && performance.now() - lastChange > 1500) break;
    if (performance.now() > capUntil) break;
    await sleep(100);
  }
  const s1 = await control(port, "stats", {}, BUSY_TIMEOUT_MS);
  const others1 = await Promise.all(otherPorts.map((p) => control(p, "stats", {}, BUSY_TIMEOUT_MS)));
  const m1 = machineTicks();
  const wallMs = performance.now() - t0;
  const client = await load.call("report");
  const run = s1.run;
  const expected = run.published * openAtStart;
  const perProcessCpuUs = [cpuOf(s1) - cpuOf(s0), ...others1.map((s, i) => cpuOf(s) - cpuOf(others0[i]))];
  const cpuUs = perProcessCpuUs.reduce((a, b) => a + b, 0);
  const cpuSystemUs =
    s1.cpuSystem - s0.cpuSystem + others1.reduce((a, s, i) => a + s.cpuSystem - others0[i].cpuSystem, 0);
  return {
    label,
    mode,
    rate,
    group: run.group,
    durationMs,
    published: run.published,
    publishTicks: run.ticks,
    maxEventsPerTick: run.maxPerTick,
    publishErrors: run.errors,
    subscribersOpen: openAtStart,
    expected,
    received: client.received,
    lost: Math.max(0, expected - client.received),
    closedDuringRun: client.closed,
    serverCpuMs: Math.round(cpuUs / 1000),
    serverCpuUs: cpuUs,
    answers: client.answers,
    serverCpuSystemMs: Math.round(cpuSystemUs / 1000),
    ...(otherPorts.length
      ? { serverProcesses: 1 + otherPorts.length, perProcessCpuMs: perProcessCpuUs.map((u) => Math.round(u / 1000)) }
      : {}),
    cpuUsPerDelivery: client.received > 0 ? Math.round((cpuUs / client.received) * 100) / 100 : null,
    serverCpuShare: Math.round((cpuUs / 1000 / wallMs) * 1000) / 1000,
    windowMs: Math.round(wallMs),
    latency: client.latency,
    loadGenerator: {
      cpuMs: client.cpuMs,
      cpuShare: client.cpuShare,
      processes: client.processes,
      saturated: client.cpuShareMax > 0.85,
    },
    serverSaturated: Math.max(...perProcessCpuUs) / 1000 / wallMs > 0.9,
    machine: otherLoad(busyCores(m0, m1), cpuUs / 1000 / wallMs, client.cpuShare, stealShare(m0, m1)),
    rssAfterMiB: Math.round((s1.rss / 2 ** 20) * 10) / 10,
  };
}

const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  return Math.round(m * 100) / 100;
};

/**
 * Runs `once` `n` times (BENCH_REPEAT) and folds the runs: medians of CPU per delivery, p50 and
 * p99; sums of expected, received and lost; the run with the median CPU for everything else; and
 * each run's headline figures in `runs`.
 */
export async function repeated(n, once) {
  const runs = [];
  for (let i = 0; i < n; i++) runs.push(await once());
  if (runs.length === 1) return runs[0];
  const cpu = runs.map((r) => r.cpuUsPerDelivery);
  const mid = runs.slice().sort((a, b) => (a.cpuUsPerDelivery ?? Infinity) - (b.cpuUsPerDelivery ?? Infinity))[
    Math.floor((runs.length - 1) / 2)
  ];
  const sum = (k) => runs.reduce((acc, r) => acc + r[k], 0);
  return {
    ...mid,
    cpuUsPerDelivery: median(cpu),
    cpuRange: [Math.min(...cpu), Math.max(...cpu)],
    latency: {
      ...mid.latency,
      p50Ms: median(runs.map((r) => r.latency.p50Ms)),
      p99Ms: median(runs.map((r) => r.latency.p99Ms)),
    },
    expected: sum("expected"),
    received: sum("received"),
    lost: sum("lost"),
    closedDuringRun: sum("closedDuringRun"),
    serverSaturated: runs.some((r) => r.serverSaturated),
    loadGenerator: { ...mid.loadGenerator, saturated: runs.some((r) => r.loadGenerator.saturated) },
    repeats: runs.length,
    runs: runs.map((r) => ({
      cpuUsPerDelivery: r.cpuUsPerDelivery,
      p50Ms: r.latency.p50Ms,
      p99Ms: r.latency.p99Ms,
      lost: r.lost,
      serverCpuShare: r.serverCpuShare,
      clientCpuShare: r.loadGenerator.cpuShare,
      otherCores: r.machine?.otherCores ?? null,
      eventsPerTick: Math.round((r.published / Math.max(1, r.publishTicks)) * 100) / 100,
    })),
  };
}

/**
 * How busy the host was with work other than this server and its load generator (the runner
 * itself is idle but for a few control calls), in cores.
 */
export function otherLoad(machineCores, serverShare, clientShare, steal) {
  if (machineCores === null) return null;
  const others = Math.max(0, Math.round((machineCores - serverShare - clientShare) * 100) / 100);
  return { busyCores: machineCores, otherCores: others, steal, busyHost: others > 0.3 };
}

/**
 * Runs `body(port, load)` against a fresh server process (`server`) and `loadProcesses` fresh load
 * generators, and stops all of them at the end, whatever happened. Never throws: an error is
 * recorded in `result` (`error`, the server's last output); `result.ok` is set when `body` ends.
 */
export async function withServer(server, config, log, loadProcesses, result, body) {
  const port = await freePort();
  const { args, env } = serverCommand(server, port, config);
  const child = startProcess(process.execPath, args, { cwd: ROOT_DIR, env });
  let load;
  try {
    const first = await waitUntilUp(port, child);
    result.serverPid = first.pid;
    if (!first.gcAvailable) result.warning = "gc() not available in the server: memory figures are without GC";
    load = startLoadGenerator(loadProcesses);
    await body(port, load);
    result.ok = true;
  } catch (error) {
    result.error = String(error?.message ?? error);
    const output = child.output().trim();
    if (output) result.serverOutput = output.slice(-2000);
    log(`  ERROR: ${result.error}`);
  } finally {
    await stopProcess(child);
    if (load) {
      await load.call("close", {}, 5000).catch(() => {});
      for (const c of load.children) await stopProcess(c, 2000);
    }
  }
  return result;
}

/**
 * The steps every row begins with: warm up (20 subscribers and a few events, so lazily loaded code
 * such as Next routes and the JIT's is not counted as per-subscriber memory; then back to zero),
 * `gc` and RSS, connect `size` subscribers (`connectArgs`: kind, port, path), `gc` and RSS again,
 * then CPU for 2 s with nothing published (timers, heartbeats). Fills `result.connect`, `.memory`
 * and `.idle`. With `held` (long-polls), memory is per request the server holds, as it counts them.
 */
export async function connectAndMeasure(port, load, connectArgs, size, config, log, result, { held = false } = {}) {
  const warm = await load.call("connect", { ...connectArgs, count: 20, batch: 20, batchTimeoutMs: 10_000 });
  if (warm.open === 0) throw new Error(`warm-up: no subscriber could connect: ${warm.errorSamples.join("; ")}`);
  await waitForSubscribers(port, warm.open, 5000);
  await control(port, "start", { mode: "paced", rate: 50, durationMs: 200 });
  await sleep(600);
  await load.call("disconnect");
  await waitForSubscribers(port, 0, 5000, true);

  const before = await control(port, "gc");
  log(`  connecting ${size} ${held ? "long-pollers" : "subscribers"}`);
  const connected = await load.call(
    "connect",
    { ...connectArgs, count: size, batch: config.connectBatch, timeoutMs: config.connectTimeoutMs },
    config.connectTimeoutMs + 30_000,
  );
  result.connect = {
    open: connected.open,
    failed: connected.openErrors,
    timedOut: connected.timedOut,
    stalled: connected.stalled,
    ms: connected.connectMs,
    errorSamples: connected.errorSamples,
  };
  if (connected.open === 0) throw new Error(`no subscriber could connect: ${connected.errorSamples.join("; ")}`);
  const counted = await waitForSubscribers(port, connected.open, 15_000);
  result.connect.serverCounted = counted.subscribers;
  await sleep(1000);
  const after = await control(port, "gc");
  if (held) {
    const n = after.subscribers;
    result.memory = { heldRequests: n, ...memoryDelta(before, after, n) };
    log(`  ${n} held in ${connected.connectMs} ms; ${result.memory.kibPerSubscriber} KiB/held request (RSS)`);
  } else {
    const n = connected.open;
    result.memory = memoryDelta(before, after, n);
    log(`  ${n} open in ${connected.connectMs} ms; ${result.memory.kibPerSubscriber} KiB/subscriber (RSS)`);
  }

  const idle0 = await control(port, "stats");
  const idleT0 = performance.now();
  await sleep(2000);
  const idle1 = await control(port, "stats");
  result.idle = {
    cpuShare: Math.round(((cpuOf(idle1) - cpuOf(idle0)) / 1000 / (performance.now() - idleT0)) * 1000) / 1000,
  };
}

/** Measures `server` at `size` subscribers; never throws (errors are recorded in the result). */
export async function measure(server, size, config, log) {
  const result = { server: server.name, group: server.group ?? "sse", subscribers: size, ok: false };
  const loadProcesses = config.loadProcesses?.[server.group ?? "sse"] ?? 1;
  return withServer(server, config, log, loadProcesses, result, async (port, load) => {
    const connectArgs = { kind: server.kind ?? "sse", port, path: server.ssePath };
    await connectAndMeasure(port, load, connectArgs, size, config, log, result);

    result.steady = await repeated(config.repeat, () =>
      publishRun(port, load, {
        label: `steady ${config.rate}/s`,
        mode: "paced",
        rate: config.rate,
        durationMs: config.steadyMs,
      }),
    );
    log(`  steady: ${summarize(result.steady)}`);

    if (config.burstSizes.includes(size)) {
      result.bursts = [];
      const shapes = [
        { label: `burst ${config.burstRate}/s paced`, mode: "paced", group: 1 },
        {
          label: `burst ${config.burstRate}/s in groups of ${config.burstGroup}`,
          mode: "grouped",
          group: config.burstGroup,
        },
      ];
      for (const shape of shapes) {
        const burst = await repeated(config.repeat, async () => {
          await sleep(500);
          return publishRun(port, load, { ...shape, rate: config.burstRate, durationMs: config.burstMs });
        });
        result.bursts.push(burst);
        log(`  ${shape.label}: ${summarize(burst)}`);
      }
    }
  });
}

/** Memory per connection between two `gc` stats (RSS, and JS heap + external). */
export function memoryDelta(before, after, n) {
  return {
    rssBeforeMiB: Math.round((before.rss / 2 ** 20) * 10) / 10,
    rssAfterMiB: Math.round((after.rss / 2 ** 20) * 10) / 10,
    kibPerSubscriber: Math.round(((after.rss - before.rss) / 1024 / n) * 100) / 100,
    newSpaceMiB: [before, after].map((s) => Math.round(((s.heapSpaces?.new_space ?? 0) / 2 ** 20) * 10) / 10),
    heapTotalMiB: [before, after].map((s) => Math.round((s.heapTotal / 2 ** 20) * 10) / 10),
    heapKibPerSubscriber:
      Math.round(((after.heapUsed + after.external - before.heapUsed - before.external) / 1024 / n) * 100) / 100,
  };
}

export function summarize(r) {
  const sat = [r.serverSaturated ? "server saturated" : "", r.loadGenerator.saturated ? "load generator saturated" : ""]
    .filter(Boolean)
    .join(", ");
  return (
    `${r.cpuUsPerDelivery} µs/delivery, p50 ${r.latency.p50Ms} ms, p99 ${r.latency.p99Ms} ms, ` +
    `lost ${r.lost}/${r.expected}, server CPU ${Math.round(r.serverCpuShare * 100)}%, ` +
    `client CPU ${Math.round(r.loadGenerator.cpuShare * 100)}%${sat ? ` (${sat})` : ""}`
  );
}
