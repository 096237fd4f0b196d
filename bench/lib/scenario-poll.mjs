/**
 * One polling row (herald-poll): a fresh server and fresh load generators, N poll clients.
 * Steps:
 *
 * 1. warm up (20 long-pollers, 10 events), disconnect;
 * 2. `gc`, RSS; connect N clients, each making a first poll (answered at once with the head cursor)
 *    and then a long-poll (`wait=25`) that the server holds; wait until it holds them all; 1 s;
 *    `gc`, RSS: memory per held long-poll (its socket, request, response and waiter);
 * 3. 2 s idle (CPU with N held requests);
 * 4. **long-poll wakes**: `pollRate` events/s for `pollMs`: every event answers every held request,
 *    and each client polls again at once (held again). CPU µs per wake = server CPU / answers that
 *    carried events (the answer plus the next request's admission, read and hold);
 * 5. **short polls**: the clients switch to one poll every N / `shortPollRate` s (spread evenly;
 *    one event releases the held long-polls first), without `wait`: for `pollMs` with nothing
 *    published (every answer a 304 on `If-None-Match`), then for `pollMs` with `pollRate` events/s
 *    (answers carry the events since the client's last poll). CPU µs per poll request = server CPU
 *    / requests answered;
 * 6. **the floor** (unless `BENCH_POLL_FLOOR=0`): steps 1–4 again against `servers/poll-floor.mjs`,
 *    plain node:http doing the same exchange with nothing else (held requests answered with one
 *    body per event), in a fresh process with fresh load generators: what node:http alone costs per
 *    wake and per held request on this machine, in the same run.
 */
import { freePort, sleep, startProcess, stopProcess } from "./children.mjs";
import { ROOT_DIR } from "./config.mjs";
import { control, waitUntilUp } from "./control-client.mjs";
import { startLoadGenerator } from "./load-client.mjs";
import { busyCores, machineTicks, stealShare } from "./machine-load.mjs";
import {
  BUSY_TIMEOUT_MS,
  cpuOf,
  memoryDelta,
  otherLoad,
  publishRun,
  serverCommand,
  summarize,
  waitForSubscribers,
} from "./scenario.mjs";

/** Short polls for `durationMs` (with `rate` events/s published meanwhile when > 0). */
async function shortPollRun(port, load, { label, durationMs, rate, intervalMs }) {
  const { open } = await load.call("reset");
  const s0 = await control(port, "stats", {}, BUSY_TIMEOUT_MS);
  const m0 = machineTicks();
  const t0 = performance.now();
  if (rate > 0) await control(port, "start", { mode: "paced", rate, durationMs }, BUSY_TIMEOUT_MS);
  await sleep(durationMs);
  const s1 = await control(port, "stats", {}, BUSY_TIMEOUT_MS);
  const m1 = machineTicks();
  const wallMs = performance.now() - t0;
  const client = await load.call("report");
  const cpuUs = cpuOf(s1) - cpuOf(s0);
  const requests = client.answers.withEvents + client.answers.empty + client.answers.other;
  return {
    label,
    durationMs,
    rate,
    intervalMs,
    clients: open,
    requests,
    requestsPerSecond: Math.round(requests / (wallMs / 1000)),
    answers: client.answers,
    published: rate > 0 ? (s1.run?.published ?? 0) : 0,
    received: client.received,
    serverCpuMs: Math.round(cpuUs / 1000),
    cpuUsPerRequest: requests > 0 ? Math.round((cpuUs / requests) * 100) / 100 : null,
    serverCpuShare: Math.round((cpuUs / 1000 / wallMs) * 1000) / 1000,
    serverSaturated: cpuUs / 1000 / wallMs > 0.9,
    latency: client.latency,
    closedDuringRun: client.closed,
    loadGenerator: {
      cpuMs: client.cpuMs,
      cpuShare: client.cpuShare,
      processes: client.processes,
      saturated: client.cpuShareMax > 0.85,
    },
    machine: otherLoad(busyCores(m0, m1), cpuUs / 1000 / wallMs, client.cpuShare, stealShare(m0, m1)),
  };
}

