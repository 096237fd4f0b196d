/**
 * The Herald instance of this Next server: one per process, on globalThis, so every route sees the
 * same one. Default options, except that the per-IP connection-attempt limit is off: every bench
 * subscriber comes from 127.0.0.1.
 */
import { createHerald } from "herald";

const KEY = Symbol.for("herald.bench.instance");

/** @returns {import("herald").Herald} */
export function getHerald() {
  globalThis[KEY] ??= createHerald({ limits: { connectPerIp: false, maxConnectionsPerIp: false } });
  return globalThis[KEY];
}
