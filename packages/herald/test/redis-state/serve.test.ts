/**
 * `herald serve` twice on one Redis (HERALD_REDIS_URL): presence members are shared, counted per
 * user across the two servers, and the HTTP API of either lists them all. (The live
 * `member_added` / `member_removed` frames still reach only the sockets of the server where the
 * member joined or left: the Pusher server sends them to its own sockets.)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { PusherJs } from "../pusher/pusher-js.js";
import { closeAll, connected, pusherClient, sdkFor, startAuthServer, subscribed } from "../pusher/fixture.js";
import { startRedis, type TestRedis } from "../redis/redis-server.js";

const BIN = fileURLToPath(new URL("../../src/bin/herald.ts", import.meta.url));
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

async function serve(env: Record<string, string>): Promise<number> {
  const child = spawn(process.execPath, ["--import", "tsx", BIN, "serve", "--port", "0", "--host", "127.0.0.1"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`herald serve did not start: ${out}`)), 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on http:\/\/[^:]+:(\d+) \(.*Redis\)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`herald serve exited (${code}): ${out}`)));
  });
}

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
