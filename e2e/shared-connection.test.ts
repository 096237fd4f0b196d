/**
 * One connection per browser, in Chromium: real tabs of one origin (pages of one browser context)
 * load `herald/client` (bundled with esbuild) against a Herald on node:http that counts its streams.
 * The tabs elect a leader with Web Locks; while 1,000 events flow the leader's tab is closed, its
 * renderer crashed, and its JavaScript stopped (paused in the debugger: a frozen or hung tab, which
 * keeps its lock; Chromium's lifecycle freeze does not apply to a visible page), and every
 * surviving tab must hold each event exactly once, in order. A tab of another user keeps its own stream; a tab that goes into the back/forward cache
 * comes back with what it missed. The takeover times are written to
 * test-output/shared-connection.json (figures for the notes, not assertions).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import path from "node:path";
import { build } from "esbuild";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHerald, type Herald } from "../packages/herald/src/server/index.js";
import { ROOT } from "./demo-server.js";

let herald: Herald;
let server: http.Server;
let origin = "";
let browser: Browser;
/** The client's chunks (esbuild, ESM with splitting), by path; and the paths the tabs asked for. */
const chunks = new Map<string, string>();
const loaded: string[] = [];
const sockets = new Set<Socket>();
const contexts: BrowserContext[] = [];
const figures: Record<string, number> = {};
/** Requests that opened a stream (`GET …/sse`). */
let opened = 0;

const PAGE = `<!doctype html><meta charset="utf-8"><title>tab</title>
<script type="module">
  import { createHeraldClient } from "/herald/index.js";
  window.got = {}; window.restored = false;
  addEventListener("pageshow", (e) => { if (e.persisted) window.restored = true; });
  window.client = createHeraldClient({
    url: "/api/realtime/sse",
    transport: "sse",
    getToken: async () => (await fetch("/api/realtime/token?optional=1", { method: "POST" })).json(),
  });
  window.follow = (channel) => {
    window.got[channel] = window.got[channel] || [];
    return client.subscribe(channel, (e) => window.got[channel].push(e.data.n));
  };
  for (const c of new URLSearchParams(location.search).getAll("c")) follow(c);
</script>`;

beforeAll(async () => {
  const out = await build({
    entryPoints: [path.join(ROOT, "packages/herald/src/client/index.ts")],
    bundle: true,
    format: "esm",
    splitting: true,
    outdir: "/herald",
    write: false,
    target: "es2022",
  });
  for (const file of out.outputFiles) chunks.set(`/herald/${path.basename(file.path)}`, file.text);
  const uid = (cookie: string | null) => /(?:^|; )uid=([a-z]+)/.exec(cookie ?? "")?.[1] ?? null;
  herald = createHerald({ getUserId: (request) => uid(request.header("cookie")), limits: { connectPerIp: false } });
  server = http.createServer((req, res) => {
    if (req.url?.startsWith("/api/realtime/sse")) opened++;
    const chunk = chunks.get(req.url ?? "");
    if (chunk !== undefined) {
      loaded.push(req.url!);
      return void res.writeHead(200, { "Content-Type": "text/javascript" }).end(chunk);
    }
    if (req.url?.startsWith("/tab")) return void res.writeHead(200, { "Content-Type": "text/html" }).end(PAGE);
    if (req.url === "/elsewhere")
      return void res.writeHead(200, { "Content-Type": "text/html" }).end("<p>elsewhere</p>");
    if (!herald.handleNodeRoutes(req, res)) res.writeHead(404).end();
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The system Chromium, with the back/forward cache Playwright turns off by default.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-component-update", "--disable-sync"],
    ignoreDefaultArgs: ["--disable-back-forward-cache"],
  });
}, 120_000);

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close().catch(() => undefined);
});

afterAll(async () => {
  await browser?.close();
  for (const s of sockets) s.destroy();
  await new Promise((r) => server?.close(r));
  await herald?.close();
  mkdirSync(path.join(ROOT, "test-output"), { recursive: true });
  writeFileSync(path.join(ROOT, "test-output", "shared-connection.json"), JSON.stringify(figures, null, 2) + "\n");
});

