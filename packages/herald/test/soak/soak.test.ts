/**
 * Soak (issue 13): a child process under `--expose-gc` runs churn, many channels, many users, many
 * tasks and stalled readers with rotation, then compares the heap after the load (and after the
 * expiry timers have run) with its baseline. Short counts by default (under a minute);
 * HERALD_SOAK_LONG=1 runs the counts (20,000 churn cycles, 10 waves of stalled readers).
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const MB = 1024 * 1024;
const LONG = process.env.HERALD_SOAK_LONG === "1";

describe("soak", () => {
  it(
    "memory comes back to its baseline after churn, channels, users, tasks and stalled readers",
    async () => {
      const child = fileURLToPath(new URL("./soak-child.ts", import.meta.url));
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          ["--expose-gc", "--import", "tsx", child],
          { cwd: fileURLToPath(new URL("../..", import.meta.url)), env: process.env, maxBuffer: 1024 * 1024 },
          (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
        );
      });
      const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
        baseline: number;
        peak: number;
        after: number;
        stats: {
          main: { subscribers: number; closing: number };
          rotating: { subscribers: number; closing: number };
          channels: number;
        };
      };
      console.log(
        `soak: heap baseline ${(result.baseline / MB).toFixed(1)} MB, peak ${(result.peak / MB).toFixed(1)} MB, ` +
          `after ${(result.after / MB).toFixed(1)} MB`,
      );
      expect(result.after).toBeLessThan(result.baseline + 20 * MB);
      // Nothing is left holding: no streams, no sockets waiting for teardown, no channel logs.
      expect(result.stats.main.subscribers + result.stats.rotating.subscribers).toBe(0);
      expect(result.stats.main.closing + result.stats.rotating.closing).toBe(0);
      expect(result.stats.channels).toBe(0);
    },
    LONG ? 600_000 : 90_000,
  );
});
