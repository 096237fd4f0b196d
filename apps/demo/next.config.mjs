/**
 * The demo app. `herald` is a workspace package (node_modules/herald -> packages/herald, dist/
 * built): Node loads it at run time, the same module the custom server (server.ts) imports, rather
 * than a bundled copy.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** @type {import('next').NextConfig} */
export default {
  serverExternalPackages: ["herald"],
  outputFileTracingRoot: path.join(here, "..", ".."),
  poweredByHeader: false,
  reactStrictMode: true,
  eslint: { ignoreDuringBuilds: true },
  devIndicators: false,
};