/** A browser context (one browser profile's tabs) signed in as `user`. */
async function session(user: string): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL: origin });
  await context.addCookies([{ name: "uid", value: user, url: origin }]);
  contexts.push(context);
  return context;
}

async function tabs(context: BrowserContext, count: number, channels: string[]): Promise<Page[]> {
  const query = channels.map((c) => `c=${encodeURIComponent(c)}`).join("&");
  const pages: Page[] = [];
  for (let i = 0; i < count; i++) {
    const page = await context.newPage();
    await page.goto(`/tab?${query}`);
    pages.push(page);
  }
  return pages;
}

const streams = () => herald.stats().transports.sse?.connections ?? 0;
const state = (page: Page) =>
  page.evaluate(() => {
    const c = (window as unknown as { client: { state: string; connectionRole: string } }).client;
    return { state: c.state, role: c.connectionRole };
  });
const got = (page: Page, channel: string) =>
  page.evaluate((c) => (window as unknown as { got: Record<string, number[]> }).got[c] ?? [], channel);

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function allLive(pages: Page[]): Promise<boolean> {
  for (const page of pages) if ((await state(page)).state !== "connected") return false;
  return true;
}

async function leaderOf(pages: Page[]): Promise<Page | null> {
  for (const page of pages) if ((await state(page)).role === "leader") return page;
  return null;
}

const exactlyOnce = (list: number[], total: number) => list.length === total && list.every((n, i) => n === i);

