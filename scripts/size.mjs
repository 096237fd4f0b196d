#!/usr/bin/env node
/* global process, console */
// Browser bundle size of Herald's client entries, as an app's bundler would ship them: each entry
// bundled with esbuild (ESM, browser, minified, production), then gzipped (level 9).
// `herald/react` is measured with react external (the app already has it); it includes the client.
//
//   npm run size                       measures packages/herald (run after `npm run build`)
//   node scripts/size.mjs <pkgDir>     measures an unpacked package (the package test uses the tarball)
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The entries measured: the subpath export and what the bundler treats as external. */
export const ENTRIES = [
  { name: "herald/client", subpath: "./client", external: [] },
  { name: "herald/react", subpath: "./react", external: ["react", "react-dom", "react/jsx-runtime"] },
];

/**
 * @param {string} [pkgDir] a directory holding Herald's package.json and dist/
 * @returns {Promise<{ name: string, minified: number, gzipped: number }[]>} sizes in bytes
 */
export async function measureSizes(pkgDir = join(root, "packages", "herald")) {
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  const results = [];
  for (const entry of ENTRIES) {
    const file = pkg.exports?.[entry.subpath]?.default;
    if (typeof file !== "string") throw new Error(`package.json has no exports["${entry.subpath}"].default`);
    const out = await build({
      entryPoints: [resolve(pkgDir, file)],
      bundle: true,
      write: false,
      format: "esm",
      platform: "browser",
      target: "es2022",
      minify: true,
      treeShaking: true,
      legalComments: "none",
      define: { "process.env.NODE_ENV": '"production"' },
      external: entry.external,
      logLevel: "silent",
    });
    const code = out.outputFiles[0].contents;
    results.push({ name: entry.name, minified: code.length, gzipped: gzipSync(code, { level: 9 }).length });
  }
  return results;
}

const kb = (n) => `${(n / 1024).toFixed(1)} kB`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const sizes = await measureSizes(process.argv[2] ? resolve(process.argv[2]) : undefined);
  for (const s of sizes) {
    console.log(
      `${s.name.padEnd(14)} ${kb(s.minified).padStart(9)} minified ${kb(s.gzipped).padStart(9)} gzipped  (${s.gzipped} B)`,
    );
  }
}
