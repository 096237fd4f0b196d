/**
 * herald-node (`herald.handleNode` on node:http) on `RedisBroker` with the options in
 * $BENCH_BROKER (JSON: `{ url }` or `{ cluster: { nodes } }`), for bench/redis-check.mjs: the
 * same server as servers/herald-redis.mjs, on a Redis Cluster too.
 */
import { createHerald } from "herald";
import { RedisBroker } from "herald/redis";
import { serve } from "./servers/node-harness.mjs";

const broker = new RedisBroker({ ...JSON.parse(process.env.BENCH_BROKER), onError: () => {} });
const herald = createHerald({ broker, limits: { connectPerIp: false, maxConnectionsPerIp: false } });

serve({
  handleSse: (req, res) => herald.handleNode(req, res),
  publish: (payload) => herald.publish("bench", "tick", payload),
  subscribers: () => herald.subscriberCount("bench"),
});
