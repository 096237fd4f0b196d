/**
 * CPU use of the whole machine, from /proc/stat (Linux), so a run can say how busy the host was
 * with other work while it measured: shared hosts make every figure noisier.
 */
import fs from "node:fs";
import os from "node:os";

/** Cumulative ticks of the aggregate `cpu` line: busy (all but idle and iowait) and total. */
export function machineTicks() {
  try {
    const line = fs.readFileSync("/proc/stat", "utf8").split("\n", 1)[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = v;
    const busy = user + nice + system + irq + softirq + (steal ?? 0);
    return { busy, total: busy + idle + iowait, steal: steal ?? 0 };
  } catch {
    return null;
  }
}

/** Cores' worth of CPU the machine used between two readings (null where /proc/stat is missing). */
export function busyCores(a, b) {
  if (!a || !b || b.total === a.total) return null;
  return Math.round(((b.busy - a.busy) / (b.total - a.total)) * os.cpus().length * 100) / 100;
}

/** Steal share between two readings (time the hypervisor gave to someone else), 0..1. */
export function stealShare(a, b) {
  if (!a || !b || b.total === a.total) return null;
  return Math.round(((b.steal - a.steal) / (b.total - a.total)) * 1000) / 1000;
}
