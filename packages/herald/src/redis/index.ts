/**
 * `herald/redis`: Herald on Redis. `heraldRedis(url)` for `createHerald({ redis })` switches every
 * part at once; the broker and each store are exported for use on their own.
 */
export { RedisBroker, type RedisBrokerOptions, type RedisConnection } from "../brokers/redis.js";
export { heraldRedis, type HeraldRedis, type HeraldRedisOptions } from "./setup.js";
export type { RedisSetting, RedisClusterSetting } from "./connection.js";
export { RedisTokenStore, type RedisTokenStoreOptions } from "./tokens.js";
export {
  RedisTaskStore,
  sharedCancel,
  type RedisTaskStoreOptions,
  type SharedCancel,
  type SharedCancelOptions,
} from "./tasks.js";
export { RedisPresenceStore, type RedisPresenceStoreOptions } from "./presence.js";
export { redisLimiterBackend, type RedisLimiterOptions } from "./limits.js";
export {
  flexibleBackend,
  memoryBackend,
  type RateLimiterBackend,
  type KeyedRateLimiter,
} from "../server/http/limits/backend.js";
export type { SharedState } from "../server/options.js";
export {
  queuedJob,
  heraldProcessor,
  type QueuedJobOptions,
  type QueuedJobData,
  type HeraldProcessor,
  type HeraldProcessorOptions,
  type WorkerTaskContext,
  type JobLike,
  type QueueLike,
  type QueueEventsLike,
} from "./bullmq.js";
