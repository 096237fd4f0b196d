/**
 * Runs `@durable-streams/server-conformance-tests` against Herald's stream route (not part of the
 * test suite: 338 tests, most of which ask for what a Herald channel is not; docs/durable-streams.md
 * lists the results and why). The Herald is the most permissive one the protocol's tests need: one
 * user who may write everywhere (`authenticate`, `authorizePublish`), the rates off, any origin
 * (`cors: { origins: "*" }`); the suite's `/v1/stream/{name}` is rewritten to `…/streams/{name}`.
 *
 *   npx tsx packages/herald/test/durable/conformance.ts     # prints the suite's summary
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createHerald } from "../../src/server/index.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const SUITE = path.join(ROOT, "node_modules", "@durable-streams", "server-conformance-tests");

const herald = createHerald({
  authenticate: () => ({ userId: "conformance" }),
  authorizePublish: () => true,
  cors: { origins: "*" },
  limits: {
    connectPerIp: false,
    connectPerUser: false,
    maxConnectionsPerIp: false,
    maxConnectionsPerUser: false,
    routes: { publish: false },
  },
});
const server = http.createServer((req, res) => {
  req.url = (req.url ?? "/").replace(/^\/v1\/stream\//, "/api/realtime/streams/");
  if (!herald.handleNodeRoutes(req, res)) res.writeHead(404).end();
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

// The suite's runner under vitest, with a config of its own: found from the suite's directory,
// vitest would otherwise take this repository's config and projects.
const config = path.join(mkdtempSync(path.join(tmpdir(), "herald-conformance-")), "vitest.config.mjs");
writeFileSync(config, 'export default { test: { include: ["dist/test-runner.js"], exclude: [] } };\n');
const vitest = path.join(ROOT, "node_modules", "vitest", "vitest.mjs");
const args = [vitest, "run", "--root", SUITE, "--config", config];
const child = spawn(process.execPath, args, {
  cwd: SUITE,
  stdio: "inherit",
  env: { ...process.env, CONFORMANCE_TEST_URL: url },
});
const code = await new Promise<number>((resolve) => child.once("exit", (c) => resolve(c ?? 1)));
server.closeAllConnections();
server.close();
await herald.close();
process.exit(code === 0 ? 0 : 1);
