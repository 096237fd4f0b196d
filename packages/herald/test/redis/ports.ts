/**
 * Ports for the redis-servers the tests start. Test files run two at a time, and a server a test
 * stops and starts again keeps its port: a port the system hands out (port 0) could go to another
 * file's server while the first is down, and the two tests would then share one Redis. So each
 * vitest worker takes ports from a range of its own, below the system's ephemeral range (32768 and
 * up, where every other test server listens), in order, skipping any in use; a Cluster node's bus
 * port (+10,000) stays below it too.
 */
import net from "node:net";

// Projects that run side by side (vitest.config.ts) give their workers the same pool ids: a project
// may shift its workers' ranges by HERALD_TEST_PORT_BLOCK.
const WORKER = (Number(process.env.VITEST_POOL_ID ?? 0) + Number(process.env.HERALD_TEST_PORT_BLOCK ?? 0)) % 8;
const FIRST = 12_000 + WORKER * 1_000;
let next = FIRST;

/** A free port of this worker's range whose cluster bus port (+10,000) is free too. */
export async function redisPort(): Promise<number> {
  for (let tries = 0; tries < 1_000; tries++) {
    const port = next;
    next = next + 1 >= FIRST + 1_000 ? FIRST : next + 1;
    if ((await isFree(port)) && (await isFree(port + 10_000))) return port;
  }
  throw new Error(`no free port in ${FIRST}-${FIRST + 999} for a test redis-server`);
}

/** True when nothing listens on `port` (127.0.0.1). */
export function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
