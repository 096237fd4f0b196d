/**
 * The Redis rows (issue 12): Herald on several processes sharing one RedisBroker beside one process
 * on the MemoryBroker, in the same run.
 *
 * - `herald-memory`: 1 herald-node process × N subscribers (MemoryBroker).
 * - `herald-redis`: P herald-redis processes × N/P subscribers each, on the bench's own
 *   redis-server (started here on a free port without persistence, stopped at the end). The
 *   publisher is the first process: its `herald.publish` goes to Redis, and every process
 *   (itself included) gets the event back over pub/sub and fans it out to its subscribers.
 *
 * Both rows use the same number of load-generator processes (one per server process of the Redis
 * row); in the Redis row each load generator holds one server's subscribers. Steps per row: start,
 * warm up, GC + RSS, connect, GC + RSS, 2 s idle, the steady run (`publishRun`, server CPU summed
 * over the row's processes), then with every subscriber gone, publish throughput from the first
 * process (`herald.publish` awaited one at a time, then with 64 in flight). On Redis the channel's
 * stream is filled to its cap (1,000) first, redis-server's CPU is divided by the publishes, and
 * two more figures come from the same redis-server: 64 in flight with the channel followed in
 * every process, and two floors on full streams, one at a time then 64 in flight: a raw capped
 * `XADD` + `PUBLISH` (servers/herald-redis.mjs with `BENCH_PUBLISH=raw`) and the least an atomic
 * publish script does, INCR + capped XADD + PUBLISH (`BENCH_PUBLISH=script`).
 */
import path from "node:path";
import { BENCH_DIR, ROOT_DIR } from "./config.mjs";
import { freePort, sleep, startProcess, stopProcess } from "./children.mjs";
import { control, waitUntilUp } from "./control-client.mjs";
import { startLoadGenerator } from "./load-client.mjs";
import { Redis } from "ioredis";
import { startRedis } from "./redis-server.mjs";
import { cpuOf, memoryDelta, publishRun, repeated, summarize } from "./scenario.mjs";

const SSE_PATH = "/?channel=bench";

/** Waits until the server on each port counts at least its share; returns the stats. */
async function waitForShares(ports, shares, timeoutMs, exact = false) {
  const until = Date.now() + timeoutMs;
  let stats;
  do {
    stats = await Promise.all(ports.map((p) => control(p, "stats")));
    if (stats.every((s, i) => (exact ? s.subscribers === shares[i] : s.subscribers >= shares[i]))) return stats;
    await sleep(100);
  } while (Date.now() < until);
  return stats;
}

const sumStats = (stats) => ({
  rss: stats.reduce((a, s) => a + s.rss, 0),
  heapUsed: stats.reduce((a, s) => a + s.heapUsed, 0),
  external: stats.reduce((a, s) => a + s.external, 0),
  heapTotal: stats.reduce((a, s) => a + s.heapTotal, 0),
  heapSpaces: { new_space: stats.reduce((a, s) => a + (s.heapSpaces?.new_space ?? 0), 0) },
});

/**
 * One row: `processes` server processes running `script`, `size` subscribers spread evenly.
 * Never throws (errors are recorded in the result).
 */
