#!/usr/bin/env node
/* global process, console, Buffer */
// The package's figures, measured in one place: what `npm pack` ships (file count, packed and
// unpacked size) and the browser bundle size of Herald's client entries, as an app's bundler would
// ship them: each entry bundled with esbuild (ESM, browser, minified, production), then gzipped
// (level 9). `herald/react` is measured with react external (the app already has it); it includes
// the client. `herald/client/ws` is measured as what it adds to `herald/client`. The SSE-only core
// (CORE) is the first chunk of an app that imports createHeraldClient alone, bundled with splitting.
//
// The docs quote these figures where a `<!--figure:NAME-->` marker stands right before the number
// (see FIGURES); packages/herald/test/docs/figures.test.ts fails when one is off by more than
// FIGURE_TOLERANCE, and `--write-docs` rewrites them all from a fresh measurement.
//
//   npm run size                              bundle sizes of packages/herald (after `npm run build`)
//   node scripts/size.mjs <pkgDir>            bundle sizes of an unpacked package (the package test
//                                             uses the tarball)
//   node scripts/size.mjs --core              the SSE-only core: minified bytes per source file in it,
//                                             and the chunks loaded later (gzipped)
//   node scripts/size.mjs --react-core        the same for a React app's first chunk (REACT_CORE)
//   node scripts/size.mjs --figures           every figure: `npm pack --dry-run --json` and the sizes
//   node scripts/size.mjs --write-docs        the same, written into the docs' marked figures
import { build } from "esbuild";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const heraldDir = join(root, "packages", "herald");

/** The entries measured (and budgeted by the package test): the subpath export and what stays external. */
export const ENTRIES = [
  { name: "herald/client", subpath: "./client", external: [] },
  { name: "herald/react", subpath: "./react", external: ["react", "react-dom", "react/jsx-runtime"] },
];

/**
 * Size budgets, gzipped bytes, for the bundle a browser app gets from each entry of ENTRIES and for
 * the SSE-only core (CORE). The package test fails past them; raise them deliberately.
 * herald/client went from 8,000 to 8,200 with presence and client events on SSE and long-polling,
 * cross-tab reconnection and the stall rules (8,079 B then); herald/react from 11,500 to 13,500
 * with the typed hooks and useHistory. Then herald/client to 11,400 and herald/react to 16,100
 * with one connection per browser (leader election and forwarding, shared.ts, about 2 kB), the
 * client split into parts, and channel changes on the open stream; then to 12,100 and 16,800 with
 * channel changes in place on long-polling and WebSocket and refused channels left out of an open
 * connection (11,888 B and 16,591 B then); then to 12,500 and 17,300 with catch-ups from when a
 * channel was wanted (the WebSocket replay for added channels) and hedged token requests (12,322 B
 * and 17,079 B). Then the SSE-only core (issue #20 asks for 5 kB): 12,136 B, with long-polling in
 * the first chunk (esbuild's splitting keeps a module in the entry chunk when index.ts re-exports
 * it) and the shared connection in it; 9,119 B once the shared connection, the polling and
 * createPollEventSource's polling load in chunks of their own and the classes use #private names
 * (herald/client 12,355 B, herald/react 16,952 B then, with the per-partition cursor being written,
 * already about 250 B of it). Each budget is that measure plus about 350 B: room for the rest of
 * the per-partition cursor (about 300 B) and a small margin; herald/client's is above its previous
 * 12,500 for the cursor, the lazy wrappers (the shared link's and createPollEventSource's) adding
 * about 100 B to the whole entry. Then the core to 9,150: 9,013 B once the requests beside the
 * stream (POST …/channels, POST …/publish: requests.ts) load in a chunk of their own when first
 * made, plus about 150 B (herald/client 12,465 B then: the chunk's import adds about 100 B to the
 * whole entry). Then the core to 9,450, herald/client to 12,950 and herald/react to 17,500: a tab
 * alone keeps a connection of its own and loads the shared layer (about 2.7 kB) only when a second
 * tab says hello (tab-link.ts, about 300 B in the core and in each entry: 9,317 B, 12,776 B and
 * 17,324 B then), plus about 150 B.
 */
export const BUDGETS = { "SSE-only core": 9_450, "herald/client": 12_950, "herald/react": 17_500 };

/**
 * The SSE-only core: the first chunk an app loads for `import { createHeraldClient } from
 * "herald/client"` with default options, bundled with code splitting (esbuild `--bundle
 * --splitting --format=esm --minify`), then gzipped: the entry chunk and the chunks it imports
 * statically. What loads only when chosen or needed (long-polling, the shared connection, presence)
 * is in chunks imported dynamically and is not counted.
 */
