/** The runner's handle on a load-generator process (load/client.mjs): request/reply over IPC. */
import path from "node:path";
import { BENCH_DIR } from "./config.mjs";
import { forkModule } from "./children.mjs";

export function startLoadGenerator() {
  const child = forkModule(path.join(BENCH_DIR, "load", "client.mjs"));
  let nextId = 1;
  const pending = new Map();
  child.on("message", (msg) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) p.reject(new Error(`load generator: ${msg.error}`));
    else p.resolve(msg);
  });
  child.once("exit", (code, signal) => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`load generator exited (${code ?? signal})`));
    }
    pending.clear();
  });
  /** Sends a command and resolves with the reply. */
  const call = (type, args = {}, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`load generator: no reply to ${type} in ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      child.send({ id, type, ...args });
    });
  return { child, call };
}
