/**
 * A child process of bench/redis-scale.mjs, driven over IPC: publishes to (or follows) many
 * channels on the bench's Redis (one redis-server or a Cluster: $BENCH_BROKER, RedisBroker's
 * options as JSON).
 *
 * `BENCH_PUBLISH=herald` (default): `herald.publish` through Herald's `RedisBroker` (every key of
 * the app under one hash tag, `{herald}`). `BENCH_PUBLISH=per-channel`: not Herald, the floor of a
 * partitioned layout: one Lua script per publish that does the least an atomic publish does
 * (`INCR` a sequence, capped `XADD` under it, `PUBLISH`), with each channel's keys under a hash tag
 * of their own (`{pc-<channel>}:seq`, `{pc-<channel>}:log`), so the writes spread over the masters
 * as partitions would spread them. `BENCH_PUBLISH=per-channel-sharded`: the same with `SPUBLISH`
 * (sharded pub/sub, Redis 7) instead of `PUBLISH`.
 *
 * Messages: `{ op: "publish", durationMs, concurrency, channels }` → `{ published, errors, ms,
 * cpuUs }`; `{ op: "subscribe", channels }` → `{ subscribed, ms }` (this process follows every
 * channel once, as a Herald process with subscribers on them does); `{ op: "received" }`;
 * `{ op: "close" }`.
 */
import { createHerald } from "herald";
import { RedisBroker } from "herald/redis";
import { Cluster, Redis } from "ioredis";

const brokerOptions = JSON.parse(process.env.BENCH_BROKER);
const mode = process.env.BENCH_PUBLISH ?? "herald";

const FLOOR_SCRIPT = (publish) => `
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000', seq .. '-0', 'event', ARGV[1], 'json', ARGV[2], 'ts', ARGV[3])
redis.call('${publish}', KEYS[3], seq .. '\\n' .. ARGV[3] .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[2])
return seq
`;

let publish;
let broker;
let herald;
let raw;
if (mode === "herald") {
  broker = new RedisBroker({ ...brokerOptions, onError: () => {} });
  herald = createHerald({ broker, limits: { connectPerIp: false, maxConnectionsPerIp: false } });
  publish = (channel, payload) => herald.publish(channel, "tick", payload);
} else {
  raw = brokerOptions.cluster
    ? new Cluster(brokerOptions.cluster.nodes, { enableAutoPipelining: true })
    : new Redis(brokerOptions.url, { enableAutoPipelining: true });
  raw.defineCommand("floorPublish", {
    numberOfKeys: 3,
    lua: FLOOR_SCRIPT(mode === "per-channel-sharded" ? "SPUBLISH" : "PUBLISH"),
  });
  publish = (channel, payload) =>
    raw.floorPublish(
      `{pc-${channel}}:seq`,
      `{pc-${channel}}:log`,
      `{pc-${channel}}:bus`,
      "tick",
      JSON.stringify(payload),
      String(Date.now()),
    );
}

const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

async function publishFor({ durationMs, concurrency, channels }) {
  let published = 0;
  let errors = 0;
  let firstError = null;
  let next = 0;
  const c0 = cpuUs();
  const t0 = performance.now();
  const end = t0 + durationMs;
  const lane = async () => {
    while (performance.now() < end) {
      const channel = channels[next++ % channels.length];
      try {
        await publish(channel, { t: Date.now(), n: next });
        published++;
      } catch (error) {
        errors++;
        firstError ??= String(error?.message ?? error);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const ms = performance.now() - t0;
  return { published, errors, firstError, ms: Math.round(ms), cpuUs: cpuUs() - c0 };
}

let received = 0;
const subscriptions = [];
async function subscribe({ channels }) {
  const t0 = performance.now();
  const subs = channels.map((channel) => broker.subscribe(channel, () => received++));
  subscriptions.push(...subs);
  await Promise.all(subs.map((s) => s.ready));
  return { subscribed: subs.length, ms: Math.round(performance.now() - t0) };
}

process.on("message", async (message) => {
  const { id, op } = message;
  try {
    let value;
    if (op === "publish") value = await publishFor(message);
    else if (op === "subscribe") value = await subscribe(message);
    else if (op === "received") value = { received };
    else if (op === "close") {
      for (const s of subscriptions.splice(0)) s.unsubscribe();
      await herald?.close().catch(() => {});
      raw?.disconnect();
      value = {};
      process.send({ id, value }, () => process.exit(0));
      return;
    }
    process.send({ id, value });
  } catch (error) {
    process.send({ id, error: String(error?.stack ?? error) });
  }
});
process.send({ ready: true });
