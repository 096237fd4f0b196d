/**
 * The demo's chat page in Chromium, on the tab's one connection (the default: SSE, presence and
 * typing on it) and with `?chat=ws` on WebSocket (Herald's Pusher-compatible server in the demo's
 * custom server), with two users in the same room: each sees the other online, a message from one
 * reaches the other, typing by one shows "… is typing" for the other, leaving removes the member,
 * the chat's connection indicator names its transport, and a third user joining later gets the history.
 * The history is Herald's log (`useHistory` on the room's message channel): a late joiner sees the
 * last 50 messages and then the live ones, none missing and none twice, on both transports, while
 * messages keep coming during its join; "Earlier messages" pages back. After a restart the history
 * is what the broker kept: nothing on the memory broker, everything on Redis.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { signSocketAuth } from "../packages/herald/src/pusher/signature.js";
import { startRedis } from "../packages/herald/test/redis/redis-server.js";
import { buildIfStale, launchChromium, SCREENSHOTS, signedIn, startDemo, type Demo } from "./demo-server.js";

let demo: Demo;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  await buildIfStale();
  demo = await startDemo();
  browser = await launchChromium();
  mkdirSync(SCREENSHOTS, { recursive: true });
}, 600_000);

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close();
});

afterAll(async () => {
  await browser?.close();
  await demo?.stop();
});

/** A user signed in and in `room`, with the chat's connection up (`via`: `?chat=`, default the tab's). */
async function inRoom(name: string, room: string, via?: "sse" | "ws"): Promise<Page> {
  const { context, page } = await signedIn(browser, demo.origin, name);
  contexts.push(context);
  await page.goto(`/chat/${room}${via ? `?chat=${via}` : ""}`);
  await page.waitForSelector("[data-testid=chat-connection] [data-testid=connection-indicator][data-state=connected]");
  return page;
}

const member = (page: Page, name: string) => page.locator(`[data-testid=member][data-user-name="${name}"]`);
const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

/** Posts messages "{prefix} #{from}" … in `room` as the demo's e2e bot (`POST /api/e2e/chat`). */
async function post(origin: string, room: string, prefix: string, from: number, count = 1): Promise<void> {
  const query = new URLSearchParams({ room, prefix, from: String(from), count: String(count) });
  const response = await fetch(`${origin}/api/e2e/chat?${query}`, { method: "POST" });
  expect(response.status, await response.text()).toBe(200);
}

/** The texts of the messages `page` shows, in order. */
const shown = (page: Page) => page.locator("[data-testid=chat-message] [data-testid=bubble]").allTextContents();
/** "{prefix} #{n}" for n = from…to. */
const numbered = (prefix: string, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `${prefix} #${from + i}`);

async function say(page: Page, text: string): Promise<void> {
  await page.fill("[data-testid=chat-input]", text);
  await page.click("[data-testid=chat-send]");
  await page.locator("[data-testid=chat-message]", { hasText: text }).waitFor({ timeout: 10_000 });
}

