/**
 * `npm run bench`: measures Herald's SSE paths beside their peers, its Pusher WebSocket server
 * beside a plain `ws` broadcast, and its poll endpoint, side by side, in one run. Writes
 * results/latest.json and results/latest.md (and the tables in README.md after a full run). See README.md for the options (env) and what
 * each figure means. Every child process is stopped at the end, even on error, signal or deadline.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { killAllNow, sleep } from "./lib/children.mjs";
import { BENCH_DIR, NEXT_APP_DIR, NEXT_BIN, ROOT_DIR, readConfig } from "./lib/config.mjs";
import { busyCores, machineTicks } from "./lib/machine-load.mjs";
import { measure } from "./lib/scenario.mjs";
import { measurePoll } from "./lib/scenario-poll.mjs";
import { measureRedisScenario } from "./lib/scenario-redis.mjs";
import { renderMarkdown, updateReadme } from "./report.mjs";
import { renderRedisMarkdown, updateReadmeRedis } from "./report-redis.mjs";
import { measureRedisScale, REDIS_SCALE_SCENARIO, sectionOf, withSection } from "./redis-scale.mjs";
import { writeClientSizes } from "./client-size.mjs";

const started = Date.now();
// `BENCH_ONLY=redis-scale` (redis-scale.mjs, issue 23): not in the default run, only when named;
// taken out of BENCH_ONLY before the rest is read (alone, it runs nothing else).
// `BENCH_ONLY=client-size` (client-size.mjs, issue 20): the browser clients' sizes; in the default
// run (first, a few seconds) and alone when named.
const only = (process.env.BENCH_ONLY ?? "").split(",").map((s) => s.trim());
const redisScale = only.includes(REDIS_SCALE_SCENARIO);
const clientSize = !process.env.BENCH_ONLY || only.includes("client-size");
const otherOnly = only.filter((s) => s && s !== REDIS_SCALE_SCENARIO && s !== "client-size");
const named = redisScale || only.includes("client-size");
const config = readConfig(named ? { ...process.env, BENCH_ONLY: otherOnly.join(",") || "redis" } : process.env);
if (named && otherOnly.length === 0) config.redis = false;
const log = (line) => console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

const data = { meta: machineInfo(), config: { ...config, servers: config.servers.map((s) => s.name) }, results: [] };

function machineInfo() {
  const version = (pkg) => {
    try {
      return JSON.parse(fs.readFileSync(path.join(ROOT_DIR, "node_modules", pkg, "package.json"), "utf8")).version;
    } catch {
      return null;
    }
  };
  const git = (...args) => {
    try {
      return execFileSync("git", args, { cwd: ROOT_DIR, encoding: "utf8" }).trim();
    } catch {
      return null;
    }
  };
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model?.trim() ?? "unknown",
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    openFileLimit: (() => {
      try {
        return execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim();
      } catch {
        return null;
      }
    })(),
    versions: {
      next: version("next"),
      "better-sse": version("better-sse"),
      ws: version("ws"),
      herald: version("herald"),
    },
    git: {
      commit: git("rev-parse", "--short", "HEAD"),
      dirty: Boolean(git("status", "--porcelain", "--", "packages/herald/src")),
    },
  };
}

/** The Redis rows' results (BENCH_ONLY=redis), written to results/redis.{json,md}. */
let redisData = null;

function write() {
  fs.mkdirSync(config.outDir, { recursive: true });
  data.meta.durationS = Math.round((Date.now() - started) / 1000);
  if (redisData) {
    redisData.meta.durationS = data.meta.durationS;
    if (data.meta.aborted) redisData.meta.aborted = data.meta.aborted;
    fs.writeFileSync(path.join(config.outDir, "redis.json"), `${JSON.stringify(redisData, null, 2)}\n`);
    // The redis-scale section of redis.md (redis-scale.mjs) is carried over.
    const redisMd = path.join(config.outDir, "redis.md");
    const scale = sectionOf(redisMd);
    const rendered = renderRedisMarkdown(redisData);
    fs.writeFileSync(redisMd, scale ? withSection(rendered, scale) : rendered);
  }
  // A run of the Redis rows alone leaves latest.{json,md} as they are.
  if (config.servers.length === 0) return;
  fs.writeFileSync(path.join(config.outDir, "latest.json"), `${JSON.stringify(data, null, 2)}\n`);
  fs.writeFileSync(path.join(config.outDir, "latest.md"), renderMarkdown(data));
}

