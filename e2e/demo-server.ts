/**
 * Harness for the browser tests: builds what is stale (the library, then the demo), starts the
 * demo's custom server on a free port as a child process, launches the system Chromium.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DEMO = path.join(ROOT, "apps", "demo");
export const SCREENSHOTS = path.join(ROOT, "test-output", "screenshots");

/** Newest modification time of the files under `dir` (skipping build output and dependencies). */
export function newest(dir: string, skip: (name: string) => boolean = () => false): number {
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

/** Runs a command to completion; throws with its output when it fails. */
export function run(command: string, args: string[], cwd: string): void {
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
 * Runs `build` under the build lock (an atomic mkdir) shared by every browser-test file: test files
 * run in parallel, so a second caller waits for the first, then finds the output fresh.
 */
export async function withBuildLock(build: () => void): Promise<void> {
  const lock = path.join(ROOT, "test-output", ".build-lock");
  mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Held by another test file (or left by a killed run: taken over after 10 minutes).
      const age = existsSync(lock) ? Date.now() - statSync(lock).mtimeMs : 0;
      if (Date.now() > deadline || age > 10 * 60_000) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    build();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Builds the library unless its output is newer than its sources. Call under the build lock. */
export function buildLibraryIfStale(): void {
  const librarySources = newest(path.join(ROOT, "packages", "herald", "src"), (n) => /\.test\.tsx?$/.test(n));
  const libraryOutput = path.join(ROOT, "packages", "herald", "dist", "react", "index.js");
  if (!existsSync(libraryOutput) || statSync(libraryOutput).mtimeMs < librarySources) {
    run("npm", ["run", "build"], ROOT);
  }
}

/**
 * A hash of what a Next.js app's build is made from: the app's files (not its build output, its
 * dependencies or what `next build` writes beside them), the library's dist/ and the lockfile.
 * By content, not modification time: `npm test` runs the library's build again before every pass
 * (and package.test.ts's `npm pack` runs it once more), which rewrites dist/ with the same bytes; a
 * build made by the first pass of a CI run is reused by the second.
 */
export function buildInputs(app: string): string {
  const hash = createHash("sha256");
  const walk = (dir: string, skip: (name: string) => boolean): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (skip(entry.name)) continue;
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file, skip);
      else if (entry.isFile())
        hash
          .update(`${path.relative(ROOT, file)}\0`)
          .update(readFileSync(file))
          .update("\0");
    }
  };
  walk(app, (n) => ["node_modules", ".next", "dist", "next-env.d.ts"].includes(n) || n.endsWith(".tsbuildinfo"));
  walk(path.join(ROOT, "packages", "herald", "dist"), () => false);
  hash.update(readFileSync(path.join(ROOT, "package-lock.json")));
  return hash.digest("hex");
}

/**
 * Runs `build` for the Next.js app in `app` unless its `.next` holds a build of the same inputs
 * ({@link buildInputs}); records the inputs once the build succeeded. Call under the build lock.
 */
export function buildNextAppIfStale(app: string, build: () => void): void {
  const inputs = buildInputs(app);
  const stamp = path.join(app, ".next", "herald-build-inputs");
  const built = existsSync(path.join(app, ".next", "BUILD_ID")) && existsSync(stamp);
  if (built && readFileSync(stamp, "utf8") === inputs) return;
  build();
  writeFileSync(stamp, inputs);
}

/** Builds the library and the demo unless they are built from their current sources. */
export async function buildIfStale(): Promise<void> {
  await withBuildLock(() => {
    buildLibraryIfStale();
    buildNextAppIfStale(DEMO, () => run("npm", ["run", "build", "-w", "demo"], ROOT));
  });
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** The running demo. */
export interface Demo {
  origin: string;
  /** Server output so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts the demo (production build) and waits until it answers: on its custom server (Herald's
 * Node fast path, e2e routes on), or with `mode: "next"` on plain `next start`, where Herald is
 * served by the catch-all route handlers (the serverless path).
 */
export async function startDemo(
  options: { mode?: "custom" | "next"; env?: Record<string, string> } = {},
): Promise<Demo> {
  return onAFreePort(() => startDemoOnce(options));
}

/** Thrown when a server could not listen on the port {@link freePort} found: another took it since. */
export class PortTaken extends Error {}

/**
 * Runs `start` again (on a new free port) when the port was taken between {@link freePort}'s probe
 * and the server's `listen`: with test files two at a time, another file's server can take it.
 */
export async function onAFreePort<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === 3) throw error;
    }
  }
}

async function startDemoOnce(options: { mode?: "custom" | "next"; env?: Record<string, string> }): Promise<Demo> {
  const port = await freePort();
  let output = "";
  const args =
    options.mode === "next"
      ? [path.join(ROOT, "node_modules", "next", "dist", "bin", "next"), "start", "-p", String(port)]
      : ["--import", "tsx", "server.ts"];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: DEMO,
    // NODE_ENV=production: the session cookie is `Secure`, which Chromium accepts from http://localhost.
    env: {
      ...process.env,
      NODE_ENV: "production",
      PORT: String(port),
      DEMO_E2E: "1",
      NEXT_TELEMETRY_DISABLED: "1",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const origin = `http://localhost:${port}`;
  // Generous: test files run two at a time, and a server starting beside a Next.js build or another
  // file's Chromium on a 2-core machine can take several times its usual few seconds.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (output.includes("EADDRINUSE")) {
      child.kill("SIGKILL");
      await exited;
      throw new PortTaken(`port ${port} was taken:\n${output}`);
    }
    if (child.exitCode !== null) throw new Error(`the demo server exited (${child.exitCode}):\n${output}`);
    try {
      const response = await fetch(`${origin}/api/demo/stats`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the demo server did not start within 120 s:\n${output}`);
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

/** Launches the system Chromium; fails clearly when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(
      `Chromium not found at ${executablePath}. Install Debian's package (apt-get install chromium) ` +
        `or set CHROMIUM_PATH to a Chromium binary. The browser tests never download one.`,
    );
  }
  return chromium.launch({
    executablePath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A new browser context signed in as `name`, on the tasks page. */
export async function signedIn(
  browser: Browser,
  origin: string,
  name: string,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: origin });
  const page = await context.newPage();
  await page.goto("/signin");
  await page.fill("#name", name);
  await Promise.all([page.waitForURL("**/tasks"), page.click("button[type=submit]")]);
  await page.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
  return { context, page };
}

/**
 * A new context at `size` in the `scheme` color scheme (the demo's theme follows
 * `prefers-color-scheme`), motion reduced so checks and screenshots see settled frames.
 */
export function viewContext(
  browser: Browser,
  origin: string,
  size: { width: number; height: number },
  scheme: "light" | "dark",
): Promise<BrowserContext> {
  return browser.newContext({
    viewport: { width: size.width, height: size.height },
    colorScheme: scheme,
    baseURL: origin,
    reducedMotion: "reduce",
  });
}