export const CORE = { name: "SSE-only core", subpath: "./client", imports: ["createHeraldClient"], external: [] };

/**
 * The same for a React app (what most Next.js apps load): the first chunk for the provider and the
 * two hooks most apps start with, React external.
 */
export const REACT_CORE = {
  name: "React core",
  subpath: "./react",
  imports: ["HeraldProvider", "useEvent", "useConnectionStatus"],
  external: ["react", "react-dom", "react/jsx-runtime"],
};

/** Entries measured as what they add to another one (bundled together, minus the base alone). */
export const ADD_ONS = [{ name: "herald/client/ws", subpath: "./client/ws", base: "./client" }];

/** @param {string} pkgDir @param {string} subpath */
function entryFile(pkgDir, subpath) {
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  const file = pkg.exports?.[subpath]?.default;
  if (typeof file !== "string") throw new Error(`package.json has no exports["${subpath}"].default`);
  return resolve(pkgDir, file);
}

/**
 * Bundles the files together (everything they export kept), minified; returns the output's bytes.
 * @param {string[]} files
 * @param {string[]} external
 */
function bundle(files, external) {
  return bundleSource(files.map((f) => `export * from ${JSON.stringify(f)};`).join("\n"), external);
}

/**
 * Bundles a module's source (imports resolved from the repository's root) as an app's bundler
 * would for a browser (ESM, es2022, minified, production), then gzips it; returns both sizes.
 * @param {string} contents
 * @param {string[]} external
 */
