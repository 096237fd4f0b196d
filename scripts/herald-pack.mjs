#!/usr/bin/env node
/* global process, console */
// npm lifecycle helper for packages/herald (plain Node, no dependencies).
//
//   node ../../scripts/herald-pack.mjs prepack    (run by `npm pack` / `npm publish`, after the build)
//   node ../../scripts/herald-pack.mjs postpack
//
// prepack: removes stale files from dist/ (outputs whose source in src/ was moved or deleted, and any
// compiled test), so the tarball holds only what the current sources build; then copies the
// repository's README.md and LICENSE into the package folder, where npm picks them up. The copies
// are git-ignored (packages/herald/README.md, packages/herald/LICENSE); postpack removes them.
import { copyFileSync, existsSync, readdirSync, rmSync, rmdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkgDir = join(root, "packages", "herald");
const dist = join(pkgDir, "dist");
const src = join(pkgDir, "src");
const COPIED = ["README.md", "LICENSE"];

/** `client/client.js.map` -> `client/client` (the source's path without extension), or null. */
function sourceStem(rel) {
  const m = /^(.*?)(\.d\.ts|\.js)(\.map)?$/.exec(rel);
  return m ? m[1] : null;
}

function pruneDist(dir = dist) {
  let removed = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      removed += pruneDist(path);
      if (readdirSync(path).length === 0) rmdirSync(path);
      continue;
    }
    const stem = sourceStem(relative(dist, path));
    const isTest = /\.test$/.test(stem ?? "");
    const hasSource = stem !== null && [".ts", ".tsx"].some((ext) => existsSync(join(src, stem + ext)));
    if (isTest || !hasSource) {
      rmSync(path);
      removed++;
    }
  }
  return removed;
}

const mode = process.argv[2];
if (mode === "prepack") {
  if (!existsSync(dist)) {
    console.error("herald-pack: packages/herald/dist is missing; run `npm run build -w herald` first");
    process.exit(1);
  }
  const removed = pruneDist();
  if (removed > 0) console.error(`herald-pack: removed ${removed} stale file(s) from dist/`);
  for (const name of COPIED) copyFileSync(join(root, name), join(pkgDir, name));
} else if (mode === "postpack") {
  for (const name of COPIED) rmSync(join(pkgDir, name), { force: true });
} else {
  console.error("usage: herald-pack.mjs prepack|postpack");
  process.exit(2);
}
