// Lint: TypeScript rules plus the dependency direction of DESIGN.md, enforced with
// no-restricted-imports per folder.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

const NODE_BUILTINS = [
  "node:*", "fs", "fs/*", "path", "http", "https", "net", "tls", "crypto", "stream", "stream/*",
  "buffer", "events", "os", "child_process", "worker_threads", "zlib", "url", "util", "dns",
];
const banServer = ["**/server/**", "**/brokers/**", "**/next/**", "**/pusher/**", "herald", "ioredis", "ws"];

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", "**/.next/**", "apps/**", "bench/results/**", "test-output/**"] },
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
);