export async function measureRow({ name, script, processes, size, redis, loadProcesses }, config, log) {
  const result = { server: name, group: "redis", processes, subscribers: size, ok: false };
  const children = [];
  let load;
  try {
    const ports = [];
    for (let i = 0; i < processes; i++) {
      const port = await freePort();
      const env = { ...process.env, PORT: String(port), NODE_ENV: "production" };
      if (redis) env.REDIS_URL = redis.url;
      const child = startProcess(process.execPath, ["--expose-gc", path.join(BENCH_DIR, script)], {
        cwd: ROOT_DIR,
        env,
      });
      children.push(child);
      ports.push(port);
    }
    await Promise.all(ports.map((p, i) => waitUntilUp(p, children[i])));
    load = startLoadGenerator(loadProcesses);
    // Load-generator process i connects to ports[i % processes]: with as many load generators as
    // server processes, each holds one server's subscribers.
    const share = (n) =>
      ports.map((_, i) => {
        const perLoad = Array.from(
          { length: loadProcesses },
          (_, j) => Math.floor(n / loadProcesses) + (j < n % loadProcesses ? 1 : 0),
        );
        return perLoad.reduce((a, c, j) => a + (j % processes === i ? c : 0), 0);
      });

    const warm = await load.call("connect", {
      kind: "sse",
      ports,
      path: SSE_PATH,
      count: 20,
      batch: 20,
      batchTimeoutMs: 10_000,
    });
    if (warm.open === 0) throw new Error(`warm-up: no subscriber could connect: ${warm.errorSamples.join("; ")}`);
    await waitForShares(ports, share(20), 5000);
    await control(ports[0], "start", { mode: "paced", rate: 50, durationMs: 200 });
    await sleep(800);
    await load.call("disconnect");
    await waitForShares(
      ports,
      ports.map(() => 0),
      5000,
      true,
    );

    const before = sumStats(await Promise.all(ports.map((p) => control(p, "gc"))));
    log(`  ${name}: connecting ${size} subscribers to ${processes} process(es)`);
    const connected = await load.call(
      "connect",
      {
        kind: "sse",
        ports,
        path: SSE_PATH,
        count: size,
        batch: config.connectBatch,
        timeoutMs: config.connectTimeoutMs,
      },
      config.connectTimeoutMs + 30_000,
    );
    result.connect = {
      open: connected.open,
      failed: connected.openErrors,
      timedOut: connected.timedOut,
      ms: connected.connectMs,
      errorSamples: connected.errorSamples,
    };
    if (connected.open === 0) throw new Error(`no subscriber could connect: ${connected.errorSamples.join("; ")}`);
    const counted = await waitForShares(ports, share(connected.open), 15_000);
    result.connect.serverCounted = counted.map((s) => s.subscribers);
    await sleep(1000);
    const after = sumStats(await Promise.all(ports.map((p) => control(p, "gc"))));
    result.memory = memoryDelta(before, after, connected.open);
    log(`  ${connected.open} open in ${connected.connectMs} ms (${result.connect.serverCounted.join(" + ")})`);

    const idle0 = await Promise.all(ports.map((p) => control(p, "stats")));
    const idleT0 = performance.now();
    await sleep(2000);
    const idle1 = await Promise.all(ports.map((p) => control(p, "stats")));
    const idleCpu = idle1.reduce((a, s, i) => a + cpuOf(s) - cpuOf(idle0[i]), 0);
    result.idle = { cpuShare: Math.round((idleCpu / 1000 / (performance.now() - idleT0)) * 1000) / 1000 };

    result.steady = await repeated(config.redisRepeat, async () => {
      const r0 = redis?.cpuUs() ?? null;
      const run = await publishRun(
        ports[0],
        load,
        { label: `steady ${config.rate}/s`, mode: "paced", rate: config.rate, durationMs: config.steadyMs },
        ports.slice(1),
      );
      const r1 = redis?.cpuUs() ?? null;
      if (r0 !== null && r1 !== null) {
        run.redisCpuMs = Math.round((r1 - r0) / 1000);
        run.cpuUsPerDeliveryWithRedis =
          run.received > 0 ? Math.round(((run.serverCpuUs + (r1 - r0)) / run.received) * 100) / 100 : null;
      }
      return run;
    });
    log(
      `  steady: ${summarize(result.steady)}${result.steady.redisCpuMs != null ? `, redis-server CPU ${result.steady.redisCpuMs} ms` : ""}`,
    );

    await load.call("disconnect");
    await waitForShares(
      ports,
      ports.map(() => 0),
      10_000,
      true,
    );
    await sleep(500);
    // The publish path with full streams: fill the channel's stream to its cap first (unmeasured).
    if (redis) await control(ports[0], "throughput", { durationMs: 500, concurrency: 64 }, 60_000);
    const streamLength = async (key) => {
      const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await client.connect();
        return await client.xlen(key);
      } finally {
        client.disconnect();
      }
    };
    result.throughput = [];
    const measureThroughput = async (port, concurrency, label) => {
      const r0 = redis?.cpuUs() ?? null;
      const t = await control(port, "throughput", { durationMs: config.throughputMs, concurrency }, 60_000);
      const r1 = redis?.cpuUs() ?? null;
      if (r0 !== null && r1 !== null) {
        t.redisCpuShare = Math.round(((r1 - r0) / 1000 / t.ms) * 100) / 100;
        t.redisCpuUsPerPublish = t.published > 0 ? Math.round(((r1 - r0) / t.published) * 10) / 10 : null;
      }
      log(
        `  throughput${label ? ` (${label})` : ""}, ${concurrency} in flight: ${t.eventsPerS} events/s (${t.cpuUsPerPublish} µs CPU/publish` +
          `${t.redisCpuUsPerPublish != null ? `, redis-server ${t.redisCpuUsPerPublish} µs/publish` : ""}, ${t.errors} errors)`,
      );
      await sleep(300);
      return t;
    };
    for (const concurrency of [1, 64]) result.throughput.push(await measureThroughput(ports[0], concurrency));
    if (redis) {
      result.streamLength = await streamLength("{herald}:log:bench");
      // The same with the channel followed in every process (one SSE subscriber each): Redis then
      // sends every event to each process's pub/sub connection.
      await load.call("connect", { kind: "sse", ports, path: SSE_PATH, count: processes, batch: processes });
      await waitForShares(ports, share(processes), 10_000);
      await sleep(300);
      const followed = await measureThroughput(ports[0], 64, `followed in ${processes} processes`);
      followed.followedIn = processes;
      result.throughput.push(followed);
      await load.call("disconnect");
      // The floors, each from a process of its own on the same redis-server, its stream full too:
      // a raw capped XADD + PUBLISH per publish, and the least an atomic publish script does
      // (INCR + capped XADD + PUBLISH in one script).
      for (const [mode, label, field] of [
        ["raw", "raw XADD + PUBLISH", "raw"],
        ["script", "minimal script", "minimalScript"],
      ]) {
        const port = await freePort();
        const child = startProcess(process.execPath, ["--expose-gc", path.join(BENCH_DIR, script)], {
          cwd: ROOT_DIR,
          env: {
            ...process.env,
            PORT: String(port),
            NODE_ENV: "production",
            REDIS_URL: redis.url,
            BENCH_PUBLISH: mode,
          },
        });
        children.push(child);
        await waitUntilUp(port, child);
        result[field] = [];
        for (const concurrency of [1, 64]) result[field].push(await measureThroughput(port, concurrency, label));
        result[`${field}StreamLength`] = await streamLength(`{bench-${mode}}:log:bench`);
        await stopProcess(child);
      }
    }
    result.ok = true;
  } catch (error) {
    result.error = String(error?.message ?? error);
    const output = children
      .map((c) => c.output().trim())
      .filter(Boolean)
      .join("\n---\n");
    if (output) result.serverOutput = output.slice(-2000);
    log(`  ERROR: ${result.error}`);
  } finally {
    for (const child of children) await stopProcess(child);
    if (load) {
      await load.call("close", {}, 5000).catch(() => {});
      for (const c of load.children) await stopProcess(c, 2000);
    }
  }
  return result;
}

/** Both rows in one run: memory first, then Redis (its redis-server started and stopped here). */
export async function measureRedisScenario(config, log) {
  const size = config.redisSize;
  const processes = config.redisProcesses;
  const rows = [];
  log(`herald-memory: 1 process × ${size} subscribers`);
  rows.push(
    await measureRow(
      { name: "herald-memory", script: "servers/herald-node.mjs", processes: 1, size, loadProcesses: processes },
      config,
      log,
    ),
  );
  let redis;
  try {
    redis = await startRedis();
    log(
      `herald-redis: ${processes} processes × ${size / processes} subscribers on ${redis.version.split(" ").slice(0, 3).join(" ")} (port ${redis.port})`,
    );
    rows.push(
      await measureRow(
        { name: "herald-redis", script: "servers/herald-redis.mjs", processes, size, redis, loadProcesses: processes },
        config,
        log,
      ),
    );
    rows.at(-1).redisVersion = redis.version;
  } catch (error) {
    rows.push({
      server: "herald-redis",
      group: "redis",
      processes,
      subscribers: size,
      ok: false,
      error: String(error?.message ?? error),
    });
  } finally {
    await redis?.stop();
  }
  return rows;
}
