/** What a server reports about itself on the control endpoint: CPU time, memory, and a GC hook. */
import v8 from "node:v8";

/** A snapshot of this process: CPU (µs, user and system), memory (bytes). */
export function processStats() {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return {
    pid: process.pid,
    cpuUser: cpu.user,
    cpuSystem: cpu.system,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    gcAvailable: typeof globalThis.gc === "function",
    /** Committed bytes per V8 heap space (new_space grows with allocation rate, not with subscribers). */
    heapSpaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size])),
  };
}

/** Runs full GCs (needs `--expose-gc`) and gives the allocator a moment to return pages. */
export async function collectGarbage() {
  if (typeof globalThis.gc !== "function") return false;
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}
