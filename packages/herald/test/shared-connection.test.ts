/**
 * One connection per browser, in Node: clients created with `shareConnection` stand for the tabs
 * of one origin (Node's BroadcastChannel is the browser's API; on Node 20 there are no Web Locks,
 * so the tabs elect by BroadcastChannel alone, and on Node 24 `navigator.locks` elects, as in a
 * browser). A real Herald on node:http counts the streams; the session is a `uid` cookie, and each
 * tab's `getToken` returns what the token route answers (`{ token, userId }`). Chromium runs the
 * same with real tabs (crash, freeze, back/forward cache) in e2e/shared-connection.test.ts.
 */
import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { createHeraldClient, type HeraldClient, type HeraldClientOptions } from "../src/client/index.js";
import { createHerald, type Herald } from "../src/server/index.js";
import { listenTracked, waitFor } from "./helpers.js";

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

interface App {
  herald: Herald;
  origin: string;
  /** Requests that opened a stream (`GET …/sse`). */
  streams: () => number;
  /** Open SSE connections on the server. */
  open: () => number;
}

async function app(): Promise<App> {
  const uid = (cookie: string | null) => /(?:^|; )uid=([a-z]+)/.exec(cookie ?? "")?.[1] ?? null;
  const herald = createHerald({
    getUserId: (request) => uid(request.header("cookie")),
    limits: { connectPerIp: false },
  });
  let streams = 0;
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith("/api/realtime/sse")) streams++;
    if (!herald.handleNodeRoutes(req, res)) res.writeHead(404).end();
  });
  const listening = await listenTracked(server);
  closers.push(async () => {
    await listening.close();
    await herald.close();
  });
  return {
    herald,
    origin: `http://127.0.0.1:${listening.port}`,
    streams: () => streams,
    open: () => herald.stats().transports.sse?.connections ?? 0,
  };
}

/** A tab: a shared client signed in as `user` (null: signed out), with what it received per channel. */
interface Tab {
  client: HeraldClient;
  /** Signs this tab's session in as `user` (the browser's cookie changes; the app calls reconnect()). */
  signIn(user: string): void;
  got: Map<string, number[]>;
  follow(channel: string): () => void;
}

function tab(a: App, user: string | null, extra: Partial<HeraldClientOptions> = {}): Tab {
  let cookie = user ? `uid=${user}` : "";
  const client = createHeraldClient({
    url: `${a.origin}/api/realtime/sse`,
    transport: "sse",
    shareConnection: true,
    fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, cookie } }),
    getToken: async () => {
      const response = await fetch(`${a.origin}/api/realtime/token?optional=1`, {
        method: "POST",
        headers: { cookie },
      });
      return (await response.json()) as { token: string | null; userId: string | null };
    },
    onlineTarget: null,
    visibilityTarget: null,
    ...extra,
  });
  closers.push(() => client.close());
  const got = new Map<string, number[]>();
  return {
    client,
    got,
    signIn(next) {
      cookie = `uid=${next}`;
      client.reconnect();
    },
    follow(channel) {
      got.set(channel, got.get(channel) ?? []);
      return client.subscribe<{ n: number }>(channel, (e) => got.get(channel)!.push(e.data.n));
    },
  };
}

const live = (tabs: Tab[]) => tabs.every((t) => t.client.state === "connected");
const inOrder = (list: number[] | undefined, total: number) => list?.length === total && list.every((n, i) => n === i);

async function publish(herald: Herald, channel: string, count: number, from = 0): Promise<void> {
  for (let n = from; n < from + count; n++) await herald.publish(channel, "tick", { n });
}

