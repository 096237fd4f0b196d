/** The servers under test and the run's options (from the environment). */
import path from "node:path";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const ROOT_DIR = path.resolve(BENCH_DIR, "..");
export const NEXT_APP_DIR = path.join(BENCH_DIR, "next-app");
export const NEXT_BIN = path.join(ROOT_DIR, "node_modules", "next", "dist", "bin", "next");

/**
 * Every server, in the order they run (baseline first, so ratios are available early).
 * `ssePath` is what the load generator subscribes to; all expose /api/bench/<op> for control.
 */
export const SERVERS = [
  { name: "baseline", script: "servers/baseline.mjs", ssePath: "/sse" },
  { name: "herald-node", script: "servers/herald-node.mjs", ssePath: "/?channel=bench" },
  { name: "better-sse", script: "servers/better-sse.mjs", ssePath: "/sse" },
  { name: "herald-fetch-next", next: "herald", ssePath: "/api/herald?channel=bench" },
  { name: "naive-next", next: "naive", ssePath: "/api/naive" },
];

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
  const only = list(
    env.BENCH_ONLY,
    SERVERS.map((s) => s.name),
  );
  const unknown = only.filter((name) => !SERVERS.some((s) => s.name === name));
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown server(s) ${unknown.join(", ")}`);
  return {
    servers: SERVERS.filter((s) => only.includes(s.name)),
    sizes: list(env.BENCH_SIZES, ["2000", "10000"]).map(Number),
    burstSizes: list(env.BENCH_BURST_SIZES, ["2000"]).map(Number),
    rate: int(env.BENCH_RATE, 5),
    steadyMs: int(env.BENCH_STEADY_MS, 10_000),
    burstRate: int(env.BENCH_BURST_RATE, 100),
    burstGroup: int(env.BENCH_BURST_GROUP, 10),
    burstMs: int(env.BENCH_BURST_MS, 5_000),
    repeat: Math.max(1, int(env.BENCH_REPEAT, 1)),
    connectBatch: int(env.BENCH_CONNECT_BATCH, 500),
    connectTimeoutMs: int(env.BENCH_CONNECT_TIMEOUT_MS, 90_000),
    deadlineMs: int(env.BENCH_DEADLINE_MS, 14 * 60_000),
    cpuProfile: env.BENCH_CPU_PROF === "1",
    nextBuild: env.BENCH_NEXT_BUILD !== "0",
    outDir: env.BENCH_OUT ? path.resolve(env.BENCH_OUT) : path.join(BENCH_DIR, "results"),
  };
}
