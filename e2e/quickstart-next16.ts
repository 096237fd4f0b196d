/**
 * The quickstart on Next.js 16, installed as a user gets it: the library packed with `npm pack`, and
 * the tarball installed with next@16, react and react-dom into test-output/next16/ (git-ignored,
 * outside every workspace), where examples/next-quickstart's sources are copied and built. Nothing
 * there resolves to the workspace's Next.js 15 (the tarball is a plain copy, not a symlink).
 *
 * Cached: the install runs again only when its package.json changes (the tarball's name carries a
 * hash of its bytes, and `npm pack` is deterministic), so the Node 24 pass of CI reuses the Node 20
 * pass's install and, when nothing changed, its build.
 */
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { newest, ROOT, run } from "./demo-server.js";

/** The Next.js 16 release the quickstart is tested on (raise it deliberately). */
export const NEXT16_VERSION = "16.4.6";

export const NEXT16_DIR = path.join(ROOT, "test-output", "next16");
const PACK_DIR = path.join(NEXT16_DIR, "pack");
/** Holds the package.json of the last install that completed. */
const INSTALLED = path.join(NEXT16_DIR, ".installed");
/** What is not copied from the quickstart (build output, and its package.json that pins Next 15). */
const NOT_COPIED = new Set(["node_modules", ".next", "next-env.d.ts", "package.json", "package-lock.json"]);
/** What in NEXT16_DIR is the harness's own (everything else is a copy of the quickstart). */
const OWN = new Set(["node_modules", "pack", "package.json", "package-lock.json", ".installed", ".next"]);

/** Packs the built library into PACK_DIR as `herald-<hash>.tgz`; returns the file name. */
function pack(): string {
  rmSync(PACK_DIR, { recursive: true, force: true });
  mkdirSync(PACK_DIR, { recursive: true });
  // --ignore-scripts: the library is built already (prepack would build it again).
  run("npm", ["pack", "-w", "herald", "--ignore-scripts", "--pack-destination", PACK_DIR], ROOT);
  const packed = readdirSync(PACK_DIR).find((f) => f.endsWith(".tgz"));
  if (!packed) throw new Error(`npm pack left no tarball in ${PACK_DIR}`);
  const hash = createHash("sha256")
    .update(readFileSync(path.join(PACK_DIR, packed)))
    .digest("hex")
    .slice(0, 16);
  const name = `herald-${hash}.tgz`;
  renameSync(path.join(PACK_DIR, packed), path.join(PACK_DIR, name));
  return name;
}

/** Installs the packed library with Next.js 16 unless that exact install is in place. */
function install(tarball: string): void {
  const react = (
    JSON.parse(readFileSync(path.join(ROOT, "node_modules", "react", "package.json"), "utf8")) as {
      version: string;
    }
  ).version;
  const manifest =
    JSON.stringify(
      {
        name: "next16-quickstart",
        private: true,
        type: "module",
        dependencies: {
          herald: `file:./pack/${tarball}`,
          next: NEXT16_VERSION,
          react,
          "react-dom": react,
        },
      },
      null,
      2,
    ) + "\n";
  if (existsSync(INSTALLED) && readFileSync(INSTALLED, "utf8") === manifest) return;
  rmSync(INSTALLED, { force: true });
  writeFileSync(path.join(NEXT16_DIR, "package.json"), manifest);
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], NEXT16_DIR);
  writeFileSync(INSTALLED, manifest);
}

/** Replaces the copy of the quickstart's sources in NEXT16_DIR. */
function copySources(source: string): void {
  for (const entry of readdirSync(NEXT16_DIR)) {
    if (!OWN.has(entry)) rmSync(path.join(NEXT16_DIR, entry), { recursive: true, force: true });
  }
  for (const entry of readdirSync(source)) {
    if (NOT_COPIED.has(entry) || entry.endsWith(".tsbuildinfo")) continue;
    cpSync(path.join(source, entry), path.join(NEXT16_DIR, entry), { recursive: true });
  }
}

/**
 * Packs, installs (when changed) and builds the quickstart on Next.js 16 unless its build is newer
 * than the quickstart's sources and the install. Call under the build lock, after the library build.
 * Returns the directory to run `next start` in.
 */
export function buildNext16IfStale(source: string): string {
  mkdirSync(NEXT16_DIR, { recursive: true });
  install(pack());
  const buildId = path.join(NEXT16_DIR, ".next", "BUILD_ID");
  if (!existsSync(buildId) || statSync(buildId).mtimeMs < Math.max(newest(source), statSync(INSTALLED).mtimeMs)) {
    copySources(source);
    run(process.execPath, [next16Bin(), "build"], NEXT16_DIR);
  }
  return NEXT16_DIR;
}

/** The `next` CLI of the Next.js 16 install. */
export function next16Bin(): string {
  return path.join(NEXT16_DIR, "node_modules", "next", "dist", "bin", "next");
}