/** `herald.stats()` of a herald-poll server (null for other servers). */
async function hubStats(port) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/api/bench-hub/stats`);
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

/**
 * Steps 1-4 of a polling row on a running server: warm up, connect `size` long-pollers, memory per
 * held request, idle CPU, then the long-poll wake window. Fills `result.connect`, `.memory`,
 * `.idle` and `.longPoll`.
 */
async function holdAndWake(port, load, server, size, config, log, result) {
  await load.call("pollMode", { long: true, waitS: config.pollWaitS });
  const connectArgs = { kind: "poll", port, path: server.ssePath };

  const warm = await load.call("connect", { ...connectArgs, count: 20, batch: 20, batchTimeoutMs: 10_000 });
  if (warm.open === 0) throw new Error(`warm-up: no poller could connect: ${warm.errorSamples.join("; ")}`);
  await waitForSubscribers(port, warm.open, 5000);
  await control(port, "start", { mode: "paced", rate: 50, durationMs: 200 });
  await sleep(600);
  await load.call("disconnect");
  await waitForSubscribers(port, 0, 5000, true);

  const before = await control(port, "gc");
  log(`  connecting ${size} long-pollers`);
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
  if (connected.open === 0) throw new Error(`no poller could connect: ${connected.errorSamples.join("; ")}`);
  const counted = await waitForSubscribers(port, connected.open, 15_000);
  result.connect.serverCounted = counted.subscribers;
  await sleep(1000);
  const after = await control(port, "gc");
  const held = after.subscribers;
  result.memory = { heldRequests: held, ...memoryDelta(before, after, held) };
  log(`  ${held} held in ${connected.connectMs} ms; ${result.memory.kibPerSubscriber} KiB/held request (RSS)`);

  const idle0 = await control(port, "stats");
  const idleT0 = performance.now();
  await sleep(2000);
  const idle1 = await control(port, "stats");
  result.idle = {
    cpuShare: Math.round(((cpuOf(idle1) - cpuOf(idle0)) / 1000 / (performance.now() - idleT0)) * 1000) / 1000,
  };

  const hub0 = await hubStats(port);
  const wake = await publishRun(port, load, {
    label: `long-poll ${config.pollRate}/s`,
    mode: "paced",
    rate: config.pollRate,
    durationMs: config.pollMs,
  });
  const wakes = wake.answers?.withEvents ?? 0;
  wake.wakes = wakes;
  wake.cpuUsPerWake = wakes > 0 ? Math.round((wake.serverCpuUs / wakes) * 100) / 100 : null;
  wake.emptyAnswers = wake.answers?.empty ?? 0;
  const hub1 = await hubStats(port);
  if (hub0 && hub1) {
    // Herald's own count: answers made from the event in hand, and log reads by long-polls.
    wake.hub = {
      wakesFromEventInHand: hub1.pollWakes - hub0.pollWakes,
      logReads: hub1.pollReads - hub0.pollReads,
      eventsDelivered: hub1.pollDelivered - hub0.pollDelivered,
    };
  }
  result.longPoll = wake;
  log(`  long-poll: ${wake.cpuUsPerWake} µs/wake; ${summarize(wake)}`);
}

/** The floor (step 6): the same long-poll steps against plain node:http; never throws. */
async function measureFloor(size, config, log) {
  const floor = { server: "poll-floor", ok: false };
  const server = { name: "poll-floor", script: "servers/poll-floor.mjs", ssePath: "/poll?channel=bench" };
  const port = await freePort();
  const { args, env } = serverCommand(server, port, config);
  const child = startProcess(process.execPath, args, { cwd: ROOT_DIR, env });
  let load;
  try {
    await waitUntilUp(port, child);
    load = startLoadGenerator(config.loadProcesses?.poll ?? 2);
    log(`  floor (plain node:http, the same exchange):`);
    await holdAndWake(port, load, server, size, config, log, floor);
    floor.ok = true;
  } catch (error) {
    floor.error = String(error?.message ?? error);
    log(`  floor ERROR: ${floor.error}`);
  } finally {
    await stopProcess(child);
    if (load) {
      await load.call("close", {}, 5000).catch(() => {});
      for (const c of load.children) await stopProcess(c, 2000);
    }
  }
  return floor;
}

/** Measures the poll endpoint at `size` clients; never throws (errors are recorded in the result). */
export async function measurePoll(server, size, config, log) {
  const result = { server: server.name, group: "poll", subscribers: size, ok: false };
  const port = await freePort();
  const { args, env } = serverCommand(server, port, config);
  const child = startProcess(process.execPath, args, { cwd: ROOT_DIR, env });
  let load;
  try {
    const first = await waitUntilUp(port, child);
    result.serverPid = first.pid;
    load = startLoadGenerator(config.loadProcesses?.poll ?? 2);
    await holdAndWake(port, load, server, size, config, log, result);

    // Short polls: release the held long-polls with one event, let the requests spread out.
    const intervalMs = Math.round((size / config.shortPollRate) * 1000);
    await load.call("pollMode", { long: false, intervalMs });
    await control(port, "start", { mode: "paced", rate: 1, durationMs: 1000 });
    for (const until = Date.now() + 10_000; Date.now() < until; await sleep(100)) {
      if ((await control(port, "stats")).subscribers <= Math.max(5, size / 20)) break;
    }
    await sleep(Math.min(intervalMs, 3000));
    result.shortPoll = [];
    for (const rate of [0, config.pollRate]) {
      const label = rate > 0 ? `short poll, ${rate} event/s` : "short poll, nothing new (304)";
      const run = await shortPollRun(port, load, { label, durationMs: config.pollMs, rate, intervalMs });
      result.shortPoll.push(run);
      log(
        `  ${label}: ${run.requests} requests (${run.requestsPerSecond}/s), ${run.cpuUsPerRequest} µs/request, ` +
          `server CPU ${Math.round(run.serverCpuShare * 100)}%`,
      );
    }
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
  if (result.ok && process.env.BENCH_POLL_FLOOR !== "0") result.floor = await measureFloor(size, config, log);
  return result;
}
