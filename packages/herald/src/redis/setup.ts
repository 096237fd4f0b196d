/** `heraldRedis`: every part of Herald on one Redis (or Redis Cluster), from one setting. */
import { RedisBroker, type RedisBrokerOptions, type RedisConnection } from "../brokers/redis.js";
import type { SharedState, SharedStateChange } from "../server/options.js";
import type { Tasks } from "../server/tasks/tasks.js";
import { brokerConnection, connect, end, type RedisSetting } from "./connection.js";
import { redisLimiterBackend } from "./limits.js";
import { RedisPresenceStore, type RedisPresenceStoreOptions } from "./presence.js";
import { RedisTaskStore, sharedCancel, type SharedCancelOptions } from "./tasks.js";
import { RedisTokenStore } from "./tokens.js";

/** Options for {@link heraldRedis}. */
export interface HeraldRedisOptions {
  /**
   * Prefix of every key and pub/sub channel (default `herald`). Apps sharing one Redis need
   * different prefixes. Keys used together are named `{prefix}:…` (one Cluster slot per prefix).
   */
  prefix?: string;
  /**
   * Broker retention (events kept per channel and their age) and partitions of the log (default 1,
   * 32 on a Cluster: see `RedisBrokerOptions`).
   */
  broker?: Pick<RedisBrokerOptions, "maxEventsPerChannel" | "maxAgeMs" | "retention" | "partitions">;
  /** Presence members' expiry without renewal (default 30,000 ms; see `RedisPresenceStoreOptions`). */
  presence?: Pick<RedisPresenceStoreOptions, "ttlMs">;
  /** Cross-process cancels: lease and wait (see `SharedCancelOptions`). */
  cancel?: Pick<SharedCancelOptions, "leaseMs" | "cancelTimeoutMs">;
  /** Receives connection and command errors (ioredis reconnects on its own). */
  onError?: (error: unknown) => void;
}

/** Herald's shared state on Redis: pass it as `createHerald({ redis })`. */
export interface HeraldRedis extends SharedState {
  readonly broker: RedisBroker;
  readonly tokenStore: RedisTokenStore;
  readonly taskStore: RedisTaskStore;
  /**
   * Presence members for `createPusherServer({ herald, presence })` (made on first use; it renews
   * this process' members on a timer).
   */
  readonly presence: RedisPresenceStore;
  /** The connection the stores use (for your own commands; closed by `close()`). */
  readonly connection: RedisConnection;
}

/**
 * Every part of Herald on Redis: the broker (log and bus), tokens, tasks (snapshots and cancels
 * across processes), rate limits and presence. Returns undefined when `setting` is undefined or
 * empty, so one line keeps a single-process app in memory and switches a deployment with a variable:
 *
 * @example
 * ```ts
 * import { createHerald } from "herald";
 * import { heraldRedis } from "herald/redis";
 * export const herald = createHerald({
 *   getUserId,
 *   singleton: true,
 *   redis: heraldRedis(process.env.HERALD_REDIS_URL), // redis://…, rediss://… (TLS), or unset: memory
 * });
 * ```
 *
 * `setting` is a URL, ioredis options, or `{ cluster: [{ host, port }, …] }` for Redis Cluster. It
 * opens four connections: two for the broker (commands, pub/sub), one for the stores and limits, one
 * listening for cancels.
 */
export function heraldRedis(
  setting: RedisSetting | undefined | null | "",
  options: HeraldRedisOptions = {},
): HeraldRedis | undefined {
  if (setting === undefined || setting === null || setting === "") return undefined;
  const prefix = options.prefix ?? "herald";
  const watchers = new Set<(change: SharedStateChange) => void>();
  const onError = (error: unknown): void => {
    options.onError?.(error);
    for (const watcher of watchers) watcher({ state: "error", error });
  };
  const broker = new RedisBroker({ ...brokerConnection(setting), ...options.broker, prefix, onError });
  const connection = connect(setting);
  const subscriber = connect(setting, { enableReadyCheck: false });
  connection.on("error", onError);
  subscriber.on("error", onError);
  for (const state of ["ready", "reconnecting", "end"] as const) {
    connection.on(state, () => {
      for (const watcher of watchers) watcher({ state });
    });
  }
  const tokenStore = new RedisTokenStore(connection, { prefix });
  const taskStore = new RedisTaskStore(connection, { prefix });
  const limiterBackend = redisLimiterBackend(connection, { prefix, onError });
  const cancels = sharedCancel({ prefix, redis: connection, subscriber, onError, ...options.cancel });
  let presence: RedisPresenceStore | undefined;
  let closing: Promise<void> | undefined;
  return {
    broker,
    tokenStore,
    taskStore,
    limiterBackend,
    connection,
    get presence() {
      return (presence ??= new RedisPresenceStore(connection, { prefix, onError, ...options.presence }));
    },
    wrapTasks: (tasks: Tasks) => cancels.wrap(tasks),
    watch(watcher) {
      watchers.add(watcher);
      return () => watchers.delete(watcher);
    },
    close() {
      return (closing ??= (async () => {
        cancels.close();
        presence?.close();
        await Promise.all([broker.close(), end(connection), end(subscriber)]);
      })());
    },
  };
}
