/**
 * Harness for the quickstart's browser test: builds what is stale (the library, then
 * examples/next-quickstart with `next build`) once per run, and starts the example on `next start`
 * on a free port as a child process. On Next.js 15 (the workspace's `next`, built in place) or on
 * Next.js 16 (installed with the packed library in test-output/next16/, see quickstart-next16.ts).
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import {
  buildLibraryIfStale,
  buildNextAppIfStale,
  freePort,
  onAFreePort,
  PortTaken,
  ROOT,
  run,
  withBuildLock,
} from "./demo-server.js";
import { buildNext16IfStale, next16Bin } from "./quickstart-next16.js";

export const QUICKSTART = path.join(ROOT, "examples", "next-quickstart");
const NEXT_BIN = path.join(ROOT, "node_modules", "next", "dist", "bin", "next");

/** The Next.js major versions the quickstart is tested on. */
export type NextMajor = 15 | 16;

/** A built quickstart: where to run `next start`, with which `next`. */
export interface QuickstartBuild {
  next: NextMajor;
  dir: string;
  nextBin: string;
}

/** Builds the library and the quickstart (on `next`) unless they are built from their current sources. */
export async function buildQuickstartIfStale(next: NextMajor = 15): Promise<QuickstartBuild> {
  let build: QuickstartBuild | undefined;
  await withBuildLock(() => {
    buildLibraryIfStale();
    if (next === 16) {
      build = { next, dir: buildNext16IfStale(QUICKSTART), nextBin: next16Bin() };
      return;
    }
    // --no-lint: the example has no ESLint setup of its own (Next.js 16 no longer lints in a build).
    buildNextAppIfStale(QUICKSTART, () => run(process.execPath, [NEXT_BIN, "build", "--no-lint"], QUICKSTART));
    build = { next, dir: QUICKSTART, nextBin: NEXT_BIN };
  });
  return build!;
}

/** The running quickstart. */
export interface Quickstart {
  origin: string;
  /** Server output so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/** Starts the built quickstart on `next start` and waits until it answers. */
export async function startQuickstart(
  build: QuickstartBuild = { next: 15, dir: QUICKSTART, nextBin: NEXT_BIN },
): Promise<Quickstart> {
  return onAFreePort(() => startQuickstartOnce(build));
}

async function startQuickstartOnce(build: QuickstartBuild): Promise<Quickstart> {
  const port = await freePort();
  let output = "";
  const child: ChildProcess = spawn(process.execPath, [build.nextBin, "start", "-p", String(port)], {
    cwd: build.dir,
    env: { ...process.env, NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const origin = `http://localhost:${port}`;
  // Generous, as startDemo's (e2e/demo-server.ts): test files run two at a time.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (output.includes("EADDRINUSE")) {
      child.kill("SIGKILL");
      await exited;
      throw new PortTaken(`port ${port} was taken:\n${output}`);
    }
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
      throw new Error(`next start did not answer within 120 s:\n${output}`);
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
