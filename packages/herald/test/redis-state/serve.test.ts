/**
 * `herald serve` twice on one Redis (HERALD_REDIS_URL): presence members are shared, counted per
 * user across the two servers, and the HTTP API of either lists them all.
 */
import type { ChildProcess } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { PusherJs } from "../pusher/pusher-js.js";
import { closeAll, connected, pusherClient, sdkFor, startAuthServer, subscribed } from "../pusher/fixture.js";
import { startRedis, type TestRedis } from "../redis/redis-server.js";
import { startServe } from "../pusher/serve-process.js";

const children: ChildProcess[] = [];
const clients: PusherJs[] = [];
let redis: TestRedis;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await closeAll();
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

/** `herald serve` on a free port (the shared child-process helper); resolves with its port. */
const serve = async (env: Record<string, string>): Promise<number> => (await startServe(children, env)).port;

describe("herald serve on Redis", () => {
  it("shares presence between two servers: members per user across both, listed by either's HTTP API", async () => {
    const env = { HERALD_REDIS_URL: redis.url };
    const [one, two] = await Promise.all([serve(env), serve(env)]);
    const sdkOne = sdkFor(one);
    const sdkTwo = sdkFor(two);
    const authUrl = await startAuthServer(sdkOne);
    const mk = (port: number, user: string) => {
      const c = pusherClient(port, authUrl, { user_id: user });
      clients.push(c);
      return c;
    };
    const alice = mk(one, "alice");
    const alice2 = mk(two, "alice");
    const bob = mk(two, "bob");
    await Promise.all([alice, alice2, bob].map(connected));

    await subscribed(alice, "presence-lobby");
    const lobbyB = await subscribed(bob, "presence-lobby");
    // Bob, on the other server, sees alice (who joined on server one) among the members.
    expect((lobbyB as unknown as { members: { count: number } }).members.count).toBe(2);
    // A second connection of alice, on server two, is not a new member.
    const lobbyA2 = await subscribed(alice2, "presence-lobby");
    expect((lobbyA2 as unknown as { members: { count: number } }).members.count).toBe(2);
    for (const sdk of [sdkOne, sdkTwo]) {
      const users = (await (await sdk.get({ path: "/channels/presence-lobby/users" })).json()) as {
        users: { id: string }[];
      };
      expect(users.users.map((u) => u.id).sort()).toEqual(["alice", "bob"]);
    }
  });
});
