/**
 * Test helper: one test file's Redis Cluster (started before its tests, stopped after them) and
 * what each test leaves to undo (`cleanups`, run last first, then the `heralds` closed).
 */
import { afterAll, afterEach, beforeAll } from "vitest";
import type { Herald } from "../../src/server/index.js";
import { startCluster, type TestCluster } from "./cluster-server.js";

/** What {@link useCluster} gives a test file. */
export interface ClusterFixture {
  /** The running Cluster (set once the file's `beforeAll` ran). */
  readonly cluster: TestCluster;
  readonly cleanups: (() => unknown)[];
  readonly heralds: Herald[];
}

/** Registers the hooks that start a Cluster (`options` as `startCluster` takes them) for this file and clean up after each test. */
export function useCluster(options?: Parameters<typeof startCluster>[0]): ClusterFixture {
  let cluster: TestCluster | undefined;
  const cleanups: (() => unknown)[] = [];
  const heralds: Herald[] = [];
  beforeAll(
    async () => {
      cluster = await startCluster(options);
    },
    options?.replicas ? 90_000 : 60_000,
  );
  afterAll(async () => {
    await cluster?.stop();
  });
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
    await Promise.all(heralds.splice(0).map((h) => h.close()));
  });
  return {
    get cluster() {
      if (!cluster) throw new Error("the Cluster is not started yet");
      return cluster;
    },
    cleanups,
    heralds,
  };
}
