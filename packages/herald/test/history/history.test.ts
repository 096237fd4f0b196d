/**
 * History: `herald.history` and `GET …/history` on real servers (port 0), over the memory broker
 * and a real redis-server: pages newest last, paging backwards and forwards, the log's cut, the
 * stream's channel rules and tokens, and hostile queries refused with a clear 400.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisBroker } from "../../src/brokers/redis.js";
import { MemoryBroker, type MemoryBrokerOptions } from "../../src/brokers/memory.js";
import type { Broker } from "../../src/brokers/types.js";
import { createHerald, type Herald, type HeraldOptions } from "../../src/server/index.js";
import { startRedis, type TestRedis } from "../redis/redis-server.js";
import { startRoutes } from "../helpers.js";

let redis: TestRedis;
let prefixes = 0;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type BrokerOptions = Pick<MemoryBrokerOptions, "maxEventsPerChannel" | "retention">;

const BROKERS: [string, (options?: BrokerOptions) => Broker][] = [
  ["memory", (options) => new MemoryBroker(options)],
  ["redis", (options) => new RedisBroker({ url: redis.url, prefix: `hist${++prefixes}`, ...options })],
];

/** A Herald with every route on a real Node server (port 0). */
async function serve(options: HeraldOptions): Promise<{ herald: Herald; base: string }> {
  const herald = createHerald({ limits: { connectPerIp: false }, ...options });
  const { base, close } = await startRoutes(herald);
  cleanups.push(close);
  return { herald, base };
}

/** A JSON answer of any route: a page, a token or an error. */
interface Reply {
  error: { code: string; message: string; [detail: string]: unknown };
  events: { data: unknown }[];
  token: string;
}

async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: Reply }> {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as Reply };
}

const seqOf = (id: string): number => Number(id.split("-")[1]);

describe.each(BROKERS)("history on the %s broker", (_name, makeBroker) => {
  it("answers the last `limit` events newest last, pages backwards with `before` and forwards with `after`", async () => {
    const { herald, base } = await serve({ broker: makeBroker() });
    for (let n = 1; n <= 120; n++) {
      await herald.publish("room-a", "message", { n });
      if (n % 10 === 0) await herald.publish("room-b", "message", { other: n });
    }
    const last = await herald.history("room-a", { limit: 50 });
    expect(last.channel).toBe("room-a");
    expect(last.events.map((e) => (e.data as { n: number }).n)).toEqual(range(71, 120));
    expect(last.events.every((e) => e.channel === "room-a" && e.event === "message")).toBe(true);
    expect(last.more).toBe(true);
    expect(last.gap).toBeUndefined();
    // The cut: the head covers every event, those of the other channel published last included.
    expect(seqOf(last.cursor)).toBe(132);

    const before = await herald.history("room-a", { limit: 50, before: last.events[0]!.id });
    expect(before.events.map((e) => (e.data as { n: number }).n)).toEqual(range(21, 70));
    const first = await herald.history("room-a", { limit: 50, before: before.events[0]!.id });
    expect(first.events.map((e) => (e.data as { n: number }).n)).toEqual(range(1, 20));
    expect(first.more).toBe(false);

    const after = await herald.history("room-a", { limit: 30, after: first.events[4]!.id });
    expect(after.events.map((e) => (e.data as { n: number }).n)).toEqual(range(6, 35));
    expect(after.more).toBe(true);
    const tail = await herald.history("room-a", { limit: 30, after: last.events[39]!.id });
    expect(tail.events.map((e) => (e.data as { n: number }).n)).toEqual(range(111, 120));
    expect(tail.more).toBe(false);

    // The route answers the same page, as the envelope live subscribers get.
    const { status, body } = await getJson(`${base}/history?channel=room-a&limit=50`);
    expect(status).toBe(200);
    expect(body).toEqual(last);
    const empty = await getJson(`${base}/history?channel=room-none`);
    expect(empty.body).toEqual({ channel: "room-none", events: [], cursor: last.cursor, more: false });
  });

  it("reads what retention kept, and says when `after` fell out of the log", async () => {
    const { herald } = await serve({ broker: makeBroker({ maxEventsPerChannel: 10 }) });
    const ids: string[] = [];
    for (let n = 1; n <= 25; n++) ids.push(await herald.publish("feed", "item", { n }));
    const page = await herald.history("feed", { limit: 50 });
    expect(page.events.map((e) => (e.data as { n: number }).n)).toEqual(range(16, 25));
    expect(page.more).toBe(false);
    const stale = await herald.history("feed", { after: ids[2]! });
    expect(stale.gap).toBe("retention");
    expect(stale.events.map((e) => (e.data as { n: number }).n)).toEqual(range(16, 25));
    // A position from another incarnation of the log reads as no position.
    const foreign = await herald.history("feed", { limit: 3, before: "zz0-5" });
    expect(foreign.gap).toBe("epoch");
    expect(foreign.events.map((e) => (e.data as { n: number }).n)).toEqual([23, 24, 25]);
  });
});

