/**
 * Test helper: a private `redis-server` on a free port (never the machine's Redis on 6379), without
 * persistence, which tests can stop and restart on the same port.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { redisPort } from "./ports.js";

/** A running (or stopped) private Redis. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Stops the server (its data is gone: there is no persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
}

/**
 * Starts a private redis-server (with `args` added, e.g. `["--replicaof", "127.0.0.1", "6400"]`);
 * throws a clear message when the binary is missing.
 */
export async function startRedis(args: readonly string[] = []): Promise<TestRedis> {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) throw new Error("redis-server not found: apt-get install redis-server");
  let port = await redisPort();
  // Its files (a replica's full sync writes an RDB) go to a directory of its own, not the cwd.
  const dir = mkdtempSync(join(tmpdir(), "herald-redis-"));
  let child: ChildProcess | undefined;
  const start = async () => {
    const proc = spawn(
      "redis-server",
      ["--port", String(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--dir", dir, ...args],
      { stdio: "ignore" },
    );
    child = proc;
    const exited = new Promise<never>((_, reject) =>
      proc.once("exit", (code) => reject(new Error(`redis-server exited early (code ${code})`))),
    );
    exited.catch(() => {});
    await Promise.race([waitForPing(port, 10_000), exited]);
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once("exit", () => resolve());
      proc.kill("SIGKILL");
    });
  };
  // A port found free can be taken before the server binds it (another test process's server): then
  // the server exits at once, and another port is tried.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (error) {
      if (attempt === 3 || !String(error).includes("exited early")) throw error;
      port = await redisPort();
    }
  }
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
}

async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await ping(port)) return;
    if (Date.now() > end) throw new Error(`redis-server on port ${port} did not answer PING`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let reply = "";
    const done = (ok: boolean) => {
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
