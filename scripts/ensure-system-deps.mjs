#!/usr/bin/env node
/* global process, console */
// First step of `npm test`: the system packages the test suite needs, besides Node.
//   - redis-server on PATH (the Redis tests start their own server on a free port)
//   - Debian's chromium at /usr/bin/chromium, or the binary named by $CHROMIUM_PATH (browser tests)
// When something is missing and this process may install packages (it runs as root, or passwordless
// sudo works), it runs `apt-get update` and `apt-get install -y <the missing packages>` and says so.
// Otherwise it stops at once (exit code 1) naming the exact command to run.
// Plain Node, no dependencies: it runs before `npm ci` in .ci/run.
//
// Environment:
//   CHROMIUM_PATH=/path/to/chromium   use that browser instead of /usr/bin/chromium (never installed)
//   HERALD_SKIP_SYSTEM_DEPS=1         skip this check (the Redis and browser tests will then fail)
//   HERALD_SYSTEM_DEPS_NO_INSTALL=1   never install, only report (as a user without root would see)
import { spawnSync } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";

const tag = "[system-deps]";
const env = process.env;

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function onPath(command) {
  return (env.PATH ?? "").split(delimiter).some((dir) => dir !== "" && isExecutable(join(dir, command)));
}

/** What is missing: `{ pkg, why }` for each absent package. */
function missingPackages() {
  const missing = [];
  if (!onPath("redis-server")) missing.push({ pkg: "redis-server", why: "redis-server is not on PATH" });
  if (!env.CHROMIUM_PATH && !isExecutable("/usr/bin/chromium")) {
    missing.push({ pkg: "chromium", why: "/usr/bin/chromium does not exist" });
  }
  return missing;
}

function fail(lines) {
  console.error(
    [...lines, `${tag} (HERALD_SKIP_SYSTEM_DEPS=1 skips this check; the tests that need them will fail)`].join("\n"),
  );
  process.exit(1);
}

/** `[]` when running as root, `["sudo", "-n"]` when passwordless sudo works, null when neither. */
function privilege() {
  if (env.HERALD_SYSTEM_DEPS_NO_INSTALL === "1") return null;
  if (typeof process.getuid === "function" && process.getuid() === 0) return [];
  if (onPath("sudo") && spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status === 0) return ["sudo", "-n"];
  return null;
}

function run(prefix, args) {
  console.log(`${tag} running: ${[...prefix, "DEBIAN_FRONTEND=noninteractive", ...args].join(" ")}`);
  // sudo resets the environment, so the variable goes through env(1) there.
  const argv = prefix.length ? [...prefix, "env", "DEBIAN_FRONTEND=noninteractive", ...args] : args;
  const options = { stdio: ["ignore", "inherit", "inherit"], env: { ...env, DEBIAN_FRONTEND: "noninteractive" } };
  return spawnSync(argv[0], argv.slice(1), options).status === 0;
}

if (env.HERALD_SKIP_SYSTEM_DEPS === "1") {
  console.log(`${tag} HERALD_SKIP_SYSTEM_DEPS=1: not checking for redis-server and chromium`);
  process.exit(0);
}

if (env.CHROMIUM_PATH && !isExecutable(env.CHROMIUM_PATH)) {
  fail([
    `${tag} CHROMIUM_PATH=${env.CHROMIUM_PATH} is not an executable file.`,
    `${tag} Point it at a Chromium binary, or unset it to use Debian's /usr/bin/chromium (apt-get install chromium).`,
  ]);
}

const missing = missingPackages();
if (missing.length === 0) process.exit(0);

const pkgs = missing.map((m) => m.pkg);
const why = missing.map((m) => `${tag} missing: ${m.pkg} (${m.why})`);
const hasApt = onPath("apt-get");
const prefix = hasApt ? privilege() : null;

if (prefix === null) {
  if (!hasApt) {
    fail([
      ...why,
      `${tag} apt-get is not available here: install ${pkgs.join(" and ")} with your system's package manager`,
      `${tag} (Chromium anywhere other than /usr/bin/chromium: set CHROMIUM_PATH), then run npm test again.`,
    ]);
  }
  fail([
    ...why,
    `${tag} Install with:`,
    `  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${pkgs.join(" ")}`,
    `${tag} then run npm test again.`,
  ]);
}

console.log(why.join("\n"));
console.log(`${tag} installing ${pkgs.join(" ")} with apt-get${prefix.length ? " (via sudo)" : ""}`);
if (!run(prefix, ["apt-get", "update"])) console.log(`${tag} apt-get update failed; trying the install anyway`);
const installed = run(prefix, ["apt-get", "install", "-y", ...pkgs]);
const still = missingPackages();
if (!installed || still.length > 0) {
  const left = (still.length ? still : missing).map((m) => m.pkg).join(" ");
  fail([`${tag} ${installed ? "apt-get install finished" : "apt-get install failed"}; still missing: ${left}`]);
}
console.log(`${tag} installed ${pkgs.join(" ")}`);