export async function bundleSource(contents, external) {
  const out = await build({
    stdin: { contents, resolveDir: root },
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    treeShaking: true,
    legalComments: "none",
    define: { "process.env.NODE_ENV": '"production"' },
    external,
    logLevel: "silent",
  });
  const code = out.outputFiles[0].contents;
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

/**
 * The first chunk an app loads (see {@link CORE}): its bytes, minified and gzipped, the minified
 * bytes each source file puts in it, and the chunks loaded later (name and gzipped bytes).
 * @param {string} [pkgDir]
 * @param {typeof CORE} [core] which app: {@link CORE} or {@link REACT_CORE}
 */
export async function measureCore(pkgDir = heraldDir, core = CORE) {
  const file = entryFile(pkgDir, core.subpath);
  const out = await build({
    entryPoints: ["herald-core-app"],
    plugins: [
      {
        name: "app",
        setup(b) {
          b.onResolve({ filter: /^herald-core-app$/ }, () => ({ path: "app.js", namespace: "app" }));
          b.onLoad({ filter: /.*/, namespace: "app" }, () => ({
            contents: `export { ${core.imports.join(", ")} } from ${JSON.stringify(file)};`,
            resolveDir: root,
          }));
        },
      },
    ],
    bundle: true,
    splitting: true,
    outdir: "out",
    write: false,
    metafile: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    define: { "process.env.NODE_ENV": '"production"' },
    external: core.external,
    logLevel: "silent",
  });
  const byPath = new Map(out.outputFiles.map((f) => [f.path.slice(f.path.lastIndexOf("/out/") + 1), f.contents]));
  const outputs = out.metafile.outputs;
  const entry = Object.keys(outputs).find((o) => outputs[o].entryPoint);
  // The entry chunk and every chunk it imports statically, transitively.
  const first = new Set([entry]);
  for (const o of first)
    for (const i of outputs[o].imports) if (i.kind === "import-statement" && i.path in outputs) first.add(i.path);
  const code = Buffer.concat([...first].map((o) => byPath.get(o)));
  const parts = {};
  for (const o of first)
    for (const [input, { bytesInOutput }] of Object.entries(outputs[o].inputs))
      if (bytesInOutput > 0) parts[input.replace(/^.*?(?=(client|protocol)\/)/, "")] = bytesInOutput;
  const lazy = Object.keys(outputs)
    .filter((o) => o.endsWith(".js") && !first.has(o))
    .map((o) => ({
      inputs: Object.keys(outputs[o].inputs).map((i) => i.replace(/^.*\//, "")),
      gzipped: gzipSync(byPath.get(o), { level: 9 }).length,
    }));
  return { name: core.name, minified: code.length, gzipped: gzipSync(code, { level: 9 }).length, parts, lazy };
}

/**
 * @param {string} [pkgDir] a directory holding Herald's package.json and dist/
 * @returns {Promise<{ name: string, minified: number, gzipped: number, lazy?: { inputs: string[], gzipped: number }[] }[]>}
 *   sizes in bytes (the core with the chunks its app loads later)
 */
export async function measureSizes(pkgDir = heraldDir) {
  const { name, minified, gzipped, lazy } = await measureCore(pkgDir);
  const results = [{ name, minified, gzipped, lazy }];
  for (const entry of ENTRIES) {
    results.push({ name: entry.name, ...(await bundle([entryFile(pkgDir, entry.subpath)], entry.external)) });
  }
  return results;
}

/**
 * What each add-on entry adds to its base's bundle, in bytes.
 * @param {string} [pkgDir]
 * @returns {Promise<{ name: string, minified: number, gzipped: number }[]>}
 */
export async function measureAddOns(pkgDir = heraldDir) {
  const results = [];
  for (const entry of ADD_ONS) {
    const base = await bundle([entryFile(pkgDir, entry.base)], []);
    const both = await bundle([entryFile(pkgDir, entry.base), entryFile(pkgDir, entry.subpath)], []);
    results.push({ name: entry.name, minified: both.minified - base.minified, gzipped: both.gzipped - base.gzipped });
  }
  return results;
}

/**
 * `npm pack` of the built packages/herald (run `npm run build` first) with `args`: the pack
 * lifecycle without the build, that is herald-pack.mjs prepack (prunes stale dist files, copies
 * README.md and LICENSE in), `npm pack --json --ignore-scripts …args`, then postpack. Leaving the
 * build out keeps the measurement to the dist/ that is there (a half-edited source tree cannot
 * fail it). Returns npm's JSON report of the package.
 * @param {string[]} args e.g. `["--dry-run"]` or `["--pack-destination", dir]`
 * @returns {Promise<{ filename: string, files: { path: string }[], entryCount: number, size: number, unpackedSize: number }>}
 */
export async function npmPack(args) {
  const exec = promisify(execFile);
  const lifecycle = join(root, "scripts", "herald-pack.mjs");
  await exec(process.execPath, [lifecycle, "prepack"], { cwd: heraldDir });
  let stdout;
  try {
    ({ stdout } = await exec("npm", ["pack", "--json", "--ignore-scripts", ...args], {
      cwd: heraldDir,
      maxBuffer: 64 << 20,
    }));
  } finally {
    await exec(process.execPath, [lifecycle, "postpack"], { cwd: heraldDir });
  }
  return JSON.parse(stdout)[0];
}

/**
 * `npm pack --dry-run --json` of the built package: its file list, count and sizes.
 * @returns {Promise<{ files: string[], entryCount: number, size: number, unpackedSize: number }>}
 */
export async function packDryRun() {
  const pack = await npmPack(["--dry-run"]);
  return {
    files: pack.files.map((f) => f.path),
    entryCount: pack.entryCount,
    size: pack.size,
    unpackedSize: pack.unpackedSize,
  };
}

/**
 * The figures the docs quote, by name: `kind` says how to print and read them (`files`: a count;
 * `bytes`: "7.4 kB", "1.7 MB", or "7,448 B" when the docs give bytes). Sizes use SI units
 * (1 kB = 1,000 B), as npm prints them.
 */
export const FIGURES = {
  "tarball.files": "the number of files in the tarball",
  "tarball.packed": "the tarball's size",
  "tarball.unpacked": "the unpacked package's size",
  "core.gzip": "the SSE-only core (CORE), min + gzip",
  "core.react.gzip": "a React app's first chunk (REACT_CORE), min + gzip (React external)",
  "shared.gzip": "the one-connection-per-browser chunk of the core's app (shared.ts), min + gzip",
  "client.min": "herald/client, minified",
  "client.gzip": "herald/client, min + gzip",
  "react.min": "herald/react, minified (React external)",
  "react.gzip": "herald/react, min + gzip (React external)",
  "ws.gzip": "what herald/client/ws adds to herald/client, min + gzip",
  "budget.core": "the SSE-only core's budget (BUDGETS), exact",
  "budget.client": "herald/client's budget (BUDGETS), exact",
  "budget.react": "herald/react's budget (BUDGETS), exact",
};

/** Figures quoted exactly (the budgets): no tolerance. */
export const EXACT_FIGURES = ["budget.core", "budget.client", "budget.react"];

/** How far (relative) a figure in the docs may be from the measurement. */
export const FIGURE_TOLERANCE = 0.1;

/** Measures every figure of {@link FIGURES}. @returns {Promise<{ values: Record<string, number>, files: string[] }>} */
export async function measureFigures() {
  const pack = await packDryRun();
  const sizes = Object.fromEntries((await measureSizes()).map((s) => [s.name, s]));
  const addOns = Object.fromEntries((await measureAddOns()).map((s) => [s.name, s]));
  const shared = sizes[CORE.name].lazy.find((chunk) => chunk.inputs.includes("shared.js"));
  const reactCore = await measureCore(heraldDir, REACT_CORE);
  if (!shared) throw new Error("no chunk holds shared.js");
  const values = {
    "tarball.files": pack.entryCount,
    "tarball.packed": pack.size,
    "tarball.unpacked": pack.unpackedSize,
    "core.gzip": sizes[CORE.name].gzipped,
    "core.react.gzip": reactCore.gzipped,
    "shared.gzip": shared.gzipped,
    "client.min": sizes["herald/client"].minified,
    "client.gzip": sizes["herald/client"].gzipped,
    "react.min": sizes["herald/react"].minified,
    "react.gzip": sizes["herald/react"].gzipped,
    "ws.gzip": addOns["herald/client/ws"].gzipped,
    "budget.core": BUDGETS[CORE.name],
    "budget.client": BUDGETS["herald/client"],
    "budget.react": BUDGETS["herald/react"],
  };
  return { values, files: pack.files };
}

/** The docs that may quote figures. */
export const FIGURE_DOCS = ["README.md", "docs/client.md", "docs/package.md", "docs/websocket-client.md"];

/** A marked figure: `<!--figure:NAME-->` then the number with its unit ("333 files", "7.4 kB", "7,448 B"). */
export const FIGURE_RE = /<!--\s*figure:\s*([\w.]+)\s*-->(\d[\d,]*(?:\.\d+)?)(\s?)(files|B|kB|MB)\b/g;

const UNIT = { files: 1, B: 1, kB: 1e3, MB: 1e6 };

/**
 * Every marked figure of a markdown text.
 * @param {string} text
 * @returns {{ name: string, text: string, value: number, unit: string, line: number }[]}
 */
export function figuresIn(text) {
  return [...text.matchAll(FIGURE_RE)].map((m) => ({
    name: m[1],
    text: m[0].replace(/^<!--.*?-->/, ""),
    value: Number(m[2].replaceAll(",", "")) * UNIT[m[4]],
    unit: m[4],
    line: text.slice(0, m.index).split("\n").length,
  }));
}

/** @param {number} value @param {string} unit the unit the docs use at that place */
function formatFigure(value, unit) {
  if (unit === "files") return `${value} files`;
  if (unit === "B") return `${value.toLocaleString("en-US")} B`;
  if (unit === "MB") return `${(value / 1e6).toFixed(1)} MB`;
  return `${(value / 1e3).toFixed(value < 100e3 ? 1 : 0)} kB`;
}

/**
 * The text with every marked figure replaced by the measured value, in the unit it had.
 * @param {string} text @param {Record<string, number>} values
 */
export function writeFigures(text, values) {
  return text.replace(FIGURE_RE, (whole, name, _n, space, unit) => {
    if (!(name in values)) throw new Error(`unknown figure "${name}"`);
    const formatted = formatFigure(values[name], unit);
    return `<!--figure:${name}-->${space ? formatted : formatted.replace(" ", "")}`;
  });
}

const kb = (n) => `${(n / 1e3).toFixed(1)} kB`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = process.argv[2];
  if (arg === "--core" || arg === "--react-core") {
    const core = await measureCore(heraldDir, arg === "--core" ? CORE : REACT_CORE);
    console.log(`${core.name}: ${core.minified} B minified, ${core.gzipped} B gzipped`);
    for (const [file, bytes] of Object.entries(core.parts).sort((a, b) => b[1] - a[1]))
      console.log(`  ${file.padEnd(32)} ${String(bytes).padStart(6)} B minified`);
    for (const chunk of core.lazy)
      console.log(`  later: ${chunk.inputs.join(", ").padEnd(25)} ${chunk.gzipped} B gzipped`);
  } else if (arg === "--figures" || arg === "--write-docs") {
    const { values } = await measureFigures();
    for (const [name, value] of Object.entries(values))
      console.log(`${name.padEnd(17)} ${String(value).padStart(9)}  ${FIGURES[name]}`);
    if (arg === "--write-docs") {
      for (const doc of FIGURE_DOCS) {
        const file = join(root, doc);
        const before = readFileSync(file, "utf8");
        const after = writeFigures(before, values);
        if (after !== before) {
          writeFileSync(file, after);
          console.log(`updated ${doc}`);
        }
      }
    }
  } else {
    const dir = arg ? resolve(arg) : undefined;
    for (const s of [...(await measureSizes(dir)), ...(await measureAddOns(dir))]) {
      const what = ADD_ONS.some((a) => a.name === s.name) ? "more" : "";
      console.log(
        `${s.name.padEnd(17)} ${kb(s.minified).padStart(9)} minified ${kb(s.gzipped).padStart(9)} gzipped  (${s.gzipped} B) ${what}`.trimEnd(),
      );
    }
  }
}
