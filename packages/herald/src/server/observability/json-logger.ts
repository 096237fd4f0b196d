/**
 * A small pino-compatible logger writing one JSON object per line (pino's own shape: numeric
 * `level`, `time` in ms, the bindings, the fields, `msg`), for `herald serve`, which has no
 * logger of the app's to write through. Dependency-free.
 */
import type { HeraldLogger, LogFn } from "./logger.js";

/** Levels by name, with pino's numbers. */
export const LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** A level name of {@link LEVELS}, or `silent`. */
export type LevelName = keyof typeof LEVELS | "silent";

/**
 * A logger writing JSON lines at `level` and above through `write` (default: stdout). `bindings`
 * go on every line; `child()` adds more.
 */
export function jsonLogger(
  level: LevelName = "info",
  write: (line: string) => void = (line) => process.stdout.write(line),
  bindings: Record<string, unknown> = {},
): HeraldLogger {
  const floor = level === "silent" ? Infinity : LEVELS[level];
  const at =
    (name: keyof typeof LEVELS): LogFn =>
    (fields, message) => {
      if (LEVELS[name] < floor) return;
      const line = { level: LEVELS[name], time: Date.now(), ...bindings, ...fields, msg: message ?? "" };
      write(JSON.stringify(line) + "\n");
    };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (more) => jsonLogger(level, write, { ...bindings, ...more }),
    isLevelEnabled: (name) => name in LEVELS && LEVELS[name as keyof typeof LEVELS] >= floor,
  };
}

/** Reads a level name (`HERALD_LOG_LEVEL`), falling back to `fallback` for anything else. */
export function parseLevel(text: string | undefined, fallback: LevelName = "info"): LevelName {
  return text !== undefined && (text === "silent" || text in LEVELS) ? (text as LevelName) : fallback;
}
