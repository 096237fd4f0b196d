/** `herald serve` as a child process for tests: the bin's source run through tsx, on a free port. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../src/bin/herald.ts", import.meta.url));

/** Starts `herald serve --port 0` (pushed onto `children`, for the caller to kill) and resolves with its port once it listens. */
export async function startServe(
  children: ChildProcess[],
  env: Record<string, string> = {},
  args: string[] = ["--host", "127.0.0.1"],
): Promise<{ child: ChildProcess; port: number; url: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", BIN, "serve", "--port", "0", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`herald serve did not start: ${out}`)), 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`herald serve exited (${code}): ${out}`)));
  });
  return { child, port, url: `http://127.0.0.1:${port}` };
}
