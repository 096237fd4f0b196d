/**
 * Harness for the quickstart's browser test: builds what is stale (the library, then
 * examples/next-quickstart with `next build`) once per run, and starts the example on `next start`
 * on a free port as a child process.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { ROOT } from "./demo-server.js";

export const QUICKSTART = path.join(ROOT, "examples", "next-quickstart");
const NEXT_BIN = path.join(ROOT, "node_modules", "next", "dist", "bin", "next");

/** Newest modification time of the files under `dir`, skipping build output and dependencies. */
function newest(dir: string, skip: (name: string) => boolean = () => false): number {
  if (!existsSync(dir)) return 0;
  const stat = statSync(dir);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let max = 0;
  for (const entry of readdirSync(dir)) {
    if (["node_modules", ".next", "dist", "next-env.d.ts"].includes(entry) || skip(entry)) continue;
    max = Math.max(max, newest(path.join(dir, entry), skip));
  }
  return max;
}

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, {
    cwd,
    stdio: "pipe",
    encoding: "utf8",
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
}

/**
 * Builds the library and the quickstart unless their outputs are newer than their sources. Holds
 * the same lock (an atomic mkdir) as the demo's harness, so parallel test files never build the
 * library twice at once; a second caller waits, then finds the output fresh.
 */
export async function buildQuickstartIfStale(): Promise<void> {
  const lock = path.join(ROOT, "test-output", ".build-lock");
  mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      const age = existsSync(lock) ? Date.now() - statSync(lock).mtimeMs : 0;
      if (Date.now() > deadline || age > 10 * 60_000) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    const librarySources = newest(path.join(ROOT, "packages", "herald", "src"), (n) => /\.test\.tsx?$/.test(n));
    const libraryOutput = path.join(ROOT, "packages", "herald", "dist", "react", "index.js");
    if (!existsSync(libraryOutput) || statSync(libraryOutput).mtimeMs < librarySources) {
      run("npm", ["run", "build"], ROOT);
    }
    const buildId = path.join(QUICKSTART, ".next", "BUILD_ID");
    const sources = Math.max(newest(QUICKSTART), newest(path.join(ROOT, "packages", "herald", "dist")));
    if (!existsSync(buildId) || statSync(buildId).mtimeMs < sources) {
      run(process.execPath, [NEXT_BIN, "build"], QUICKSTART);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** The running quickstart. */
export interface Quickstart {
  origin: string;
  /** Server output so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/** Starts the built quickstart on `next start` and waits until it answers. */
export async function startQuickstart(): Promise<Quickstart> {
  const port = await freePort();
  let output = "";
  const child: ChildProcess = spawn(process.execPath, [NEXT_BIN, "start", "-p", String(port)], {
    cwd: QUICKSTART,
    env: { ...process.env, NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const origin = `http://localhost:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`next start exited (${child.exitCode}):\n${output}`);
    try {
      // The token route answers 401 to a signed-out request: the app and Herald's routes are up.
      const response = await fetch(`${origin}/api/realtime/token`, { method: "POST" });
      if (response.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`next start did not answer within 60 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    origin,
    log: () => output,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