describe.each(BROKERS)("retention by channel pattern on the %s broker", (_name, makeBroker) => {
  it("keeps what each channel's pattern says, the broker's setting elsewhere", async () => {
    const retention = { "room-*": { maxEvents: 20 }, "room-vip-*": { maxEvents: 30 }, lobby: { maxEvents: 3 } };
    const { herald } = await serve({ broker: makeBroker({ maxEventsPerChannel: 5, retention }) });
    for (let n = 1; n <= 40; n++) {
      for (const channel of ["room-a", "room-vip-b", "lobby", "feed"]) await herald.publish(channel, "item", { n });
    }
    const kept = async (channel: string) => (await herald.history(channel, { limit: 1000 })).events.length;
    expect([await kept("room-a"), await kept("room-vip-b"), await kept("lobby"), await kept("feed")]).toEqual([
      20, 30, 3, 5,
    ]);
  });
});

it("retention by pattern keeps a channel's events longer (memory broker, by its clock)", async () => {
  let now = 1_000_000;
  const broker = new MemoryBroker({
    maxAgeMs: 60_000,
    retention: { "room-*": { maxAgeMs: 3_600_000 } },
    now: () => now,
  });
  const { herald } = await serve({ broker, now: () => now });
  await herald.publish("room-a", "item", { n: 1 });
  await herald.publish("feed", "item", { n: 1 });
  now += 10 * 60_000;
  expect((await herald.history("room-a")).events).toHaveLength(1);
  expect((await herald.history("feed")).events).toHaveLength(0);
});

describe("the history route is admitted as a stream is", () => {
  /** Sessions by a header, tokens from the token route, the default channel rules. */
  async function withSessions(): Promise<{ herald: Herald; base: string; token(user: string): Promise<string> }> {
    const served = await serve({ getUserId: (request) => request.header("x-user") });
    const token = async (user: string): Promise<string> => {
      const reply = await getJson(`${served.base}/token`, { method: "POST", headers: { "x-user": user } });
      return reply.body.token;
    };
    return { ...served, token };
  }

  it("another user's private channel is 403 with a JSON error; the owner reads it with a token, once", async () => {
    const { herald, base, token } = await withSessions();
    await herald.publish("user-bob", "notification", { text: "for bob" });

    const alice = await getJson(`${base}/history?channel=user-bob&token=${await token("alice")}`);
    expect(alice.status).toBe(403);
    expect(alice.body.error).toMatchObject({ code: "forbidden", channel: "user-bob" });
    const anonymous = await getJson(`${base}/history?channel=user-bob`);
    expect(anonymous.status).toBe(403);
    expect(anonymous.body.error.code).toBe("forbidden");

    const bobToken = await token("bob");
    const bob = await getJson(`${base}/history?channel=user-bob&token=${bobToken}`);
    expect(bob.status).toBe(200);
    expect(bob.body.events.map((e) => e.data)).toEqual([{ text: "for bob" }]);
    // Tokens are single use, here as on the stream.
    const again = await getJson(`${base}/history?channel=user-bob&token=${bobToken}`);
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe("token_used");
  });

  it("refuses hostile queries with a clear 400", async () => {
    const { base } = await serve({});
    const cases: [query: string, code: string][] = [
      ["channel=room&limit=100000000", "invalid_request"],
      ["channel=room&limit=1001", "invalid_request"],
      ["channel=room&limit=-5", "invalid_request"],
      ["channel=room&limit=0", "invalid_request"],
      ["channel=room&limit=2.5", "invalid_request"],
      ["channel=room&limit=abc", "invalid_request"],
      ["channel=room&limit=1&limit=2", "invalid_request"],
      ["channel=room&before=nonsense", "invalid_cursor"],
      [`channel=room&after=${"9".repeat(60)}`, "invalid_cursor"],
      ["channel=room&before=a-1&after=a-2", "invalid_request"],
      ["channel=room&channel=other", "invalid_request"],
      ["limit=5", "invalid_request"],
      ["channel=bad%0Aname", "invalid_channel"],
    ];
    for (const [query, code] of cases) {
      const { status, body } = await getJson(`${base}/history?${query}`);
      expect({ query, status, code: body.error?.code }).toEqual({ query, status: 400, code });
      expect(typeof body.error.message).toBe("string");
    }
    const post = await fetch(`${base}/history?channel=room`, { method: "POST" });
    expect(post.status).toBe(404);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
