/** Rate limits in Redis: one count shared by every process, through `rate-limiter-flexible`. */
import { RateLimiterRedis } from "rate-limiter-flexible";
import type { RedisConnection } from "../brokers/redis.js";
import { flexibleBackend, type RateLimiterBackend } from "../server/http/limits/backend.js";

/** Options for {@link redisLimiterBackend}. */
export interface RedisLimiterOptions {
  /** Key prefix (default `herald`): counters are `{prefix}:limit:{limit}:{key}`. */
  prefix?: string;
  /** Receives Redis errors (an attempt whose count fails is let through). */
  onError?: (error: unknown) => void;
}

/**
 * A `LimitOptions.backend` counting in Redis with `RateLimiterRedis` (one atomic script on one key
 * per attempt, so counters spread over a Cluster's nodes). See `flexibleBackend` for how the
 * synchronous admission checks use the shared count.
 */
export function redisLimiterBackend(redis: RedisConnection, options: RedisLimiterOptions = {}): RateLimiterBackend {
  const prefix = options.prefix ?? "herald";
  return flexibleBackend(
    ({ name, points, duration }) =>
      new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}:limit:${name}`, points, duration }),
    { onError: options.onError },
  );
}
