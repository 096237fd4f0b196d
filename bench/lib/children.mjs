/**
 * Child processes of the run: every one is registered when started and killed (by its own pid,
 * or its own process group) when the run ends, on success, error, signal or deadline.
 */
import { fork, spawn } from "node:child_process";
import net from "node:net";

const children = new Set();

/** Starts `command` in its own process group; keeps the last 8 KiB of its output for error reports. */
export function startProcess(command, args, { cwd, env }) {
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-8192);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  child.output = () => output;
  track(child, true);
  return child;
}

/** Forks a Node module with an IPC channel (the load generator). */
export function forkModule(file, args = [], options = {}) {
  const child = fork(file, args, { stdio: ["ignore", "inherit", "inherit", "ipc"], ...options });
  child.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  track(child, false);
  return child;
}

function track(child, group) {
  const entry = { child, group };
  children.add(entry);
  child.once("exit", () => children.delete(entry));
}

function signal(entry, sig) {
  const { child, group } = entry;
  try {
    if (group) process.kill(-child.pid, sig);
    else child.kill(sig);
  } catch {
    // already gone
  }
}

/** SIGTERM (so --cpu-prof can write its profile), then SIGKILL after `graceMs`. */
export async function stopProcess(child, graceMs = 3000) {
  const entry = [...children].find((e) => e.child === child);
  if (!entry) return;
  signal(entry, "SIGTERM");
  const killed = await Promise.race([child.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!killed) {
    signal(entry, "SIGKILL");
    await Promise.race([child.exited, sleep(2000)]);
  } else if (entry.group) {
    signal(entry, "SIGKILL"); // anything left in the group
  }
}

/** Kills every child still running, at once (used on exit paths). */
export function killAllNow() {
  for (const entry of children) signal(entry, "SIGKILL");
  children.clear();
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
