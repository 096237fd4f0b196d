/**
 * docs/websocket.md's `herald serve` commands, run as a user runs them: from the packed tarball,
 * installed into a temporary project with `ws` (offline: the tarball, and `ws` and Herald's one
 * dependency from this repository's node_modules; nothing is fetched from a registry), in a shell
 * with no terminal (stdin closed), where an `npx` that asks before installing gives up. And the
 * flags and environment variables `herald serve --help` prints against those the guide documents.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain .mjs script without type declarations
import { npmPack } from "../../../../scripts/size.mjs";

const exec = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const GUIDE = readFileSync(path.join(ROOT, "docs", "websocket.md"), "utf8");

/** The guide's `herald serve` section, up to the next section. */
const SECTION = (() => {
  const start = GUIDE.indexOf("## `herald serve`");
  const end = GUIDE.indexOf("\n## ", start + 1);
  return GUIDE.slice(start, end < 0 ? undefined : end);
})();

/** The shell commands of the section's first `sh` block that run `herald serve`. */
const COMMANDS = (() => {
  const block = /```sh\n([\s\S]*?)```/.exec(SECTION)?.[1] ?? "";
  return block
    .split("\n")
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => /^(npm |npx )/.test(line) && line.includes("herald serve"));
})();

let dir = "";
let project = "";
const children: ChildProcess[] = [];

beforeAll(async () => {
  expect(existsSync(path.join(ROOT, "packages/herald/dist/bin/herald.js")), "run `npm run build` first").toBe(true);
  dir = mkdtempSync(path.join(tmpdir(), "herald-serve-docs-"));
  const pack = (await npmPack(["--pack-destination", dir])) as { filename: string };
  project = path.join(dir, "app");
  await exec("mkdir", [project]);
  writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "try-herald", private: true }));
  const local = (name: string) => path.join(ROOT, "node_modules", name);
  await exec(
    "npm",
    [
      "install",
      "--offline",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      path.join(dir, pack.filename),
      local("ws"),
      local("rate-limiter-flexible"),
    ],
    { cwd: project, maxBuffer: 16 << 20 },
  );
}, 120_000);

afterAll(() => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) continue;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // the group is already gone
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs a documented command with no terminal, npx kept offline and `--port 0`; resolves with its port. */
async function start(command: string): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  // `npm install herald ws && …`: the project already has both, from the tarball; run the rest.
  const rest = command.replace(/^npm install herald ws && /, "");
  const args = rest.split(/\s+/);
  expect(args[0]).toBe("npx");
  args.splice(1, 0, "--offline");
  const port = args.indexOf("--port");
  if (port > 0) args[port + 1] = "0";
  else args.push("--port", "0");
  // Its own process group, so that npx and the server it runs stop together.
  const child = spawn(args[0]!, args.slice(1), {
    cwd: project,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CI: "true" },
    detached: true,
  });
  children.push(child);
  let out = "";
  const found = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`\`${args.join(" ")}\` did not start:\n${out}`)), 30_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`\`${args.join(" ")}\` exited (${code}):\n${out}`));
    });
  });
  return { child, port: found, output: () => out };
}

describe("herald serve as docs/websocket.md says to run it", () => {
  it("documents a command for a project and one without, and never npx -p without --yes", () => {
    expect(COMMANDS).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^npm install herald ws && npx herald serve\b/),
        expect.stringMatching(/^npx --yes -p herald -p ws herald serve\b/),
      ]),
    );
    const docs = ["README.md", "docs/websocket.md", "docs/websocket-client.md", "docs/redis.md", "docs/operations.md"];
    const asking: string[] = [];
    for (const doc of docs) {
      for (const m of readFileSync(path.join(ROOT, doc), "utf8").matchAll(
        /npx(?: +-[-\w]+(?: +[\w@/.-]+)?)* +herald serve/g,
      )) {
        if (/ -p /.test(m[0]) && !/--yes\b/.test(m[0])) asking.push(`${doc}: ${m[0]}`);
      }
    }
    expect(asking).toEqual([]);
  });

  it.each(COMMANDS.filter((c) => !c.includes("0.0.0.0")).map((c) => [c]))(
    "`%s` starts from the tarball with no terminal and answers /healthz",
    async (command) => {
      const { child, port } = await start(command);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ ok: true });
      const exited = new Promise((resolve) => child.once("exit", resolve));
      process.kill(-child.pid!, "SIGTERM");
      await exited;
    },
    60_000,
  );
});

describe("herald serve --help against the guide", () => {
  let help = "";
  const bin = () => path.join(project, "node_modules", "herald", "dist", "bin", "herald.js");

  beforeAll(async () => {
    help = (await exec(process.execPath, [bin(), "serve", "--help"])).stdout;
  });

  /** The guide's flags table: each row's flags. */
  const documented = [...SECTION.matchAll(/^\| (`-[^|]+?)\s*\|/gm)].flatMap((row) =>
    [...row[1]!.matchAll(/`(-{1,2}[a-z][a-z-]*)`/g)].map((m) => m[1]!),
  );

  it("documents every flag --help prints", () => {
    const printed = [...new Set([...help.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]))];
    expect(printed).toEqual(expect.arrayContaining(["--port", "--host"]));
    expect(printed.filter((flag) => !documented.includes(flag))).toEqual([]);
  });

  it("documents only flags herald serve accepts", async () => {
    expect(documented.length).toBeGreaterThan(0);
    for (const flag of documented) {
      const value = ["--port", "-p"].includes(flag) ? ["0"] : flag === "--host" ? ["127.0.0.1"] : [];
      const run = await exec(process.execPath, [bin(), "serve", flag, ...value, "--help"]).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e: { code?: number; stderr?: string }) => ({ code: e.code ?? 1, out: e.stderr ?? "" }),
      );
      expect(run, flag).toEqual({ code: 0, out: help });
    }
    const bogus = await exec(process.execPath, [bin(), "serve", "--no-such-flag", "--help"]).then(
      () => 0,
      (e: { code?: number }) => e.code ?? 1,
    );
    expect(bogus, "an unknown flag is refused, so the check above can fail").not.toBe(0);
  });

  it("documents every environment variable --help prints", () => {
    const printed = [...new Set(help.match(/\bHERALD_[A-Z_]+\b/g) ?? [])];
    expect(printed).toEqual(expect.arrayContaining(["HERALD_APP_SECRET", "HERALD_REDIS_URL"]));
    expect(printed.filter((name) => !SECTION.includes(`\`${name}\``))).toEqual([]);
  });
});
