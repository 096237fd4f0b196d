// Lint: TypeScript rules plus the dependency direction of DESIGN.md, enforced with
// no-restricted-imports per folder.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

const NODE_BUILTINS = [
  "node:*",
  "fs",
  "fs/*",
  "path",
  "http",
  "https",
  "net",
  "tls",
  "crypto",
  "stream",
  "stream/*",
  "buffer",
  "events",
  "os",
  "child_process",
  "worker_threads",
  "zlib",
  "url",
  "util",
  "dns",
];
const CLIENT_SIDE = ["**/client/**", "**/react/**", "react", "react-dom"];
const LAYERS = ["core", "auth", "tasks", "http", "observability"];
/** Import patterns a server layer may not use: the layers above it, the root and `next`. */
const above = (layer) => [
  ...LAYERS.slice(LAYERS.indexOf(layer) + 1).map((l) => `**/server/${l}/**`),
  ...LAYERS.slice(LAYERS.indexOf(layer) + 1).map((l) => `../${l}/**`),
  // No layer knows the root (herald.ts, options.ts), not even its types.
  "../herald.js",
  "../../herald.js",
  "../options.js",
  "../../options.js",
  "**/next/**",
];
const banServer = ["**/server/**", "**/brokers/**", "**/next/**", "**/pusher/**", "herald", "ioredis", "ws"];

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", "**/.next/**", "**/next-env.d.ts", "apps/**", "bench/results/**", "test-output/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ["examples/**/*.{js,mjs}", "e2e/**/*.ts"], languageOptions: { globals: { ...globals.node } } },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    // protocol depends on nothing.
    files: ["packages/herald/src/protocol/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [...NODE_BUILTINS, ...banServer, "**/client/**", "**/react/**"] }],
    },
  },
  {
    // timers (the one expiry sweep) imports nothing: every layer may use it.
    files: ["packages/herald/src/timers/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [...NODE_BUILTINS, "../**", "./**"] }] },
  },
  {
    // client and react import only protocol and each other: never server code, never Node built-ins.
    files: ["packages/herald/src/client/**/*.{ts,tsx}", "packages/herald/src/react/**/*.{ts,tsx}"],
    ignores: ["**/*.test.ts", "**/*.test.tsx"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [...NODE_BUILTINS, ...banServer] }],
    },
  },
  {
    // server and brokers never import the client or React.
    files: ["packages/herald/src/server/**/*.ts", "packages/herald/src/brokers/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: ["**/client/**", "**/react/**", "react", "react-dom"] }],
    },
  },
  {
    // The Pusher-protocol server, the standalone server and the Redis parts are server code: never the client or React.
    files: ["packages/herald/src/pusher/**/*.ts", "packages/herald/src/bin/**/*.ts", "packages/herald/src/redis/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [...CLIENT_SIDE] }] },
  },
  // The server's layers, bottom up: core (events, hub, sessions, the Publisher port) ← auth ← tasks ←
  // http (the edge, which declares the options it reads) ← herald.ts and options.ts (the composition
  // root) ← next. Each layer imports only the ones below it, types included.
  {
    files: ["packages/herald/src/brokers/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: ["**/server/**", "**/next/**", ...CLIENT_SIDE] }] },
  },
  {
    files: ["packages/herald/src/server/core/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [...above("core"), ...CLIENT_SIDE] }] },
  },
  {
    files: ["packages/herald/src/server/auth/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [...above("auth"), ...CLIENT_SIDE] }] },
  },
  ...["tasks", "http", "observability"].map((layer) => ({
    files: [`packages/herald/src/server/${layer}/**/*.ts`],
    ignores: ["**/*.test.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [...above(layer), ...CLIENT_SIDE] }] },
  })),
);