/** Publishes `{ n }` for n = 0 … total - 1 on `channel` while the test goes on, pausing every 10 events. */
function paced(herald: Herald, channel: string, total: number): { done: Promise<void>; published: () => number } {
  let published = 0;
  const done = (async () => {
    while (published < total) {
      await herald.publish(channel, "tick", { n: published++ });
      if (published % 10 === 0) await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return { done, published: () => published };
}

describe("one connection per browser", () => {
  it("five tabs of one user hold one stream; each gets its own channels and the shared state", async () => {
    const a = await app();
    const tabs = Array.from({ length: 5 }, () => tab(a, "alice"));
    tabs.forEach((t, i) => {
      t.follow("feed");
      t.follow(`tab-${i}`);
    });
    await waitFor(() => live(tabs) && a.open() === 1, 15_000, "five tabs live on one stream");
    await waitFor(() => tabs.filter((t) => t.client.connectionRole === "leader").length === 1, 5000, "one leader");
    expect(tabs.filter((t) => t.client.connectionRole === "follower")).toHaveLength(4);

    await publish(a.herald, "feed", 20);
    for (let i = 0; i < 5; i++) await publish(a.herald, `tab-${i}`, 3);
    await waitFor(() => tabs.every((t) => t.got.get("feed")!.length === 20), 10_000, "the feed in every tab");
    await waitFor(() => tabs.every((t, i) => t.got.get(`tab-${i}`)!.length === 3), 10_000, "each tab's own");
    tabs.forEach((t, i) => {
      expect(inOrder(t.got.get("feed"), 20)).toBe(true);
      expect(inOrder(t.got.get(`tab-${i}`), 3)).toBe(true);
      expect([...t.got.keys()].sort()).toEqual(["feed", `tab-${i}`].sort()); // nothing of the others'
    });
    expect(a.open()).toBe(1);
  }, 40_000);

  it("a tab alone holds a connection of its own; a second tab shares it without losing an event", async () => {
    const a = await app();
    const first = tab(a, "alice");
    first.follow("feed");
    await waitFor(() => live([first]) && a.open() === 1, 15_000, "the first tab live");
    expect(first.client.connectionRole).toBe("own");
    const total = 300;
    const feed = paced(a.herald, "feed", total);
    await waitFor(() => feed.published() >= 50, 10_000, "publishing under way");
    const second = tab(a, "alice");
    second.follow("feed");
    second.follow("room-2");
    await waitFor(
      () => live([first, second]) && [first, second].every((t) => t.client.connectionRole !== "own"),
      15_000,
      "the two tabs in one group",
    );
    expect([first, second].map((t) => t.client.connectionRole).sort()).toEqual(["follower", "leader"]);
    await feed.done;
    await publish(a.herald, "room-2", 3);
    await waitFor(() => first.got.get("feed")!.length >= total, 20_000, "every event in the first tab");
    await waitFor(() => second.got.get("room-2")!.length === 3, 10_000, "the second tab's own channel");
    expect(inOrder(first.got.get("feed"), total)).toBe(true); // none lost, none twice across the handover
    expect(inOrder(second.got.get("room-2"), 3)).toBe(true);
    await waitFor(() => a.open() === 1, 10_000, "one stream");
  }, 60_000);

  it("a tab that goes into the back/forward cache while the shared layer loads does not hand it its closed stream", async () => {
    const a = await app();
    // Each tab's own `window`, so that the page events of one reach it alone.
    const global = globalThis as { window?: unknown };
    const inWindow = <T>(win: EventTarget, make: () => T): T => {
      global.window = win;
      try {
        return make();
      } finally {
        delete global.window;
      }
    };
    const firstWindow = new EventTarget();
    const first = inWindow(firstWindow, () => tab(a, "alice"));
    first.follow("feed");
    await waitFor(() => live([first]) && a.open() === 1, 15_000, "the first tab live on its own");
    // The first tab's page is hidden into the cache just after it hears the second tab's hello,
    // while it loads the shared layer to hand it its stream.
    const watcher = new BroadcastChannel(`herald-tabs:${a.origin}/api/realtime/sse`);
    watcher.onmessage = (event: MessageEvent) => {
      if (event.data === "hello") firstWindow.dispatchEvent(Object.assign(new Event("pagehide"), { persisted: true }));
    };
    closers.push(() => watcher.close());
    const second = inWindow(new EventTarget(), () => tab(a, "alice"));
    second.follow("feed");
    await waitFor(() => live([second]) && a.open() === 1, 15_000, "the second tab live on one stream");
    await publish(a.herald, "feed", 3);
    await waitFor(() => second.got.get("feed")!.length === 3, 10_000, "the second tab's events");
    expect(inOrder(second.got.get("feed"), 3)).toBe(true);
  }, 40_000);

  it("a leader that closes hands over: the stream moves, nothing lost, nothing twice", async () => {
    const a = await app();
    const tabs = Array.from({ length: 4 }, () => tab(a, "alice"));
    for (const t of tabs) t.follow("feed");
    await waitFor(() => live(tabs) && a.open() === 1, 15_000, "four tabs live on one stream");
    const total = 400;
    const feed = paced(a.herald, "feed", total);
    await waitFor(() => feed.published() >= 100, 10_000, "publishing under way");
    const leader = tabs.find((t) => t.client.connectionRole === "leader")!;
    leader.client.close();
    const rest = tabs.filter((t) => t !== leader);
    await feed.done;
    await waitFor(() => rest.some((t) => t.client.connectionRole === "leader"), 15_000, "a new leader");
    await waitFor(() => rest.every((t) => t.got.get("feed")!.length >= total), 20_000, "every event in every tab");
    for (const t of rest) expect(inOrder(t.got.get("feed"), total)).toBe(true);
    await waitFor(() => a.open() === 1, 10_000, "one stream again");
  }, 60_000);

  it("a tab of another user, or signed out, keeps a stream of its own", async () => {
    const a = await app();
    const alice = [tab(a, "alice"), tab(a, "alice")];
    const bob = tab(a, "bob");
    const anonymous = tab(a, null);
    for (const t of alice) t.follow("user-alice");
    bob.follow("user-bob");
    anonymous.follow("feed");
    for (const t of alice) t.follow("feed");
    await waitFor(() => live([...alice, bob, anonymous]) && a.open() === 3, 15_000, "three streams");
    await publish(a.herald, "user-alice", 2);
    await publish(a.herald, "user-bob", 2);
    await publish(a.herald, "feed", 2);
    await waitFor(() => alice.every((t) => t.got.get("user-alice")!.length === 2), 10_000, "alice's events");
    await waitFor(() => bob.got.get("user-bob")!.length === 2 && anonymous.got.get("feed")!.length === 2, 10_000, "");
    expect(bob.client.connectionRole).toBe("leader");
    expect(anonymous.client.connectionRole).toBe("leader");
  }, 40_000);

  it("a tab that adds or removes a channel changes the open stream instead of reconnecting", async () => {
    const a = await app();
    const tabs = [tab(a, "alice"), tab(a, "alice")];
    for (const t of tabs) t.follow("feed");
    await waitFor(() => live(tabs) && a.open() === 1, 15_000, "two tabs live on one stream");
    const before = a.streams();
    await publish(a.herald, "feed", 5);
    const stop = tabs[1]!.follow("room-1");
    await waitFor(() => a.herald.stats().subscriptions >= 2, 10_000, "task-1 on the stream");
    await publish(a.herald, "room-1", 5);
    await publish(a.herald, "feed", 5, 5);
    await waitFor(() => tabs[1]!.got.get("room-1")!.length === 5, 10_000, "room-1's events");
    stop();
    await publish(a.herald, "feed", 5, 10);
    await waitFor(() => tabs.every((t) => t.got.get("feed")!.length === 15), 10_000, "the feed throughout");
    for (const t of tabs) expect(inOrder(t.got.get("feed"), 15)).toBe(true);
    expect(inOrder(tabs[1]!.got.get("room-1"), 5)).toBe(true);
    expect(a.streams()).toBe(before); // no new stream was opened for the change
    expect(a.open()).toBe(1);
  }, 40_000);

  for (const shared of [false, true])
    it(`a channel added to an open stream gets what was published on it since it was wanted (${shared ? "shared" : "own"} stream)`, async () => {
      const a = await app();
      let gate: Promise<void> = Promise.resolve();
      const gated: Partial<HeraldClientOptions> = {
        shareConnection: shared,
        getToken: async () => {
          await gate;
          const response = await fetch(`${a.origin}/api/realtime/token?optional=1`, {
            method: "POST",
            headers: { cookie: "uid=erin" },
          });
          return (await response.json()) as { token: string | null; userId: string | null };
        },
      };
      const tabs = [tab(a, "erin", gated), tab(a, "erin", gated)];
      for (const x of tabs) x.follow("feed");
      await waitFor(() => live(tabs) && a.open() === (shared ? 1 : 2), 15_000, "live");
      const t = tabs[1]!;
      await publish(a.herald, "feed", 2);
      await waitFor(() => t.got.get("feed")!.length === 2, 10_000, "the first events");
      // The change waits for its token while the new channel gets an event and the cursor moves
      // past it on the old one.
      let open: () => void = () => undefined;
      gate = new Promise<void>((r) => (open = r));
      t.follow("room-9");
      await publish(a.herald, "room-9", 1);
      await publish(a.herald, "feed", 2, 2);
      await waitFor(() => t.got.get("feed")!.length === 4, 10_000, "the cursor past room-9's event");
      open();
      await publish(a.herald, "room-9", 1, 1);
      await waitFor(() => t.got.get("room-9")!.length === 2, 10_000, "room-9's events, the early one too");
      expect(inOrder(t.got.get("room-9"), 2)).toBe(true);
    }, 30_000);

  it("a channel the server refuses to one tab is reported and left out; the shared stream goes on for every tab", async () => {
    const a = await app();
    const tabs = [tab(a, "alice"), tab(a, "alice")];
    for (const t of tabs) t.follow("feed");
    await waitFor(() => live(tabs) && a.open() === 1, 15_000, "two tabs live on one stream");
    const before = a.streams();
    const errors: { code: string; channel?: unknown }[] = [];
    tabs[1]!.client.on("error", (e) => errors.push(e));
    await publish(a.herald, "feed", 3);
    tabs[1]!.follow("user-bob"); // another user's channel
    await waitFor(() => errors.some((e) => e.channel === "user-bob"), 10_000, "the refusal reported");
    expect(errors.find((e) => e.channel === "user-bob")!.code).toBe("forbidden");
    tabs[0]!.follow("room-2"); // a later change still goes through
    await waitFor(() => a.herald.stats().subscriptions >= 2, 10_000, "room-2 on the stream");
    await publish(a.herald, "feed", 3, 3);
    await publish(a.herald, "user-bob", 1);
    await waitFor(() => tabs.every((t) => t.got.get("feed")!.length === 6), 10_000, "the feed throughout");
    for (const t of tabs) expect(inOrder(t.got.get("feed"), 6)).toBe(true);
    expect(tabs[1]!.got.get("user-bob")).toEqual([]);
    expect(tabs.map((t) => t.client.state)).toEqual(["connected", "connected"]);
    expect(a.streams()).toBe(before);
  }, 30_000);

  it("a tab whose session signs in moves to that user's connection and gets the user's channel", async () => {
    const a = await app();
    const t = tab(a, null);
    t.follow("feed");
    await waitFor(() => live([t]) && a.open() === 1, 15_000, "a signed-out stream");
    t.signIn("dana");
    t.follow("user-dana");
    await waitFor(() => live([t]), 15_000, "live again, signed in");
    await publish(a.herald, "user-dana", 3);
    await waitFor(() => t.got.get("user-dana")!.length === 3, 10_000, "the user's events");
    expect(inOrder(t.got.get("user-dana"), 3)).toBe(true);
    await waitFor(() => a.open() === 1, 10_000, "the signed-out stream gone");
  }, 30_000);

  it("is off with shareConnection: false, and for a getToken that does not name the user", async () => {
    const a = await app();
    const own = tab(a, "alice", { shareConnection: false });
    const bare = tab(a, "alice", {
      getToken: async () => {
        const response = await fetch(`${a.origin}/api/realtime/token`, {
          method: "POST",
          headers: { cookie: "uid=alice" },
        });
        return ((await response.json()) as { token: string }).token;
      },
    });
    const shared = tab(a, "alice");
    for (const t of [own, bare, shared]) t.follow("feed");
    await waitFor(() => live([own, bare, shared]) && a.open() === 3, 15_000, "three streams");
    expect(own.client.connectionRole).toBe("own");
    expect(bare.client.connectionRole).toBe("own");
  }, 30_000);
});
