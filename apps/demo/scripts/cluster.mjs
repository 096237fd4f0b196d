/**
 * Runs the demo as several processes on consecutive ports, sharing one Redis:
 *
 *   npm run build && npm run build -w demo
 *   npm run start:cluster -w demo      # http://localhost:3000 and http://localhost:3001
 *
 * Each process is the normal custom server (server.ts, run with tsx) with its own PORT. Settings:
 * HERALD_REDIS_URL (default redis://127.0.0.1:6379) puts Herald (broker, tokens, tasks, limits) and
 * the demo's signed-in users on that Redis; DEMO_PROCESSES (default 2) how many; PORT the first port
 * (default 3000). The processes need one cookie-signing secret: DEMO_SESSION_SECRET, or one
 * generated here for this run. Ctrl-C stops them all; if one exits, the others are stopped.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

const demo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const count = Math.max(1, Math.floor(Number(process.env.DEMO_PROCESSES ?? 2)) || 2);
const firstPort = Number(process.env.PORT ?? 3000) || 3000;
const redisUrl = process.env.HERALD_REDIS_URL || "redis://127.0.0.1:6379";
const secret =
  process.env.DEMO_SESSION_SECRET && process.env.DEMO_SESSION_SECRET.length >= 16
    ? process.env.DEMO_SESSION_SECRET
    : randomBytes(32).toString("base64url");
// The chat's signing secret, shared too (an auth answered by one process, a socket on another).
const pusherSecret = process.env.PUSHER_APP_SECRET || randomBytes(32).toString("base64url");
const dev = process.argv.includes("--dev");

const children = [];
let stopping = false;

function stopAll(code) {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  setTimeout(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }, 5000).unref();
}

/** Copies a child's output line by line, each line prefixed with its port. */
function prefixed(stream, target, label) {
  let rest = "";
  stream.on("data", (chunk) => {
    const lines = (rest + chunk.toString()).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) target.write(`${label} ${line}\n`);
  });
  stream.on("end", () => rest && target.write(`${label} ${rest}\n`));
}

console.log(`Starting ${count} demo processes on ${redisUrl.replace(/\/\/[^@/]*@/, "//***@")}`);
for (let i = 0; i < count; i++) {
  const port = firstPort + i;
  const child = spawn(process.execPath, ["--import", "tsx", "server.ts", ...(dev ? ["--dev"] : [])], {
    cwd: demo,
    env: {
      ...process.env,
      NODE_ENV: dev ? "development" : "production",
      PORT: String(port),
      HERALD_REDIS_URL: redisUrl,
      DEMO_SESSION_SECRET: secret,
      PUSHER_APP_SECRET: pusherSecret,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  prefixed(child.stdout, process.stdout, `[${port}]`);
  prefixed(child.stderr, process.stderr, `[${port}]`);
  child.once("exit", (code, signal) => {
    if (!stopping) {
      console.error(`[${port}] exited (${signal ?? code}); stopping the others`);
      stopAll(code || 1);
    } else if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) {
      process.exit(process.exitCode ?? 0);
    }
  });
  children.push(child);
}

process.on("SIGINT", () => stopAll(0));
process.on("SIGTERM", () => stopAll(0));