describe("chat in Chromium", () => {
  test.each([
    { via: undefined, room: "general", label: "SSE", who: "Chat" },
    { via: "ws" as const, room: "help", label: "WebSocket", who: "Sock" },
  ])(
    "two users: presence, messages, typing, leaving; $label indicator; history for a later joiner",
    async ({ via, room, label, who }) => {
      const [annName, bobName, cyName] = [`Ann ${who}`, `Bob ${who}`, `Cy ${who}`];
      const hello = `Hello Bob, over ${label}`;
      const ann = await inRoom(annName, room, via);
      const bob = await inRoom(bobName, room, via);

      // The chat's indicator names its transport; the header's stays on the app's client (SSE): by
      // default they are one connection, with ?chat=ws the chat has a WebSocket of its own.
      const transport = ann.locator("[data-testid=chat-connection] [data-testid=connection-transport]");
      await expect.poll(() => transport.textContent()).toContain(label);
      expect(await ann.locator("header [data-testid=connection-transport]").textContent()).not.toContain("WebSocket");

      // Both see each other online.
      await member(ann, bobName).waitFor({ timeout: 10_000 });
      await member(bob, annName).waitFor({ timeout: 10_000 });
      await member(ann, annName).waitFor();
      expect(await ann.locator("[data-testid=online-count]").textContent()).toBe("2");

      // A message from one appears for the other.
      await say(ann, hello);
      await bob.locator("[data-testid=chat-message]", { hasText: hello }).waitFor({ timeout: 10_000 });
      await say(bob, "Hi Ann!");
      await ann.locator("[data-testid=chat-message]", { hasText: "Hi Ann!" }).waitFor({ timeout: 10_000 });
      expect(await ann.locator("[data-testid=chat-message]").count()).toBe(2);
      expect(await bob.locator("[data-testid=chat-message]").count()).toBe(2);

      // Typing by one shows "… is typing" for the other (and never for the typist), then expires.
      await bob.click("[data-testid=chat-input]");
      await bob.keyboard.type("I am typ", { delay: 30 });
      await expect
        .poll(() => ann.locator("[data-testid=typing]").textContent(), { timeout: 10_000 })
        .toBe(`${bobName} is typing…`);
      expect(await bob.locator("[data-testid=typing]").textContent()).toBe("");
      await shot(ann, `chat-typing-${label.toLowerCase()}`);
      await expect.poll(() => ann.locator("[data-testid=typing]").textContent(), { timeout: 10_000 }).toBe("");

      // Leaving removes the member.
      await bob.close();
      await member(ann, bobName).waitFor({ state: "detached", timeout: 15_000 });
      expect(await ann.locator("[data-testid=online-count]").textContent()).toBe("1");

      // Someone joining later gets the history.
      const cy = await inRoom(cyName, room, via);
      await cy.locator("[data-testid=chat-message]", { hasText: hello }).waitFor();
      await cy.locator("[data-testid=chat-message]", { hasText: "Hi Ann!" }).waitFor();
      await member(ann, cyName).waitFor({ timeout: 10_000 });
      await shot(cy, `chat-history-${label.toLowerCase()}`);

      // Rooms are separate: a message in #random is not in #general.
      await cy.click('[data-testid=room-link][href="/chat/random"]');
      await cy.waitForURL("**/chat/random");
      await member(cy, cyName).waitFor({ timeout: 10_000 });
      await member(ann, cyName).waitFor({ state: "detached", timeout: 15_000 });
      await say(cy, `Anyone in random? (${label})`);
      await ann.waitForTimeout(500);
      expect(await ann.locator("[data-testid=chat-message]", { hasText: `Anyone in random? (${label})` }).count()).toBe(
        0,
      );
    },
    120_000,
  );

  test.each([
    { via: undefined, label: "SSE", who: "Late" },
    { via: "ws" as const, label: "WebSocket", who: "Latews" },
  ])(
    "a late joiner on $label sees the last 50 messages, then the live ones: none missing, none twice",
    async ({ via, label, who }) => {
      const room = "random";
      const prefix = `history ${label}`;
      // Vic is in the room from the start: every message reaches him live.
      const vic = await inRoom(`Vic ${who}`, room, via);
      await post(demo.origin, room, prefix, 1, 60);

      // Wes opens the room while messages keep coming (#61-#80, one at a time).
      let publishing = true;
      const during = (async () => {
        for (let n = 61; n <= 80; n++) {
          await post(demo.origin, room, prefix, n);
          await new Promise((resolve) => setTimeout(resolve, 60));
        }
        publishing = false;
      })();
      const wes = await inRoom(`Wes ${who}`, room, via);
      await during;
      expect(publishing).toBe(false);
      const mine = `${label}: live from Wes`;
      await say(wes, mine);
      await post(demo.origin, room, prefix, 81, 5);
      await expect.poll(async () => (await shown(wes)).at(-1), { timeout: 15_000 }).toBe(`${prefix} #85`);

      // Wes: the 50 messages before his read (all of this test's: 60 came first), then every later
      // one, once each and in order, his own among them where it was published.
      const seen = await shown(wes);
      const first = Number(/#(\d+)$/.exec(seen[0] ?? "")?.[1]);
      expect(seen[0]?.startsWith(`${prefix} #`), `first shown: ${seen[0]}`).toBe(true);
      expect(first).toBeGreaterThanOrEqual(11);
      expect(first).toBeLessThanOrEqual(31);
      expect(seen).toEqual([...numbered(prefix, first, 80), mine, ...numbered(prefix, 81, 85)]);
      expect(await wes.getAttribute("[data-testid=messages]", "data-history")).toBe("ready");

      // Vic got all of them live, once each.
      await expect.poll(async () => (await shown(vic)).at(-1), { timeout: 15_000 }).toBe(`${prefix} #85`);
      const atVic = (await shown(vic)).filter((t) => t.startsWith(`${prefix} #`) || t === mine);
      expect(atVic).toEqual([...numbered(prefix, 1, 80), mine, ...numbered(prefix, 81, 85)]);

      // "Earlier messages" puts the 50 before the first in front: now Wes has them all, once each.
      await wes.click("[data-testid=earlier-messages]");
      await expect.poll(async () => (await shown(wes)).includes(`${prefix} #1`), { timeout: 15_000 }).toBe(true);
      const all = (await shown(wes)).filter((t) => t.startsWith(`${prefix} #`) || t === mine);
      expect(all).toEqual([...numbered(prefix, 1, 80), mine, ...numbered(prefix, 81, 85)]);
      await shot(wes, `chat-late-joiner-${label.toLowerCase()}`);
    },
    120_000,
  );

  test("after a restart the history is what the log kept: nothing on the memory broker, all of it on Redis", async () => {
    /** Posts three messages on a fresh demo, restarts it, and returns what a new user then sees in #general. */
    const acrossRestart = async (env: Record<string, string>, name: string): Promise<string[]> => {
      const before = await startDemo({ env });
      let after: Demo | undefined;
      try {
        await post(before.origin, "general", "kept?", 1, 3);
        const { context, page } = await signedIn(browser, before.origin, `${name} One`);
        contexts.push(context);
        await page.goto("/chat/general");
        await expect.poll(() => shown(page), { timeout: 15_000 }).toEqual(numbered("kept?", 1, 3));
        await context.close();
        await before.stop();
        after = await startDemo({ env });
        const again = await signedIn(browser, after.origin, `${name} Two`);
        contexts.push(again.context);
        await again.page.goto("/chat/general");
        const list = again.page.locator("[data-testid=messages]");
        await expect.poll(() => list.getAttribute("data-history"), { timeout: 15_000 }).toBe("ready");
        const texts = await shown(again.page);
        await again.context.close();
        return texts;
      } finally {
        await before.stop();
        await after?.stop();
      }
    };

    // The memory broker's log ends with the process: the room starts empty again.
    expect(await acrossRestart({}, "Mia Memory")).toEqual([]);

    // Redis keeps it (and the retention, lib/chat.ts, bounds it): the new process shows the three.
    const redis = await startRedis();
    try {
      expect(await acrossRestart({ HERALD_REDIS_URL: redis.url }, "Rex Redis")).toEqual(numbered("kept?", 1, 3));
    } finally {
      await redis.stop();
    }
  }, 240_000);

  test("the auth route refuses signed-out users and other channels", async () => {
    const form = new URLSearchParams({ socket_id: "1.2", channel_name: "presence-chat-general" });
    const signedOut = await fetch(`${demo.origin}/api/chat/auth`, { method: "POST", body: form });
    expect(signedOut.status).toBe(403);

    const page = await inRoom("Dee Auth", "general");
    const answer = await page.evaluate(async () => {
      const post = (channel: string) =>
        fetch("/api/chat/auth", {
          method: "POST",
          body: new URLSearchParams({ socket_id: "1.2", channel_name: channel }),
        }).then(async (r) => ({ status: r.status, body: r.ok ? await r.json() : null }));
      return { room: await post("presence-chat-general"), other: await post("presence-elsewhere") };
    });
    expect(answer.other.status).toBe(403);
    expect(answer.room.status).toBe(200);
    const data = JSON.parse(answer.room.body.channel_data) as { user_id: string; user_info: { name: string } };
    expect(data.user_info.name).toBe("Dee Auth");
  }, 60_000);

  test("at phone width nothing overflows sideways, the header's Chat link included", async () => {
    const { context, page } = await signedIn(browser, demo.origin, "Pat Phone");
    contexts.push(context);
    await page.setViewportSize({ width: 390, height: 844 });
    for (const route of ["/chat/general", "/tasks"]) {
      await page.goto(route);
      await page.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      expect(width, `${route} scrolls sideways at 390 px`).toBeLessThanOrEqual(390);
    }
    // Icon-only below md, the link keeps its name for screen readers.
    expect(await page.getByRole("link", { name: "Chat", exact: true }).isVisible()).toBe(true);
    await shot(page, "chat-phone");
  }, 60_000);

  test("an unknown room is a 404; a blank message cannot be sent", async () => {
    const page = await inRoom("Eve Edge", "help");
    await page.fill("[data-testid=chat-input]", "   ");
    expect(await page.locator("[data-testid=chat-send]").isDisabled()).toBe(true);
    const response = await page.goto("/chat/nope");
    expect(response?.status()).toBe(404);
  }, 60_000);

  test("the chat's own holes (issue 16): cross-site auth, the documented secret, a typing name from the client", async () => {
    const ann = await inRoom("Ann Holes", "general");
    const bob = await inRoom("Bob Holes", "general");
    await member(ann, "Bob Holes").waitFor({ timeout: 10_000 });
    const cookies = await bob.context().cookies();
    const cookie = cookies.map((c) => `${c.name}=${c.value}`).join("; ");
    const wsOrigin = demo.origin.replace(/^http/, "ws");

    // #12: another site's page posting with Bob's cookie is refused.
    const form = new URLSearchParams({ socket_id: "1.2", channel_name: "presence-chat-general" });
    const crossSite = await fetch(`${demo.origin}/api/chat/auth`, {
      method: "POST",
      body: form,
      headers: { Origin: "https://evil.example", Cookie: cookie },
    });
    expect(crossSite.status).toBe(403);

    // #2: in production the documented secret signs nothing: a forged member is refused.
    const forger = await rawSocket(`${wsOrigin}/app/herald-demo-key?protocol=7`, {});
    const channelData = JSON.stringify({ user_id: "admin", user_info: { name: "Administrator" } });
    forger.send("pusher:subscribe", {
      channel: "presence-chat-general",
      channel_data: channelData,
      auth: signSocketAuth(
        "herald-demo-key",
        "herald-demo-secret",
        `${forger.socketId}:presence-chat-general:${channelData}`,
      ),
    });
    const refused = await forger.next((f) => f.event === "pusher:subscription_error");
    expect(JSON.parse(refused.data as string)).toMatchObject({ status: 401 });
    forger.ws.close();

    // #10: a typing event that names someone else shows the sender's signed-in name.
    const raw = await rawSocket(`${wsOrigin}/app/herald-demo-key?protocol=7`, { Cookie: cookie });
    const auth = await fetch(`${demo.origin}/api/chat/auth`, {
      method: "POST",
      body: new URLSearchParams({ socket_id: raw.socketId, channel_name: "presence-chat-general" }),
      headers: { Cookie: cookie },
    }).then((r) => r.json() as Promise<{ auth: string; channel_data: string }>);
    raw.send("pusher:subscribe", { channel: "presence-chat-general", ...auth });
    await raw.next((f) => f.event === "pusher_internal:subscription_succeeded");
    raw.send("client-typing", { typing: true, name: "Bob (moderator)\u202E", at: Date.now() }, "presence-chat-general");
    await expect
      .poll(() => ann.locator("[data-testid=typing]").textContent(), { timeout: 10_000 })
      .toBe("Bob Holes is typing…");
    raw.ws.close();
  }, 120_000);

  test("the demo refuses to start in production with the documented chat secret", async () => {
    const refused = await startDemo({ env: { PUSHER_APP_SECRET: "herald-demo-secret" } }).catch((e: Error) => e);
    expect(String(refused)).toMatch(/exited.*documented secret/s);
  }, 120_000);
});

interface Frame {
  event: string;
  channel?: string;
  data?: unknown;
}

/** A raw Pusher-protocol socket (as an attacker's script would open one). */
async function rawSocket(url: string, headers: Record<string, string>) {
  const ws = new WebSocket(url, { headers });
  const frames: Frame[] = [];
  const waiters = new Set<() => void>();
  ws.on("message", (data) => {
    frames.push(JSON.parse(data.toString()) as Frame);
    for (const w of [...waiters]) w();
  });
  const next = (pred: (f: Frame) => boolean) =>
    new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame; got ${JSON.stringify(frames)}`)), 10_000);
      const check = () => {
        const found = frames.find(pred);
        if (!found) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
      };
      waiters.add(check);
      check();
    });
  const established = await next((f) => f.event === "pusher:connection_established");
  const socketId = (JSON.parse(established.data as string) as { socket_id: string }).socket_id;
  return {
    ws,
    socketId,
    next,
    send: (event: string, data: unknown, channel?: string) =>
      ws.send(JSON.stringify({ event, data, ...(channel ? { channel } : {}) })),
  };
}
