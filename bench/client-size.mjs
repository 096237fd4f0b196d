/**
 * The browser client's size beside its peers' (issue 20), measured the same way for each: the
 * client's browser entry bundled with esbuild (ESM, browser, es2022, minified, production), then
 * gzipped at level 9, with React external where the client is a React one (the app has it). Herald's
 * figures come from scripts/size.mjs (its first chunks are bundled with code splitting). Each row
 * says what the client does, so that the bytes compare like with like.
 *
 *   node bench/client-size.mjs          writes results/client-size.{json,md} (after `npm run build`)
 *
 * `npm run bench` runs it first (a few seconds); `BENCH_ONLY=client-size` runs it alone.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bundleSource, CORE, measureCore, measureSizes, REACT_CORE } from "../scripts/size.mjs";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT_DIR = path.join(BENCH_DIR, "..");
const REACT = ["react", "react-dom", "react/jsx-runtime"];

/** The peers: the import an app writes, what stays external, and what the client does. */
export const PEERS = [
  {
    name: "@upstash/realtime (client)",
    pkg: "@upstash/realtime",
    code: `export { RealtimeProvider, useRealtime } from "@upstash/realtime/client";`,
    // zod is a peer dependency the app supplies (and most apps bundle already).
    external: [...REACT, "zod"],
    does: "React provider and hook over the browser's EventSource; reconnects 3 times (linear backoff), then stops; a 75 s ping timeout; resumes per channel from the last id; zod (a peer dependency, not counted) validates each event",
  },
  {
    name: "socket.io-client",
    pkg: "socket.io-client",
    code: `export { io } from "socket.io-client";`,
    external: [],
    does: "WebSocket with long-polling fallback and upgrade, reconnection with backoff and jitter, rooms by server code, acknowledgements; no resume of missed events (connection state recovery is opt-in, server-side, for 2 minutes)",
  },
  {
    name: "pusher-js",
    pkg: "pusher-js",
    code: `export { default } from "pusher-js";`,
    external: [],
    does: "Pusher protocol over WebSocket with HTTP fallbacks, private and presence channels, client events, reconnection; no resume of missed events",
  },
  {
    name: "ably (modular: BaseRealtime, WebSocketTransport, FetchRequest)",
    pkg: "ably",
    code: `export { BaseRealtime, WebSocketTransport, FetchRequest } from "ably/modular";`,
    external: [],
    does: "Ably's smallest realtime client: WebSocket, token auth, connection recovery with message continuity for 2 minutes, channels and history (presence and other features are further plugins)",
  },
  {
    name: "ably (Realtime)",
    pkg: "ably",
    code: `export { Realtime } from "ably";`,
    external: [],
    does: "Ably's default realtime client: everything above, presence, encryption, push, fallbacks",
  },
];

/** Herald's rows: its first chunks (code splitting) and its whole entries. */
const HERALD = [
  {
    name: "Herald: SSE-only core (createHeraldClient, first chunk)",
    entry: CORE.name,
    does: "SSE over fetch with single-use tokens (hedged when slow), resume of every channel from one cursor (nothing lost, nothing twice), reconnection with backoff and full jitter and a failure taxonomy, liveness and sleep detection, online/offline/visibility, channel changes on the open stream, presence and client events over SSE, one connection per browser (its election loaded when a second tab appears)",
  },
  {
    name: "Herald: React core (HeraldProvider, useEvent, useConnectionStatus, first chunk)",
    core: REACT_CORE,
    does: "the core above with the provider (token route wiring) and two hooks",
  },
  {
    name: "Herald: herald/client (whole entry)",
    entry: "herald/client",
    does: "everything in the client: the core, the shared connection, long-polling and its negotiation, the requests",
  },
  {
    name: "Herald: herald/react (whole entry)",
    entry: "herald/react",
    does: "herald/client and every hook (tasks, history, presence, typed channels)",
  },
];

/** @param {string} pkg */
function versionOf(pkg) {
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT_DIR, "node_modules", pkg, "package.json"), "utf8"));
  return String(version).replace(/^v/, "");
}

/** Measures every row. @returns {Promise<{ name: string, version: string, minified: number, gzipped: number, does: string }[]>} */
export async function measureClientSizes() {
  const rows = [];
  const herald = versionOf("herald");
  const entries = new Map((await measureSizes()).map((size) => [size.name, size]));
  for (const row of HERALD) {
    const size = row.core ? await measureCore(undefined, row.core) : entries.get(row.entry);
    rows.push({ name: row.name, version: herald, minified: size.minified, gzipped: size.gzipped, does: row.does });
  }
  for (const peer of PEERS) {
    const size = await bundleSource(peer.code, peer.external);
    rows.push({ name: peer.name, version: versionOf(peer.pkg), ...size, does: peer.does });
  }
  return rows;
}

/** @param {Awaited<ReturnType<typeof measureClientSizes>>} rows @param {string} date */
export function renderClientSizes(rows, date) {
  const kb = (n) => `${(n / 1000).toFixed(1)} kB`;
  return [
    "# Browser client size, Herald beside its peers",
    "",
    `Measured ${date} by \`node bench/client-size.mjs\` (also the first step of \`npm run bench\`): each client's`,
    "browser entry bundled with esbuild (ESM, browser, es2022, minified, production) and gzipped at",
    "level 9, React external for the React clients. Herald's first chunks are bundled with code",
    "splitting, as an app's bundler does: what loads later (long-polling, the shared connection's",
    "election, the requests beside the stream) is not in them.",
    "",
    "| client | version | minified | min + gzip | what it does |",
    "| --- | --- | ---: | ---: | --- |",
    ...rows.map((r) => `| ${r.name} | ${r.version} | ${kb(r.minified)} | ${kb(r.gzipped)} | ${r.does} |`),
    "",
  ].join("\n");
}

/** Measures and writes `outDir`/client-size.{json,md}; returns the markdown. @param {string} outDir */
export async function writeClientSizes(outDir) {
  const rows = await measureClientSizes();
  const date = new Date().toISOString().slice(0, 10);
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, "client-size.json"), `${JSON.stringify({ date, rows }, null, 2)}\n`);
  const markdown = renderClientSizes(rows, date);
  fs.writeFileSync(path.join(outDir, "client-size.md"), markdown);
  return markdown;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(await writeClientSizes(path.join(BENCH_DIR, "results")));
}
