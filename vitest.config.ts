import { defineConfig } from "vitest/config";

/**
 * The Redis tests run again with `ioredis` resolved to ioredis 6 (the `ioredis6` dev dependency, an
 * npm alias): every `import … from "ioredis"` in the library's sources and in these tests gets v6.
 * A representative subset: the broker contract, pub/sub and reconnection, resume and catch-up
 * through Herald, tokens, tasks, presence and limits. Child processes a test spawns load v5.
 */
const IOREDIS6_TESTS = [
  "packages/herald/test/redis/ioredis-major.test.ts",
  "packages/herald/test/broker-contract.test.ts",
  "packages/herald/test/redis/broker.test.ts",
  "packages/herald/test/redis/herald.test.ts",
  "packages/herald/test/redis-state/state.test.ts",
  "packages/herald/test/redis-state/limits-backend.test.ts",
];

/** Settings of both projects (not `extends: true`: that would add the main `include` to the subset's). */
const common = {
  exclude: ["**/node_modules/**", "**/dist/**"],
  testTimeout: 30_000,
  hookTimeout: 120_000,
  pool: "forks" as const,
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...common,
          name: "herald",
          include: ["packages/**/src/**/*.test.{ts,tsx}", "packages/**/test/**/*.test.{ts,tsx}", "e2e/**/*.test.ts"],
          provide: { ioredisMajor: 5 },
        },
      },
      {
        test: { ...common, name: "ioredis6", include: IOREDIS6_TESTS, provide: { ioredisMajor: 6 } },
        resolve: { alias: [{ find: /^ioredis$/, replacement: "ioredis6" }] },
      },
    ],
  },
});
