/**
 * The guides' code is the quickstart's code: every TypeScript block in README.md and
 * docs/{next,tasks,react}.md is marked with the file (or `#region`) of examples/next-quickstart it
 * shows, e.g. `<!-- file: examples/next-quickstart/lib/herald.ts -->` or
 * `<!-- file: examples/next-quickstart/app/actions.ts#startReport -->` above the fence (blank
 * lines between are fine), and must equal it exactly. The quickstart is type-checked here with
 * `tsc` (and built with `next build` by e2e/quickstart.test.ts), so every block in the guides
 * compiles.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const GUIDES = ["README.md", "docs/next.md", "docs/tasks.md", "docs/react.md"];
const QUICKSTART = "examples/next-quickstart";
/** Languages whose blocks must come from the quickstart. Shell, JSON and plain blocks are exempt. */
const CODE = new Set(["ts", "tsx", "typescript", "js", "jsx", "javascript", "mjs"]);

interface Block {
  guide: string;
  line: number;
  lang: string;
  body: string;
  source: string | null;
}

/** The fenced blocks of a markdown file, each with the `<!-- file: … -->` marker right above it. */
function blocksOf(guide: string): Block[] {
  const lines = readFileSync(path.join(ROOT, guide), "utf8").split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(\S*)/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[2]!;
    let end = i + 1;
    while (end < lines.length && lines[end]!.trim() !== fence) end++;
    let above = i - 1;
    while (above >= 0 && lines[above]!.trim() === "") above--;
    const marker = /^<!--\s*file:\s*(\S+)\s*-->$/.exec((lines[above] ?? "").trim());
    blocks.push({
      guide,
      line: i + 1,
      lang: open[3]!.toLowerCase(),
      body: lines.slice(i + 1, end).join("\n"),
      source: marker ? marker[1]! : null,
    });
    i = end;
  }
  return blocks;
}

/** A file of the quickstart, or the lines between `// #region name` and `// #endregion name`. */
function sourceText(source: string): string {
  const [file, region] = source.split("#");
  const text = readFileSync(path.join(ROOT, file!), "utf8").replace(/\n$/, "");
  if (!region) return text;
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trim() === `// #region ${region}`);
  const end = lines.findIndex((l) => l.trim() === `// #endregion ${region}`);
  if (start < 0 || end < start) throw new Error(`${file} has no region "${region}"`);
  return lines.slice(start + 1, end).join("\n");
}

const blocks = GUIDES.flatMap(blocksOf);

describe("the guides show the quickstart's code", () => {
  it("finds the guides' code blocks", () => {
    for (const guide of GUIDES) expect(blocks.filter((b) => b.guide === guide).length, guide).toBeGreaterThan(0);
  });

  it("marks every TypeScript block with the file it comes from", () => {
    const unmarked = blocks.filter((b) => CODE.has(b.lang) && b.source === null).map((b) => `${b.guide}:${b.line}`);
    expect(unmarked).toEqual([]);
  });

  it.each(blocks.filter((b) => b.source !== null).map((b) => [`${b.guide}:${b.line} ${b.source}`, b] as const))(
    "%s matches its source exactly",
    (_name, block) => {
      expect(block.source!.startsWith(`${QUICKSTART}/`), "blocks come from the quickstart").toBe(true);
      expect(existsSync(path.join(ROOT, block.source!.split("#")[0]!)), `${block.source} exists`).toBe(true);
      expect(block.body).toBe(sourceText(block.source!));
    },
  );

  it("type-checks the quickstart (tsc --noEmit)", () => {
    const dist = path.join(ROOT, "packages", "herald", "dist", "server", "index.d.ts");
    expect(existsSync(dist), "build the library first: npm run build").toBe(true);
    const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const result = spawnSync(process.execPath, [tsc, "--noEmit", "-p", QUICKSTART], { cwd: ROOT, encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  }, 60_000);
});
