/**
 * The bench's minimal Next.js 15 app: two SSE route handlers (Herald's Fetch handler, and the naive
 * ReadableStream-per-client pattern) and the control route shared with the node:http servers.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** @type {import('next').NextConfig} */
export default {
  // `herald` is a workspace package (node_modules/herald -> packages/herald, dist/ built): load it
  // with Node at run time, the same code the herald-node server runs, not a bundled copy.
  serverExternalPackages: ["herald"],
  // The control route imports bench/lib/*.mjs, outside this app's folder.
  experimental: { externalDir: true },
  outputFileTracingRoot: path.join(here, "..", ".."),
  poweredByHeader: false,
  eslint: { ignoreDuringBuilds: true },
};
