/** The servers under test and the run's options (from the environment). */
import path from "node:path";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const ROOT_DIR = path.resolve(BENCH_DIR, "..");
export const NEXT_APP_DIR = path.join(BENCH_DIR, "next-app");
export const NEXT_BIN = path.join(ROOT_DIR, "node_modules", "next", "dist", "bin", "next");

/**
 * Every server, in the order they run (each group's baseline first, so ratios are available early).
 * `group`: which table the row goes to and which sizes it runs at (`sse`, `ws`, `poll`); `base`:
 * the row its ratios are to; `kind`: the load generator's subscriber (`sse`, `ws`, `pusher`,
 * `poll`); `ssePath`: what the subscribers request. All expose /api/bench/<op> for control.
 */
export const SERVERS = [
  { name: "baseline", group: "sse", script: "servers/baseline.mjs", ssePath: "/sse" },
  { name: "herald-node", group: "sse", script: "servers/herald-node.mjs", ssePath: "/?channel=bench" },
  { name: "herald-observed", group: "sse", script: "servers/herald-observed.mjs", ssePath: "/?channel=bench" },
  { name: "better-sse", group: "sse", script: "servers/better-sse.mjs", ssePath: "/sse" },
  { name: "herald-fetch-next", group: "sse", next: "herald", ssePath: "/api/herald?channel=bench" },
  { name: "naive-next", group: "sse", next: "naive", ssePath: "/api/naive" },
  { name: "ws-baseline", group: "ws", kind: "ws", script: "servers/ws-baseline.mjs", ssePath: "/ws" },
  {
    name: "herald-pusher",
    group: "ws",
    kind: "pusher",
    script: "servers/herald-pusher.mjs",
    ssePath: "/app/bench-key?protocol=7&client=bench&version=1.0",
  },
  {
    name: "herald-poll",
    group: "poll",
    kind: "poll",
    script: "servers/herald-poll.mjs",
    ssePath: "/api/realtime/poll?channel=bench",
  },
];

/**
 * `BENCH_ONLY=redis`: the Redis rows (lib/scenario-redis.mjs; herald-node on MemoryBroker beside
 * several herald-redis processes on one private redis-server). Not in the default run: only when
 * BENCH_ONLY names it. Writes results/redis.{json,md}.
 */
export const REDIS_SCENARIO = "redis";

/** The row each group's ratios are to. */
export const GROUP_BASE = { sse: "baseline", ws: "ws-baseline", poll: null };

/** `BENCH_QUICK=1`: a short look while developing (1,000 connections, no Next.js, shorter windows). */
const QUICK = {
  BENCH_ONLY: "baseline,herald-node,ws-baseline,herald-pusher,herald-poll",
  BENCH_SIZES: "1000",
  BENCH_WS_SIZES: "1000",
  BENCH_POLL_SIZES: "1000",
  BENCH_BURST_SIZES: "",
  BENCH_STEADY_MS: "5000",
  BENCH_POLL_MS: "4000",
  BENCH_POLL_RATE: "1",
};

function list(value, fallback) {
  if (!value) return fallback;
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function int(value, fallback) {
  const n = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(n) ? n : fallback;
}

/** Options, each overridable by an environment variable (see README.md). */
export function readConfig(env = process.env) {
  const quick = env.BENCH_QUICK === "1";
  if (quick) env = { ...QUICK, ...env };
  const only = list(
    env.BENCH_ONLY,
    SERVERS.map((s) => s.name),
  );
  const unknown = only.filter((name) => name !== REDIS_SCENARIO && !SERVERS.some((s) => s.name === name));
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown server(s) ${unknown.join(", ")}`);
  return {
    servers: SERVERS.filter((s) => only.includes(s.name)),
    quick,
    redis: only.includes(REDIS_SCENARIO),
    redisSize: int(env.BENCH_REDIS_SIZE, quick ? 1000 : 10_000),
    /** The Redis rows repeat their steady window 3 times unless BENCH_REPEAT says otherwise (1 when quick). */
    redisRepeat: Math.max(1, int(env.BENCH_REPEAT, quick ? 1 : 3)),
    redisProcesses: Math.max(1, int(env.BENCH_REDIS_PROCS, 2)),
    throughputMs: int(env.BENCH_THROUGHPUT_MS, quick ? 1500 : 3000),
    sizes: list(env.BENCH_SIZES, ["2000", "10000"]).map(Number),
    wsSizes: list(env.BENCH_WS_SIZES, ["10000"]).map(Number),
    pollSizes: list(env.BENCH_POLL_SIZES, ["10000"]).map(Number),
    burstSizes: (env.BENCH_BURST_SIZES === "" ? [] : list(env.BENCH_BURST_SIZES, ["2000"])).map(Number),
    rate: int(env.BENCH_RATE, 5),
    steadyMs: int(env.BENCH_STEADY_MS, 10_000),
    burstRate: int(env.BENCH_BURST_RATE, 100),
    burstGroup: int(env.BENCH_BURST_GROUP, 10),
    burstMs: int(env.BENCH_BURST_MS, 5_000),
    repeat: Math.max(1, int(env.BENCH_REPEAT, 1)),
    loadProcesses: {
      sse: int(env.BENCH_LOAD_PROCS_SSE, 1),
      ws: int(env.BENCH_LOAD_PROCS, 2),
      poll: int(env.BENCH_LOAD_PROCS, 2),
    },
    pollRate: int(env.BENCH_POLL_RATE, 0.25),
    pollMs: int(env.BENCH_POLL_MS, 12_000),
    pollWaitS: int(env.BENCH_POLL_WAIT_S, 25),
    shortPollRate: int(env.BENCH_SHORT_POLL_RATE, 2000),
    connectBatch: int(env.BENCH_CONNECT_BATCH, 500),
    connectTimeoutMs: int(env.BENCH_CONNECT_TIMEOUT_MS, 90_000),
    deadlineMs: int(env.BENCH_DEADLINE_MS, 14 * 60_000),
    cpuProfile: env.BENCH_CPU_PROF === "1",
    nextBuild: env.BENCH_NEXT_BUILD !== "0",
    outDir: env.BENCH_OUT ? path.resolve(env.BENCH_OUT) : path.join(BENCH_DIR, "results", ...(quick ? ["quick"] : [])),
    /** Whether this run's tables replace the ones in bench/README.md (a full run of every server to the default place). */
    updateReadme: !quick && !env.BENCH_OUT && !env.BENCH_ONLY && env.BENCH_README !== "0",
  };
}
