// Lint for bench/ (ESLint uses the config nearest to each file): plain Node ESM scripts and the
// bench Next app, with Node's globals; the root config's rules are about packages/herald.
import js from "@eslint/js";

const node = Object.fromEntries(
  [
    "process",
    "console",
    "Buffer",
    "URL",
    "URLSearchParams",
    "setTimeout",
    "clearTimeout",
    "setInterval",
    "clearInterval",
    "setImmediate",
    "performance",
    "TextEncoder",
    "ReadableStream",
    "Response",
    "Request",
    "fetch",
  ].map((name) => [name, "readonly"]),
);

export default [
  { ignores: ["results/**", "next-app/.next/**"] },
  js.configs.recommended,
  { files: ["**/*.{js,mjs}"], languageOptions: { ecmaVersion: "latest", sourceType: "module", globals: node } },
];
