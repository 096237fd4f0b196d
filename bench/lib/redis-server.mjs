/**
 * The bench's private `redis-server` (as packages/herald/test/redis/redis-server.ts does for the
 * tests): a free port on 127.0.0.1, no persistence (`--save "" --appendonly no`), started as a
 * tracked child (killed with every other child when the run ends) and stopped by the scenario.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import { freePort, sleep, startProcess, stopProcess } from "./children.mjs";

/** Starts redis-server; resolves once it answers PING. */
export async function startRedis() {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) throw new Error("redis-server not found (apt-get install redis-server)");
  const port = await freePort();
  const child = startProcess(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients", "1000"],
    {},
  );
  const until = Date.now() + 10_000;
  while (!(await ping(port))) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server exited early: ${child.output().slice(-500)}`);
    }
    if (Date.now() > until) {
      await stopProcess(child);
      throw new Error(`redis-server on port ${port} did not answer PING`);
    }
    await sleep(50);
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    version: probe.stdout.trim(),
    /** CPU time of redis-server so far, µs (from /proc; null where there is none). */
    cpuUs: () => procCpuUs(child.pid),
    stop: () => stopProcess(child, 2000),
  };
}

function procCpuUs(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 (1-based) of /proc/<pid>/stat, in clock ticks (100/s).
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return null;
  }
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let reply = "";
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}
