/**
 * The published package, checked from the tarball `npm pack` builds (prepack runs the build, prunes
 * stale dist files and copies README.md and LICENSE in): what it holds, publint, Are The Types Wrong,
 * and the browser bundle size of the client entries. Figures and how-to: docs/package.md.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { publint } from "publint";
import { formatMessage } from "publint/utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain .mjs script without type declarations
import { BUDGETS, measureSizes } from "../../../../scripts/size.mjs";

const exec = promisify(execFile);
const root = resolve(import.meta.dirname, "../../../..");

/** Every subpath the package exports; a new export must be added here (and to docs/package.md). */
const SUBPATHS = [".", "./client", "./client/ws", "./protocol", "./react", "./next", "./redis", "./pusher"];

/**
 * Size budgets, gzipped bytes, for the bundle a browser app gets from each entry (esbuild, minified):
 * `BUDGETS` of scripts/size.mjs, the one place the docs' figures come from too. Raise them there.
 */
const BUDGET = BUDGETS as { "SSE-only core": number; "herald/client": number; "herald/react": number };

let dir = "";
let tarball = "";
let files: string[] = [];
let pkg: {
  description: string;
  main: string;
  types: string;
  exports: Record<string, { types: string; default: string }>;
  typesVersions: Record<string, Record<string, string[]>>;
  bin: Record<string, string>;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "herald-pack-"));
  await exec("npm", ["pack", "-w", "herald", "--pack-destination", dir], { cwd: root, maxBuffer: 64 << 20 }).catch(
    (e: { stdout?: string; stderr?: string }) => {
      throw new Error(`npm pack -w herald failed (its prepack runs the build):\n${e.stdout}\n${e.stderr}`);
    },
  );
  const name = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  if (!name) throw new Error(`npm pack left no tarball in ${dir}`);
  tarball = join(dir, name);
  const { stdout } = await exec("tar", ["-tzf", tarball], { maxBuffer: 64 << 20 });
  files = stdout
    .split("\n")
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ""));
  await exec("tar", ["-xzf", tarball, "-C", dir]);
  pkg = JSON.parse(readFileSync(join(dir, "package", "package.json"), "utf8"));
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the npm tarball", () => {
  it("holds README.md, LICENSE, package.json and dist/ only", () => {
    expect(files).toEqual(expect.arrayContaining(["README.md", "LICENSE", "package.json"]));
    expect(files.filter((f) => !/^(README\.md|LICENSE|package\.json|dist\/.+)$/.test(f))).toEqual([]);
    const license = readFileSync(join(dir, "package", "LICENSE"), "utf8");
    expect(license).toBe(readFileSync(join(root, "LICENSE"), "utf8"));
    expect(license).toMatch(/^MIT License/);
    const readme = readFileSync(join(dir, "package", "README.md"), "utf8");
    expect(readme.split("\n")[0]).toBe(readFileSync(join(root, "README.md"), "utf8").split("\n")[0]);
  });

  it("ships no tests", () => {
    expect(files.filter((f) => /\.test\.|(^|\/)(test|tests|__tests__)\//.test(f))).toEqual([]);
    expect(files.filter((f) => /\.tsx?$/.test(f) && !f.endsWith(".d.ts"))).toEqual([]);
  });

  it("has the JS and the types of every subpath export", () => {
    expect(Object.keys(pkg.exports).sort()).toEqual([...SUBPATHS].sort());
    for (const subpath of SUBPATHS) {
      const entry = pkg.exports[subpath]!;
      expect(entry.types, subpath).toMatch(/^\.\/dist\/.+\.d\.ts$/);
      expect(entry.default, subpath).toMatch(/^\.\/dist\/.+\.js$/);
      expect(files, subpath).toContain(entry.types.slice(2));
      expect(files, subpath).toContain(entry.default.slice(2));
    }
    // main/types and typesVersions serve moduleResolution node10; they must mirror `exports`.
    expect(pkg.main).toBe(pkg.exports["."]!.default);
    expect(pkg.types).toBe(pkg.exports["."]!.types);
    const mirrored = Object.fromEntries(
      SUBPATHS.filter((s) => s !== ".").map((s) => [s.slice(2), [pkg.exports[s]!.types]]),
    );
    expect(pkg.typesVersions).toEqual({ "*": mirrored });
  });

  it("describes only what exists: each transport the description names ships", () => {
    const claims: [RegExp, string][] = [
      [/websocket|pusher/i, "dist/pusher/index.js"],
      [/polling/i, "dist/server/http/poll.js"],
      [/redis/i, "dist/redis/index.js"],
      [/sse/i, "dist/server/http/sse-node.js"],
    ];
    for (const [claim, file] of claims) if (claim.test(pkg.description)) expect(files).toContain(file);
    expect(pkg.bin).toEqual({ herald: "./dist/bin/herald.js" });
    expect(files).toContain("dist/bin/herald.js");
  });

  it("passes publint (no errors, no warnings)", async () => {
    const buf = readFileSync(tarball);
    const result = await publint({
      pack: { tarball: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer },
      level: "warning",
    });
    expect(result.messages.map((m) => `${m.type}: ${formatMessage(m, result.pkg, { color: false })}`)).toEqual([]);
  });

  it("passes Are The Types Wrong", async () => {
    const require = createRequire(import.meta.url);
    const cli = join(dirname(require.resolve("@arethetypeswrong/cli/package.json")), "dist", "index.js");
    const args = [cli, tarball, "--no-color", "--no-emoji", "--format", "table-flipped"];
    // cjs-resolves-to-esm: Herald is ESM only ("type": "module", no require condition), so under
    // node16-from-CJS every entry resolves to ESM by design; CommonJS code loads it with import(), or
    // with require() on Node >= 20.19, which the package's engines field demands anyway.
    args.push("--ignore-rules", "cjs-resolves-to-esm");
    const run = await exec(process.execPath, args, { maxBuffer: 64 << 20 }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? 1,
        stdout: `${e.stdout}${e.stderr}`,
      }),
    );
    expect(run.code, run.stdout).toBe(0);
  });
});

describe("client bundle size (min+gzip, esbuild)", () => {
  it("stays within budget", async () => {
    const sizes: { name: keyof typeof BUDGET; minified: number; gzipped: number }[] = await measureSizes(
      join(dir, "package"),
    );
    expect(sizes.map((s) => s.name).sort()).toEqual(Object.keys(BUDGET).sort());
    for (const s of sizes) {
      console.log(`${s.name}: ${s.minified} B minified, ${s.gzipped} B gzipped (budget ${BUDGET[s.name]} B)`);
      expect(s.gzipped, s.name).toBeLessThanOrEqual(BUDGET[s.name]);
    }
  });
});