let finished = false;
function abort(reason) {
  if (finished) return;
  finished = true;
  log(`stopping: ${reason}`);
  data.meta.aborted = reason;
  killAllNow();
  try {
    write();
  } catch (error) {
    console.error(error);
  }
  process.exit(1);
}
process.on("SIGINT", () => abort("SIGINT"));
process.on("SIGTERM", () => abort("SIGTERM"));
process.on("uncaughtException", (error) => abort(`uncaught ${error?.stack ?? error}`));
process.on("unhandledRejection", (error) => abort(`unhandled rejection ${error?.stack ?? error}`));
process.on("exit", () => killAllNow());
const deadline = setTimeout(() => abort(`deadline of ${config.deadlineMs / 1000} s reached`), config.deadlineMs);
deadline.unref();

function buildNextApp() {
  log("building the bench Next app (next build bench/next-app)");
  execFileSync(process.execPath, [NEXT_BIN, "build", NEXT_APP_DIR], {
    cwd: ROOT_DIR,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
    stdio: ["ignore", "ignore", "inherit"],
    timeout: 5 * 60_000,
  });
}

async function main() {
  log(
    `servers ${config.servers.map((s) => s.name).join(", ")}; sizes SSE ${config.sizes.join(", ")}, ` +
      `WebSocket ${config.wsSizes.join(", ")}, poll ${config.pollSizes.join(", ")}; ` +
      `burst at ${config.burstSizes.join(", ") || "none"}${config.quick ? " (BENCH_QUICK)" : ""}`,
  );
  if (clientSize) {
    log(`client sizes beside their peers: ${path.relative(ROOT_DIR, config.outDir)}/client-size.{json,md}`);
    console.log(`\n${await writeClientSizes(config.outDir)}`);
  }
  const m0 = machineTicks();
  await sleep(2000);
  data.meta.hostBusyCoresBeforeRun = busyCores(m0, machineTicks());
  log(`host busy before the run: ${data.meta.hostBusyCoresBeforeRun ?? "?"} cores (other work on the machine)`);
  let nextError = null;
  if (config.servers.some((s) => s.next)) {
    if (config.nextBuild || !fs.existsSync(path.join(NEXT_APP_DIR, ".next", "BUILD_ID"))) {
      try {
        buildNextApp();
      } catch (error) {
        nextError = `next build failed: ${error.message}`;
        log(nextError);
      }
    }
  }
  const sizesOf = { sse: config.sizes, ws: config.wsSizes, poll: config.pollSizes };
  for (const server of config.servers) {
    for (const size of sizesOf[server.group]) {
      const elapsed = Date.now() - started;
      const estimate =
        server.group === "poll"
          ? 30_000 + size * 3 + 3 * config.pollMs
          : 20_000 +
            size * 3 +
            config.repeat *
              ((config.burstSizes.includes(size) ? 2 * config.burstMs + 5000 : 0) + config.steadyMs + 2000);
      if (elapsed + estimate > config.deadlineMs) {
        data.results.push({
          server: server.name,
          subscribers: size,
          ok: false,
          error: "skipped: not enough time left",
        });
        log(`${server.name} @ ${size}: skipped (time budget)`);
        continue;
      }
      if (server.next && nextError) {
        data.results.push({ server: server.name, subscribers: size, ok: false, error: nextError });
        continue;
      }
      log(`${server.name} @ ${size} subscribers`);
      const row = server.group === "poll" ? measurePoll : measure;
      data.results.push(await row(server, size, config, log));
      write();
    }
  }
  if (config.redis) {
    const rest = { ...data.config };
    delete rest.servers;
    redisData = { meta: data.meta, config: rest, results: [] };
    const elapsed = Date.now() - started;
    if (elapsed + 150_000 + config.redisSize * 8 > config.deadlineMs) {
      redisData.results.push({ server: "herald-redis", ok: false, error: "skipped: not enough time left" });
      log("redis rows: skipped (time budget)");
    } else {
      redisData.results = await measureRedisScenario(config, log);
    }
    write();
  }
  if (redisScale) {
    if (Date.now() - started + 180_000 > config.deadlineMs) log("redis-scale: skipped (time budget)");
    else await measureRedisScale(config, log);
  }
  finished = true;
  write();
  if (config.redis && !config.quick && !process.env.BENCH_OUT && process.env.BENCH_README !== "0") {
    await updateReadmeRedis(path.join(BENCH_DIR, "README.md"), redisData);
    log("updated the Redis table in bench/README.md");
  }
  if (config.updateReadme) {
    await updateReadme(path.join(BENCH_DIR, "README.md"), data);
    log("updated the tables in bench/README.md");
  }
  if (config.servers.length) {
    log(`done; wrote ${path.relative(ROOT_DIR, config.outDir)}/latest.{json,md}`);
    console.log(`\n${renderMarkdown(data)}`);
  }
  if (redisData) {
    log(`wrote ${path.relative(ROOT_DIR, config.outDir)}/redis.{json,md}`);
    console.log(`\n${renderRedisMarkdown(redisData)}`);
  }
  killAllNow();
}

main().catch((error) => abort(error?.stack ?? String(error)));
