import { availableParallelism } from "node:os";
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

/**
 * The package test packs the library with `npm pack`, whose prepack runs the library's build again
 * (rewriting dist/) and copies README.md and LICENSE into packages/herald/ until postpack: files
 * that other tests read while they run (the Next.js builds, the demo's server, the quickstart's own
 * `npm pack`, `herald serve`). It runs on its own, before the others (`sequence.groupOrder`).
 */
const ALONE = ["packages/herald/test/package/package.test.ts"];

/** Settings of every project (not `extends: true`: that would add the main `include` to the subset's). */
const common = {
  exclude: ["**/node_modules/**", "**/dist/**"],
  testTimeout: 30_000,
  hookTimeout: 120_000,
  pool: "forks" as const,
};

/**
 * Test files run two at a time at least. Vitest's default is one worker fewer than the cores: one
 * worker on a 2-core machine, where most files (the browser tests, the fault scenarios) spend their
 * time waiting on sockets, timers and Chromium rather than computing. A browser-test file uses about
 * a quarter of a core once the Next.js app is built (built once, under the build lock, see
 * e2e/demo-server.ts), so two of them, or one beside a server test, fit on two cores.
 */
const WORKERS = Math.max(2, availableParallelism() - 1);

export default defineConfig({
  test: {
    maxWorkers: WORKERS,
    projects: [
      {
        test: {
          ...common,
          name: "package",
          include: ALONE,
          provide: { ioredisMajor: 5 },
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...common,
          name: "herald",
          include: ["packages/**/src/**/*.test.{ts,tsx}", "packages/**/test/**/*.test.{ts,tsx}", "e2e/**/*.test.ts"],
          exclude: [...common.exclude, ...ALONE],
          provide: { ioredisMajor: 5 },
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          ...common,
          name: "ioredis6",
          include: IOREDIS6_TESTS,
          provide: { ioredisMajor: 6 },
          // Runs beside the main project, whose workers have the same pool ids: its redis-servers
          // take ports from ranges of their own (test/redis/ports.ts).
          env: { HERALD_TEST_PORT_BLOCK: "4" },
          sequence: { groupOrder: 1 },
        },
        resolve: { alias: [{ find: /^ioredis$/, replacement: "ioredis6" }] },
      },
    ],
  },
});
