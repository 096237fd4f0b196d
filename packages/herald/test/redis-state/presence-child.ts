/**
 * A process holding presence members on Redis until it is killed: joins what argv says, prints
 * "joined", then keeps renewing. Usage: presence-child.ts <redis-url> <prefix> <ttlMs> <channel> <user>…
 */
import { Redis } from "ioredis";
import { RedisPresenceStore } from "../../src/redis/presence.js";

const [url, prefix, ttl, channel, ...users] = process.argv.slice(2);
const redis = new Redis(url!);
const store = new RedisPresenceStore(redis, { prefix, ttlMs: Number(ttl) });
for (const [i, user] of users.entries()) {
  await store.join(channel!, `child.${i}`, { user_id: user, user_info: { from: "child" } });
}
process.stdout.write("joined\n");
setInterval(() => {}, 1000);
