/**
 * scripts/ensure-system-deps.mjs, the first step of `npm test`: with a PATH that hides redis-server
 * and a stand-in apt-get (never the real one), it names the command to run when it may not install,
 * and installs only what is missing when it runs as root.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const script = resolve(import.meta.dirname, "../../../../scripts/ensure-system-deps.mjs");
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

let bin = "";
beforeEach(() => {
  bin = mkdtempSync(join(tmpdir(), "herald-sysdeps-"));
});
afterEach(() => {
  rmSync(bin, { recursive: true, force: true });
});

/** A stand-in apt-get: logs its arguments and, on `install`, puts a redis-server into `bin`. */
function fakeAptGet() {
  const apt = join(bin, "apt-get");
  writeFileSync(
    apt,
    `#!${process.execPath}
const fs = require("node:fs"), path = require("node:path");
fs.appendFileSync(path.join(${JSON.stringify(bin)}, "apt.log"), process.argv.slice(2).join(" ") + " DEBIAN_FRONTEND=" + process.env.DEBIAN_FRONTEND + "\\n");
if (process.argv[2] === "install") {
  fs.writeFileSync(path.join(${JSON.stringify(bin)}, "redis-server"), "#!/bin/sh\\n");
  fs.chmodSync(path.join(${JSON.stringify(bin)}, "redis-server"), 0o755);
}
`,
  );
  chmodSync(apt, 0o755);
}

/** Runs the script with PATH = only `bin`. */
function run(env: Record<string, string>) {
  const result = spawnSync(process.execPath, [script], {
    encoding: "utf8",
    // CHROMIUM_PATH names an executable that exists, so only redis-server is missing.
    env: { PATH: `${bin}:/nonexistent`, CHROMIUM_PATH: process.execPath, ...env },
  });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}

describe.skipIf(process.platform === "win32")("ensure-system-deps", () => {
  it("without the right to install, stops at once naming the command", () => {
    fakeAptGet();
    const { code, out } = run({ HERALD_SYSTEM_DEPS_NO_INSTALL: "1" });
    expect(code).toBe(1);
    expect(out).toContain("missing: redis-server");
    expect(out).toContain(
      "sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server\n",
    );
    expect(existsSync(join(bin, "apt.log"))).toBe(false);
  });

  it("without apt-get, says what to install", () => {
    const { code, out } = run({});
    expect(code).toBe(1);
    expect(out).toContain("apt-get is not available here: install redis-server");
  });

  it("rejects a CHROMIUM_PATH that does not exist", () => {
    const { code, out } = run({ CHROMIUM_PATH: join(bin, "no-such-chromium") });
    expect(code).toBe(1);
    expect(out).toContain("is not an executable file");
  });

  it.skipIf(!isRoot)("as root, runs apt-get update, then installs only what is missing", () => {
    fakeAptGet();
    const { code, out } = run({});
    expect(out).toContain("installing redis-server with apt-get");
    expect(code, out).toBe(0);
    expect(readFileSync(join(bin, "apt.log"), "utf8")).toBe(
      "update DEBIAN_FRONTEND=noninteractive\ninstall -y redis-server DEBIAN_FRONTEND=noninteractive\n",
    );
    expect(run({}).code).toBe(0); // now present: nothing to do
  });
});
