/**
 * The package's figures in the docs (file count, packed and unpacked size, each client entry's
 * bundle size, the budgets) against a fresh measurement: `npm pack --dry-run --json` of the built
 * package and scripts/size.mjs, the one place they come from. A figure is quoted with a marker
 * right before it, `<!--figure:client.gzip-->7.4 kB`; `node scripts/size.mjs --write-docs` rewrites
 * them all. Fails when a marked figure is off by more than FIGURE_TOLERANCE (budgets: at all), when
 * a size or file count about the package is written without a marker, or when the docs name a
 * `dist/` file the tarball does not hold.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import {
  EXACT_FIGURES,
  FIGURE_DOCS,
  FIGURE_TOLERANCE,
  FIGURES,
  figuresIn,
  measureFigures,
  writeFigures,
  // @ts-expect-error plain .mjs script without type declarations
} from "../../../../scripts/size.mjs";

interface Figure {
  name: string;
  text: string;
  value: number;
  unit: string;
  line: number;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
/** Every markdown file a user reads: the README, SECURITY.md and docs/*.md. */
const ALL_DOCS = [
  "README.md",
  "SECURITY.md",
  ...readdirSync(path.join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const read = (doc: string) => readFileSync(path.join(ROOT, doc), "utf8");

let measured: Record<string, number> = {};
let tarballFiles: string[] = [];

beforeAll(async () => {
  const result = (await measureFigures()) as { values: Record<string, number>; files: string[] };
  measured = result.values;
  tarballFiles = result.files;
}, 180_000);

describe("the figures in the docs", () => {
  it("measures every figure the docs may quote", () => {
    expect(Object.keys(measured).sort()).toEqual(Object.keys(FIGURES).sort());
    for (const [name, value] of Object.entries(measured)) expect(value, name).toBeGreaterThan(0);
    expect(tarballFiles.length).toBe(measured["tarball.files"]);
    expect(tarballFiles).toEqual(expect.arrayContaining(["package.json", "README.md", "LICENSE"]));
  });

  it("quotes each figure somewhere, and only in the docs size.mjs --write-docs updates", () => {
    const quoted = new Set<string>();
    for (const doc of ALL_DOCS) {
      const figures: Figure[] = figuresIn(read(doc));
      if (figures.length > 0) expect(FIGURE_DOCS, `${doc} quotes figures: add it to FIGURE_DOCS`).toContain(doc);
      for (const f of figures) quoted.add(f.name);
    }
    expect([...quoted].filter((name) => !(name in FIGURES))).toEqual([]);
    expect(Object.keys(FIGURES).filter((name) => !quoted.has(name))).toEqual([]);
  });

  it.each((FIGURE_DOCS as string[]).map((doc) => [doc] as const))(
    `%s: every marked figure is within ${FIGURE_TOLERANCE * 100}% of the measurement (budgets: exact)`,
    (doc: string) => {
      const off = (figuresIn(read(doc)) as Figure[])
        .filter((f) => {
          const actual = measured[f.name]!;
          if (EXACT_FIGURES.includes(f.name)) return f.value !== actual;
          return Math.abs(f.value - actual) > FIGURE_TOLERANCE * actual;
        })
        .map((f) => `${doc}:${f.line} ${f.name} says ${f.text}, measured ${measured[f.name]}`);
      expect(off, "run `node scripts/size.mjs --write-docs`").toEqual([]);
    },
  );

  it("leaves no size or file count of the package unmarked", () => {
    const about = /gzip|packed|unpacked|tarball|bundle|minified|\bfiles\b/i;
    const number = /\d[\d,]*(?:\.\d+)?\s?(?:kB|KB|MB|B)\b|\d[\d,]*\s+files\b/g;
    const unmarked: string[] = [];
    for (const doc of ALL_DOCS) {
      read(doc)
        .split("\n")
        .forEach((line, i) => {
          if (!about.test(line)) return;
          const rest = line.replace(/<!--\s*figure:[\w.]+\s*-->\+?\d[\d,]*(?:\.\d+)?\s?(?:files|B|kB|MB)\b/g, "");
          for (const m of rest.matchAll(number)) unmarked.push(`${doc}:${i + 1} ${m[0]}`);
        });
    }
    expect(unmarked, "mark each with <!--figure:NAME--> (scripts/size.mjs FIGURES)").toEqual([]);
  });

  it("names only dist/ files the tarball holds", () => {
    const files = new Set(tarballFiles);
    const missing: string[] = [];
    for (const doc of ALL_DOCS) {
      for (const m of read(doc).matchAll(/`(dist\/[^`\s]+\.(?:js|d\.ts|map))`/g)) {
        if (!files.has(m[1]!)) missing.push(`${doc}: ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("maps each import in docs/package.md's table to the files package.json exports", () => {
    const pkg = JSON.parse(read("packages/herald/package.json")) as {
      exports: Record<string, { types: string; default: string }>;
    };
    const rows = [...read("docs/package.md").matchAll(/^\s*\| `(herald[^`]*)`\s*\| `([^`]+)`\s*\| `([^`]+)`\s*\|/gm)];
    const documented = Object.fromEntries(rows.map((r) => [r[1]!, { default: `./${r[2]}`, types: `./${r[3]}` }]));
    const exported = Object.fromEntries(
      Object.entries(pkg.exports).map(([subpath, e]) => [
        subpath === "." ? "herald" : `herald/${subpath.slice(2)}`,
        { default: e.default, types: e.types },
      ]),
    );
    expect(documented).toEqual(exported);
  });

  it("writes figures back in the unit each place uses (size.mjs --write-docs)", () => {
    const text = "<!--figure:client.gzip-->1.0 kB, <!--figure:tarball.files-->1 files, <!--figure:budget.react-->1 B";
    const written: Figure[] = figuresIn(writeFigures(text, measured));
    expect(written.map((f) => [f.name, f.unit])).toEqual([
      ["client.gzip", "kB"],
      ["tarball.files", "files"],
      ["budget.react", "B"],
    ]);
    expect(Math.abs(written[0]!.value - measured["client.gzip"]!)).toBeLessThanOrEqual(50);
    expect(written[1]!.value).toBe(measured["tarball.files"]);
    expect(written[2]!.value).toBe(measured["budget.react"]);
  });
});
