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
import { sleep } from "./children.mjs";
import { control } from "./control-client.mjs";
import { busyCores, machineTicks, stealShare } from "./machine-load.mjs";
import {
  BUSY_TIMEOUT_MS,
  connectAndMeasure,
  cpuOf,
  otherLoad,
  publishRun,
  summarize,
  withServer,
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
 * held request, idle CPU (the steps every row begins with), then the long-poll wake window. Fills
 * `result.connect`, `.memory`, `.idle` and `.longPoll`.
 */
async function holdAndWake(port, load, server, size, config, log, result) {
  await load.call("pollMode", { long: true, waitS: config.pollWaitS });
  await connectAndMeasure(port, load, { kind: "poll", port, path: server.ssePath }, size, config, log, result, {
    held: true,
  });

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
function measureFloor(size, config, log) {
  const server = { name: "poll-floor", script: "servers/poll-floor.mjs", ssePath: "/poll?channel=bench" };
  log(`  floor (plain node:http, the same exchange):`);
  const floor = { server: "poll-floor", ok: false };
  return withServer(server, config, log, config.loadProcesses?.poll ?? 2, floor, (port, load) =>
    holdAndWake(port, load, server, size, config, log, floor),
  );
}

/** Measures the poll endpoint at `size` clients; never throws (errors are recorded in the result). */
export async function measurePoll(server, size, config, log) {
  const result = { server: server.name, group: "poll", subscribers: size, ok: false };
  await withServer(server, config, log, config.loadProcesses?.poll ?? 2, result, async (port, load) => {
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
  });
  if (result.ok && process.env.BENCH_POLL_FLOOR !== "0") result.floor = await measureFloor(size, config, log);
  return result;
}