describe("one connection per browser (Chromium)", () => {
  it("five tabs open one SSE connection and every tab gets its events", async () => {
    const context = await session("alice");
    const pages = await tabs(context, 5, ["feed"]);
    await until(async () => (await allLive(pages)) && streams() === 1, 20_000, "five live tabs on one stream");
    for (let n = 0; n < 50; n++) await herald.publish("feed", "tick", { n });
    for (const page of pages) await until(async () => (await got(page, "feed")).length >= 50, 10_000, "50 events");
    for (const page of pages) expect(exactlyOnce(await got(page, "feed"), 50)).toBe(true);
    expect(streams()).toBe(1);
  }, 60_000);

  it("closing, crashing and freezing the leader moves the connection: 1,000 events, none lost, none twice", async () => {
    const context = await session("alice");
    const pages = await tabs(context, 5, ["feed2"]);
    await until(async () => (await allLive(pages)) && streams() === 1, 20_000, "five live tabs on one stream");
    const total = 1000;
    let published = 0;
    const publishing = (async () => {
      while (published < total) {
        await herald.publish("feed2", "tick", { n: published++ });
        if (published % 5 === 0) await new Promise((r) => setTimeout(r, 4));
      }
    })();
    const alive = [...pages];
    const takeover = async (how: string, kill: (page: Page) => Promise<void>) => {
      const leader = (await leaderOf(alive))!;
      expect(leader).not.toBeNull();
      alive.splice(alive.indexOf(leader), 1);
      const start = Date.now();
      await kill(leader);
      await until(
        async () => {
          const next = await leaderOf(alive);
          return next !== null && (await state(next)).state === "connected";
        },
        15_000,
        `a new leader after the old one was ${how}`,
      );
      figures[`takeoverMs.${how}`] = Date.now() - start;
    };
    await until(() => published >= 150, 10_000, "publishing under way");
    await takeover("closed", (page) => page.close({ runBeforeUnload: false }));
    await until(() => published >= 400, 10_000, "more events");
    await takeover("crashed", async (page) => {
      const cdp = await page.context().newCDPSession(page);
      void cdp.send("Page.crash").catch(() => undefined);
    });
    await until(() => published >= 650, 10_000, "more events");
    let frozen: Page | null = null;
    let debug: Awaited<ReturnType<BrowserContext["newCDPSession"]>> | null = null;
    await takeover("frozen", async (page) => {
      frozen = page;
      debug = await page.context().newCDPSession(page);
      await debug.send("Debugger.enable");
      await debug.send("Debugger.pause");
    });
    await publishing;
    for (const page of alive)
      await until(async () => (await got(page, "feed2")).length >= total, 20_000, "every event in every tab");
    for (const page of alive) expect(exactlyOnce(await got(page, "feed2"), total)).toBe(true);
    // The frozen tab wakes: its lock was stolen, it steps down, and one stream remains.
    await debug!.send("Debugger.resume");
    await until(async () => (await state(frozen!)).role === "follower", 10_000, "the woken tab follows");
    await until(() => streams() === 1, 10_000, "one stream again");
  }, 120_000);

  it("a tab of another user keeps a stream of its own and never gets the first user's events", async () => {
    const alice = await tabs(await session("alice"), 2, ["user-alice", "feed3"]);
    const bob = await tabs(await session("bob"), 1, ["user-bob", "feed3"]);
    await until(async () => (await allLive([...alice, ...bob])) && streams() === 2, 20_000, "two streams");
    for (let n = 0; n < 5; n++) {
      await herald.publish("user-alice", "tick", { n });
      await herald.publish("user-bob", "tick", { n });
      await herald.publish("feed3", "tick", { n });
    }
    for (const page of alive(alice))
      await until(async () => (await got(page, "user-alice")).length === 5, 10_000, "alice's");
    await until(
      async () => (await got(bob[0]!, "user-bob")).length === 5 && (await got(bob[0]!, "feed3")).length === 5,
      10_000,
      "bob's",
    );
    const seenByBob = await bob[0]!.evaluate(() => Object.keys((window as unknown as { got: object }).got).sort());
    expect(seenByBob).toEqual(["feed3", "user-bob"]);
    expect(await got(bob[0]!, "user-alice")).toEqual([]);
  }, 60_000);

  it("starting and finishing tasks while events flow opens no new connection and loses nothing", async () => {
    const [page] = await tabs(await session("carol"), 1, ["feed5"]);
    await until(async () => (await allLive([page!])) && streams() === 1, 20_000, "a live tab");
    const before = opened;
    const total = 300;
    let published = 0;
    const publishing = (async () => {
      while (published < total) {
        await herald.publish("feed5", "tick", { n: published++ });
        if (published % 5 === 0) await new Promise((r) => setTimeout(r, 4));
      }
    })();
    for (let task = 0; task < 3; task++) {
      const channel = `room-task-${task}`;
      await page!.evaluate(
        (c) =>
          ((window as unknown as { off: () => void }).off = (
            window as never as { follow: (c: string) => () => void }
          ).follow(c)),
        channel,
      );
      // Live once a marker gets through (the change is in flight meanwhile); then the numbered events.
      await until(
        async () => {
          await herald.publish(channel, "marker", { n: -1 });
          return (await got(page!, channel)).length > 0;
        },
        10_000,
        `${channel} on the stream`,
      );
      for (let n = 0; n < 5; n++) await herald.publish(channel, "progress", { n });
      const numbered = async () => (await got(page!, channel)).filter((n) => n >= 0);
      await until(async () => (await numbered()).length === 5, 10_000, `${channel}'s events`);
      expect(exactlyOnce(await numbered(), 5)).toBe(true);
      await page!.evaluate(() => (window as unknown as { off: () => void }).off());
    }
    await publishing;
    await until(async () => (await got(page!, "feed5")).length >= total, 20_000, "every event");
    expect(exactlyOnce(await got(page!, "feed5"), total)).toBe(true);
    expect(opened).toBe(before); // the channel changes went over the open stream
    expect(streams()).toBe(1);
  }, 60_000);

  it("a tab in the back/forward cache lets go of the connection and catches up when it comes back", async () => {
    const context = await session("alice");
    const pages = await tabs(context, 2, ["feed4"]);
    await until(async () => (await allLive(pages)) && streams() === 1, 20_000, "two live tabs on one stream");
    const leader = (await leaderOf(pages))!;
    const other = pages.find((p) => p !== leader)!;
    for (let n = 0; n < 5; n++) await herald.publish("feed4", "tick", { n });
    await until(async () => (await got(leader, "feed4")).length === 5, 10_000, "the first events");
    await leader.goto("/elsewhere");
    await until(
      async () => (await state(other)).role === "leader" && (await state(other)).state === "connected",
      10_000,
      "the other tab leads",
    );
    for (let n = 5; n < 10; n++) await herald.publish("feed4", "tick", { n });
    await leader.goBack({ waitUntil: "commit" });
    await until(() => leader.evaluate(() => document.readyState === "complete"), 10_000, "the page shown again");
    const restored = await leader.evaluate(() => (window as unknown as { restored: boolean }).restored);
    expect(restored).toBe(true); // the page came back from the back/forward cache, not reloaded
    await until(async () => (await got(leader, "feed4")).length >= 10, 10_000, "what it missed");
    for (let n = 10; n < 15; n++) await herald.publish("feed4", "tick", { n });
    for (const page of pages) await until(async () => (await got(page, "feed4")).length >= 15, 10_000, "15 events");
    for (const page of pages) expect(exactlyOnce(await got(page, "feed4"), 15)).toBe(true);
    await until(() => streams() === 1, 10_000, "one stream");
  }, 60_000);

  it("a tab alone connects on its own without loading the shared connection; a second tab shares that stream", async () => {
    const context = await session("carol");
    const sharedChunk = () => loaded.filter((p) => /\/shared-[^/]*\.js$/.test(p)).length;
    const before = sharedChunk();
    const [first] = await tabs(context, 1, ["feed6"]);
    await until(async () => (await allLive([first!])) && streams() === 1, 20_000, "the tab live on its own");
    expect((await state(first!)).role).toBe("own");
    for (let n = 0; n < 5; n++) await herald.publish("feed6", "tick", { n });
    await until(async () => (await got(first!, "feed6")).length === 5, 10_000, "the first events");
    expect(sharedChunk()).toBe(before); // a tab alone never loads the election and forwarding
    const opens = opened;
    const [second] = await tabs(context, 1, ["feed6"]);
    const pages = [first!, second!];
    await until(
      async () => (await allLive(pages)) && (await leaderOf(pages)) !== null && streams() === 1,
      20_000,
      "the two tabs on one stream",
    );
    expect(sharedChunk()).toBeGreaterThan(before);
    // Whether the first tab kept its stream and leads (0) or the second won the election (1).
    figures["secondTab.streamsOpened"] = opened - opens;
    figures["secondTab.firstLeads"] = Number((await state(first!)).role === "leader");
    for (let n = 5; n < 10; n++) await herald.publish("feed6", "tick", { n });
    await until(async () => (await got(first!, "feed6")).length >= 10, 10_000, "every event in the first tab");
    await until(async () => (await got(second!, "feed6")).length >= 5, 10_000, "the second tab's events");
    expect(exactlyOnce(await got(first!, "feed6"), 10)).toBe(true);
    expect((await got(second!, "feed6")).slice(-5)).toEqual([5, 6, 7, 8, 9]);
    expect(streams()).toBe(1);
  }, 60_000);

  it("a tab alone lets go of its stream in the back/forward cache and catches up when it comes back", async () => {
    const context = await session("dave");
    const [page] = await tabs(context, 1, ["feed7"]);
    await until(async () => (await allLive([page!])) && streams() === 1, 20_000, "the tab live on its own");
    for (let n = 0; n < 5; n++) await herald.publish("feed7", "tick", { n });
    await until(async () => (await got(page!, "feed7")).length === 5, 10_000, "the first events");
    await page!.goto("/elsewhere");
    await until(() => streams() === 0, 10_000, "the stream let go");
    for (let n = 5; n < 10; n++) await herald.publish("feed7", "tick", { n });
    await page!.goBack({ waitUntil: "commit" });
    await until(() => page!.evaluate(() => document.readyState === "complete"), 10_000, "the page shown again");
    expect(await page!.evaluate(() => (window as unknown as { restored: boolean }).restored)).toBe(true);
    await until(async () => (await got(page!, "feed7")).length >= 10, 10_000, "what it missed");
    expect(exactlyOnce(await got(page!, "feed7"), 10)).toBe(true);
    await until(() => streams() === 1, 10_000, "one stream");
  }, 60_000);
});

function alive(pages: Page[]): Page[] {
  return pages.filter((p) => !p.isClosed());
}
