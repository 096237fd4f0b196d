#!/usr/bin/env node
/* global process, console */
// Rewrites the code blocks of the guides from the files of examples/next-quickstart they show.
// A block shows a file when the line above its fence (blank lines between are fine) is the file's
// path in bold code, "**`app/actions.ts`**"; packages/herald/test/docs/docs.test.ts checks that
// each such block is that whole file, byte for byte. After changing a quickstart file, run:
//
//   node scripts/sync-guide-code.mjs              rewrite the blocks from the working tree
//   node scripts/sync-guide-code.mjs --check      list the blocks that differ, exit 1 if any
//   node scripts/sync-guide-code.mjs --ref HEAD   rewrite them from a commit's files instead
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const GUIDES = ["README.md", "docs/next.md", "docs/tasks.md", "docs/react.md", "docs/chat.md"];
export const QUICKSTART = "examples/next-quickstart";
const TITLE = /^\*\*`([^`]+)`\*\*$/;

/** @param {string} file quickstart-relative path @param {string | undefined} ref */
function source(file, ref) {
  const rel = `${QUICKSTART}/${file}`;
  const text = ref
    ? execFileSync("git", ["show", `${ref}:${rel}`], { cwd: root, encoding: "utf8" })
    : readFileSync(join(root, rel), "utf8");
  return text.replace(/\n$/, "");
}

/**
 * The guide's text with every titled block replaced by its file, and the blocks that changed.
 * @param {string} text @param {string | undefined} ref
 */
export function syncGuide(text, ref) {
  const lines = text.split("\n");
  const changed = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})\S*/.exec(lines[i]);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && lines[end].trim() !== open[1]) end++;
    let above = i - 1;
    while (above >= 0 && lines[above].trim() === "") above--;
    const title = TITLE.exec((lines[above] ?? "").trim());
    if (title) {
      const body = source(title[1], ref).split("\n");
      if (body.join("\n") !== lines.slice(i + 1, end).join("\n")) {
        changed.push(`${i + 1} ${title[1]}`);
        lines.splice(i + 1, end - i - 1, ...body);
        end = i + 1 + body.length;
      }
    }
    i = end;
  }
  return { text: lines.join("\n"), changed };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes("--check");
  const refAt = process.argv.indexOf("--ref");
  const ref = refAt > 0 ? process.argv[refAt + 1] : undefined;
  let differs = 0;
  for (const guide of GUIDES) {
    const path = join(root, guide);
    const { text, changed } = syncGuide(readFileSync(path, "utf8"), ref);
    for (const c of changed) console.log(`${guide}:${c}`);
    differs += changed.length;
    if (!check && changed.length > 0) writeFileSync(path, text);
  }
  if (check && differs > 0) process.exit(1);
}
