/**
 * Lifecycle logs: each event of the instance's telemetry becomes one structured line through a
 * pino-compatible logger (fields object first, then the message; `child()` honoured). Connection
 * lines are at debug level; the lines a flood could repeat (refusals, slow-consumer drops, gaps)
 * are sampled per kind: the first {@link SAMPLE_FIRST}, then one in {@link SAMPLE_EVERY}, each
 * with its running `count`. No line carries a token, a cookie, a payload, a channel name or a user id.
 */
import type { LifecycleEvent, Telemetry } from "../core/telemetry.js";

/** One level of a pino-compatible logger: the fields first, then the message. */
export type LogFn = (fields: object, message?: string) => void;

/**
 * What Herald logs through: pino, or anything with the same shape (`debug`, `info`, `warn`,
 * `error`, each taking the fields then the message; `child(bindings)` when it has one, and
 * `isLevelEnabled(level)` to skip building lines nobody reads).
 */
export interface HeraldLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child?(bindings: Record<string, unknown>): HeraldLogger;
  isLevelEnabled?(level: string): boolean;
}

/** Lines of one sampled kind written in full before sampling starts. */
export const SAMPLE_FIRST = 10;
/** Past {@link SAMPLE_FIRST}, one line in this many of a sampled kind is written. */
export const SAMPLE_EVERY = 100;

/**
 * The logger Herald uses without a `logger` option: silent except warnings and errors, written to
 * `console.warn` / `console.error` as `herald: message {fields}`.
 */
export const defaultLogger: HeraldLogger = {
  debug: () => {},
  info: () => {},
  warn: (fields, message) => console.warn(`herald: ${message ?? ""}`, JSON.stringify(fields)),
  error: (fields, message) => console.error(`herald: ${message ?? ""}`, JSON.stringify(fields)),
  isLevelEnabled: (level) => level === "warn" || level === "error",
};

type Level = "debug" | "info" | "warn" | "error";

/**
 * Writes the lifecycle events `telemetry` tells through `logger` (a child with
 * `{ component: "herald" }` when it has `child()`). Returns the function that stops it.
 */
export function logLifecycle(telemetry: Telemetry, logger: HeraldLogger): () => void {
  const log = logger.child?.({ component: "herald" }) ?? logger;
  const seen = new Map<string, number>();
  const enabled = (level: Level) => log.isLevelEnabled?.(level) ?? true;
  const write = (level: Level, fields: object, message: string) => {
    if (enabled(level)) log[level](fields, message);
  };
  /** Writes a line of a kind a flood could repeat: the first ones, then one in {@link SAMPLE_EVERY}. */
  const sampled = (level: Level, kind: string, fields: object, message: string) => {
    if (!enabled(level)) return;
    const count = (seen.get(kind) ?? 0) + 1;
    seen.set(kind, count);
    if (count <= SAMPLE_FIRST || count % SAMPLE_EVERY === 0) log[level]({ ...fields, count }, message);
  };
  return telemetry.listen((event: LifecycleEvent) => {
    switch (event.type) {
      case "connection.open":
        write(
          "debug",
          { event: event.type, transport: event.transport, channels: event.channels },
          "connection opened",
        );
        return;
      case "connection.close": {
        const { transport, reason, channels } = event;
        const durationMs = Math.round(event.durationMs);
        write("debug", { event: event.type, transport, reason, durationMs, channels }, "connection closed");
        return;
      }
      case "refused": {
        const limited = event.code === "rate_limited" || event.code === "too_many_connections";
        const message = limited ? "rate limited" : "request refused";
        const fields = { event: event.type, route: event.route, code: event.code };
        sampled("info", `refused:${event.route}:${event.code}`, fields, message);
        return;
      }
      case "slow_consumer":
        sampled(
          "warn",
          `slow:${event.transport}`,
          { event: event.type, transport: event.transport },
          "slow consumer dropped",
        );
        return;
      case "gap": {
        const fields = {
          event: event.type,
          transport: event.transport,
          channels: event.channels,
          reason: event.reason,
        };
        sampled("info", `gap:${event.transport}:${event.reason}`, fields, "gap told to a resuming client");
        return;
      }
      case "epoch.changed":
        write("warn", { event: event.type, subscribers: event.subscribers }, "event log restarted (new epoch)");
        return;
      case "publish":
        if (event.result === "error") {
          sampled("error", "publish:error", { event: event.type, code: event.code }, "publish failed");
        } else if (event.result === "rejected") {
          sampled("debug", `publish:${event.code}`, { event: event.type, code: event.code }, "publish rejected");
        }
        return;
      case "task.start":
        write("info", { event: event.type, taskId: event.taskId }, "task started");
        return;
      case "task.end": {
        const fields = { event: event.type, taskId: event.taskId, status: event.status };
        write(
          event.status === "failed" ? "warn" : "info",
          { ...fields, durationMs: Math.round(event.durationMs) },
          `task ${event.status}`,
        );
        return;
      }
      case "draining":
        write("info", { event: event.type }, "draining");
        return;
      case "redis":
        if (event.error !== undefined)
          sampled("warn", "redis:error", { event: event.type, state: event.state, error: event.error }, "redis error");
        else write("info", { event: event.type, state: event.state }, `redis ${event.state}`);
        return;
      default:
        return;
    }
  });
}
