/**
 * herald-redis: herald-node (`herald.handleNode` on node:http) with `RedisBroker` from
 * `herald/redis` on the Redis at $REDIS_URL (the bench's private redis-server). Several of these
 * processes share one Redis; a publish in any of them reaches the subscribers of all.
 */
import { createHerald } from "herald";
import { RedisBroker } from "herald/redis";
import { serve } from "./node-harness.mjs";

const broker = new RedisBroker({ url: process.env.REDIS_URL });
const herald = createHerald({ broker, limits: { connectPerIp: false, maxConnectionsPerIp: false } });

serve({
  handleSse: (req, res) => herald.handleNode(req, res),
  publish: (payload) => herald.publish("bench", "tick", payload),
  subscribers: () => herald.subscriberCount("bench"),
});
