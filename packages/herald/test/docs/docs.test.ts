/**
 * The guides' code is the quickstart's code, whole files only: every TypeScript block in README.md
 * and docs/{next,tasks,react}.md is titled with the path of the file of examples/next-quickstart it
 * shows, a line "**`app/actions.ts`**" above the fence (blank lines between are fine), and must be
 * that whole file, byte for byte ("use server"/"use client", imports and all). The README shows
 * every source file of the quickstart's app/ and lib/, page.tsx included, so a reader who copies its
 * blocks has the whole app. The quickstart is type-checked here with `tsc` against the built
 * package's types (and built with `next build`, run on `next start` and driven in Chromium by
 * e2e/quickstart.test.ts), so every block in the guides compiles and runs.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const GUIDES = ["README.md", "docs/next.md", "docs/tasks.md", "docs/react.md", "docs/chat.md"];
const QUICKSTART = "examples/next-quickstart";
/** Languages whose blocks must come from the quickstart. Shell, JSON and plain blocks are exempt. */
const CODE = new Set(["ts", "tsx", "typescript", "js", "jsx", "javascript", "mjs"]);

interface Block {
  guide: string;
  line: number;
  lang: string;
  body: string;
  /** The quickstart file the block's title names, relative to the quickstart (null: untitled). */
  source: string | null;
}

/** A block's title: the file's path in bold code, alone on its line. */
const TITLE = /^\*\*`([^`]+)`\*\*$/;

/** The fenced blocks of a markdown file, each with the title right above it. */
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
    const title = TITLE.exec((lines[above] ?? "").trim());
    blocks.push({
      guide,
      line: i + 1,
      lang: open[3]!.toLowerCase(),
      body: lines.slice(i + 1, end).join("\n"),
      source: title ? title[1]! : null,
    });
    i = end;
  }
  return blocks;
}

/** A file of the quickstart, without its final newline. */
function sourceText(source: string): string {
  return readFileSync(path.join(ROOT, QUICKSTART, source), "utf8").replace(/\n$/, "");
}

/** The quickstart's own source files (app/ and lib/), relative to it. */
function quickstartSources(dir = ""): string[] {
  return readdirSync(path.join(ROOT, QUICKSTART, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return quickstartSources(rel);
    return /^(app|lib)\//.test(rel) && /\.tsx?$/.test(rel) ? [rel] : [];
  });
}

const blocks = GUIDES.flatMap(blocksOf);

describe("the guides show the quickstart's code", () => {
  it("finds the guides' code blocks", () => {
    for (const guide of GUIDES) expect(blocks.filter((b) => b.guide === guide).length, guide).toBeGreaterThan(0);
  });

  it("titles every TypeScript block with the file it is", () => {
    const untitled = blocks.filter((b) => CODE.has(b.lang) && b.source === null).map((b) => `${b.guide}:${b.line}`);
    expect(untitled).toEqual([]);
  });

  it.each(blocks.filter((b) => b.source !== null).map((b) => [`${b.guide}:${b.line} ${b.source}`, b] as const))(
    "%s is that whole file of the quickstart, byte for byte",
    (_name, block) => {
      const file = path.join(ROOT, QUICKSTART, block.source!);
      expect(existsSync(file), `${QUICKSTART}/${block.source} exists`).toBe(true);
      expect(block.body, "run `node scripts/sync-guide-code.mjs` after changing the quickstart").toBe(
        sourceText(block.source!),
      );
    },
  );

  it("shows every source file of the quickstart in the README, page.tsx included", () => {
    const sources = quickstartSources();
    expect(sources).toEqual(expect.arrayContaining(["app/page.tsx", "app/actions.ts", "lib/herald.ts"]));
    const shown = new Set(blocks.filter((b) => b.guide === "README.md").map((b) => b.source));
    expect(sources.filter((f) => !shown.has(f))).toEqual([]);
  });

  it('keeps the directives: a Server Actions file says "use server", a file with hooks "use client"', () => {
    for (const block of blocks.filter((b) => b.source !== null)) {
      const where = `${block.guide}:${block.line} ${block.source}`;
      const first = block.body.split("\n")[0];
      if (/\bactions\.ts$/.test(block.source!)) expect(first, where).toBe('"use server";');
      if (/\buse[A-Z]\w*[<(]/.test(block.body)) expect(first, where).toBe('"use client";');
    }
  });

  it("type-checks the quickstart (tsc --noEmit)", () => {
    const dist = path.join(ROOT, "packages", "herald", "dist", "server", "index.d.ts");
    expect(existsSync(dist), "build the library first: npm run build").toBe(true);
    const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const result = spawnSync(process.execPath, [tsc, "--noEmit", "-p", QUICKSTART], { cwd: ROOT, encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  }, 60_000);
});
