/**
 * The guides of features beside the quickstart (typed channels, history, Durable Streams): every
 * TypeScript block is a whole file, titled with its path ("**`lib/channels.ts`**" above the fence).
 * Each guide's blocks are written as one small app (the package's sources standing in for `herald`,
 * `@/` for the app's root, a stub `lib/session.ts` where the guide shows none) and type-checked
 * with `tsc`, strict: a guide whose code does not compile fails here.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const SRC = path.join(ROOT, "packages", "herald", "src");
const GUIDES = ["docs/typed-channels.md", "docs/history.md", "docs/durable-streams.md"];
/** A titled TypeScript block: the title line, a blank line, the fence, its body. */
const BLOCK = /^\*\*`([^`]+)`\*\*\n\n```(?:ts|tsx|typescript)\n([\s\S]*?)\n```$/gm;
/** Any fenced TypeScript block, titled or not. */
const ANY_TS_BLOCK = /^```(?:ts|tsx|typescript)$/gm;
const STUBS: Record<string, string> = {
  "lib/session.ts": "export async function currentUserId(): Promise<string | null> {\n  return null;\n}\n",
};

describe.each(GUIDES)("%s", (guide) => {
  const text = readFileSync(path.join(ROOT, guide), "utf8");
  const files = [...text.matchAll(BLOCK)].map((m) => ({ file: m[1]!, body: `${m[2]!}\n` }));

  it("titles every TypeScript block with its file, each file once", () => {
    expect(files.length).toBeGreaterThan(0);
    expect(files.length).toBe([...text.matchAll(ANY_TS_BLOCK)].length);
    expect(new Set(files.map((f) => f.file)).size).toBe(files.length);
  });

  it("type-checks its blocks as one app (tsc --strict)", () => {
    const dir = path.join(ROOT, "node_modules", ".cache", "herald-guides", path.basename(guide, ".md"));
    rmSync(dir, { recursive: true, force: true });
    const all = { ...STUBS, ...Object.fromEntries(files.map((f) => [f.file, f.body])) };
    for (const [file, body] of Object.entries(all)) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), body);
    }
    const types = path.join(ROOT, "node_modules", "@types");
    const tsconfig = {
      compilerOptions: {
        target: "ES2022",
        lib: ["dom", "dom.iterable", "ES2023"],
        module: "esnext",
        moduleResolution: "bundler",
        jsx: "react-jsx",
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        isolatedModules: true,
        typeRoots: [types],
        types: ["node"],
        paths: {
          "@/*": ["./*"],
          herald: [path.join(SRC, "server", "index.ts")],
          "herald/*": [path.join(SRC, "*", "index.ts")],
        },
      },
      files: Object.keys(all),
    };
    writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
    const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const result = spawnSync(process.execPath, [tsc, "-p", dir], { cwd: dir, encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
