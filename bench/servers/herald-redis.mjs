/**
 * herald-redis: herald-node (`herald.handleNode` on node:http) with `RedisBroker` from
 * `herald/redis` on the Redis at $REDIS_URL (the bench's private redis-server). Several of these
 * processes share one Redis; a publish in any of them reaches the subscribers of all.
 *
 * With `BENCH_PUBLISH=raw` it is the floor the Redis publish path is measured against instead: no
 * Herald, each publish is a raw capped `XADD` (`MAXLEN ~ 1000`, the same fields as Herald's
 * entries) plus a `PUBLISH` of the same message shape, sent together on one ioredis connection
 * (auto-pipelined: the commands of one tick go out in one write, as the broker sends the publishes
 * of one tick in one script call). Its stream is filled to 1,000 entries
 * before the control endpoint answers, so it is measured full, as Herald's is.
 *
 * With `BENCH_PUBLISH=script`, each publish is the least an atomic publish script can do: one Lua
 * script that increments a sequence, appends the entry under it (`MAXLEN ~ 1000`) and publishes
 * it (the floor of scripting: what Herald's script adds over it is its own cost).
 */
import { createHerald } from "herald";
import { RedisBroker } from "herald/redis";
import { Redis } from "ioredis";
import { serve } from "./node-harness.mjs";

const MINIMAL_SCRIPT = `
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000', seq .. '-0', 'event', ARGV[1], 'json', ARGV[2], 'ts', ARGV[3])
redis.call('PUBLISH', ARGV[4], seq .. '\\n' .. ARGV[3] .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[2])
return seq
`;

const mode = process.env.BENCH_PUBLISH;
if (mode === "raw" || mode === "script") {
  const redis = new Redis(process.env.REDIS_URL, { enableAutoPipelining: true });
  redis.defineCommand("minimalPublish", { numberOfKeys: 2, lua: MINIMAL_SCRIPT });
  const key = `{bench-${mode}}:log:bench`;
  const bus = `bench-${mode}:bus:bench`;
  let seq = 0;
  const publish = (payload) => {
    const json = JSON.stringify(payload);
    const ts = String(Date.now());
    if (mode === "script") return redis.minimalPublish(`{bench-${mode}}:seq`, key, "tick", json, ts, bus);
    const id = ++seq;
    return Promise.all([
      redis.xadd(key, "MAXLEN", "~", "1000", "*", "event", "tick", "json", json, "ts", ts),
      redis.publish(bus, `epoch\n${id}\n${ts}\n${id - 1}\ntick\n${json}`),
    ]);
  };
  await redis.del(key);
  for (let i = 0; i < 1100; i += 100)
    await Promise.all(Array.from({ length: 100 }, (_, j) => publish({ t: 0, n: i + j })));
  serve({
    handleSse: (_req, res) => res.writeHead(404).end(),
    publish,
    subscribers: () => 0,
  });
} else {
  const broker = new RedisBroker({ url: process.env.REDIS_URL });
  const herald = createHerald({ broker, limits: { connectPerIp: false, maxConnectionsPerIp: false } });

  serve({
    handleSse: (req, res) => herald.handleNode(req, res),
    publish: (payload) => herald.publish("bench", "tick", payload),
    subscribers: () => herald.subscriberCount("bench"),
  });
}
