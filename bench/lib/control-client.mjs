/** The runner's side of the control endpoint (plain HTTP on 127.0.0.1, JSON replies). */
import http from "node:http";
import { sleep } from "./children.mjs";

/** Calls `/api/bench/<op>` with `params`; rejects on a non-200 status or after `timeoutMs`. */
export function control(port, op, params = {}, timeoutMs = 15_000) {
  const query = new URLSearchParams(params).toString();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path: `/api/bench/${op}${query ? `?${query}` : ""}`,
        method: op === "stats" ? "GET" : "POST",
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (body += c));
        res.on("end", () => {
          try {
            const json = JSON.parse(body);
            if (res.statusCode !== 200) reject(new Error(`${op}: HTTP ${res.statusCode} ${json.error ?? body}`));
            else resolve(json);
          } catch {
            reject(new Error(`${op}: HTTP ${res.statusCode}, not JSON: ${body.slice(0, 200)}`));
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${op}: no answer in ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Polls `stats` until the server answers, or throws after `timeoutMs`. */
export async function waitUntilUp(port, child, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited (${child.exitCode ?? child.signalCode}) before answering`);
    }
    try {
      return await control(port, "stats", {}, 2000);
    } catch (error) {
      lastError = error;
      await sleep(150);
    }
  }
  throw new Error(`server did not answer in ${timeoutMs} ms: ${lastError?.message}`);
}
