/** How `herald/redis` connects: one setting for a standalone Redis (URL or options) or a Cluster. */
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from "ioredis";
import type { RedisBrokerOptions, RedisConnection } from "../brokers/redis.js";

/** Redis Cluster: start nodes and ioredis `Cluster` options. */
export interface RedisClusterSetting {
  cluster: ClusterNode[];
  options?: ClusterOptions;
}

/**
 * Where Redis is: a URL (`redis://…`, or `rediss://…` for TLS, passed through to ioredis), ioredis
 * options, or `{ cluster: [nodes] }` for Redis Cluster.
 */
export type RedisSetting = string | RedisOptions | RedisClusterSetting;

function isCluster(setting: RedisSetting): setting is RedisClusterSetting {
  return typeof setting === "object" && Array.isArray((setting as RedisClusterSetting).cluster);
}

/** Opens a connection for `setting`; `extra` refines the options of every node. */
export function connect(setting: RedisSetting, extra: RedisOptions = {}): RedisConnection {
  if (isCluster(setting)) {
    return new Cluster(setting.cluster, {
      ...setting.options,
      redisOptions: { ...setting.options?.redisOptions, ...extra },
    });
  }
  if (typeof setting === "string") return new Redis(setting, extra);
  return new Redis({ ...setting, ...extra });
}

/** The `RedisBroker` options for `setting`. */
export function brokerConnection(setting: RedisSetting): Pick<RedisBrokerOptions, "url" | "redis" | "cluster"> {
  if (isCluster(setting)) return { cluster: { nodes: setting.cluster, options: setting.options } };
  if (typeof setting === "string") return { url: setting };
  return { redis: setting };
}

/** Quits gracefully when connected; otherwise drops the connection at once. */
export async function end(redis: RedisConnection): Promise<void> {
  if (redis.status === "ready") await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}
