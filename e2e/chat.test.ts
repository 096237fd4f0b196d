/**
 * The demo's chat page in Chromium, on WebSocket (Herald's Pusher-compatible server in the demo's
 * custom server), with two users in the same room: each sees the other online, a message from one
 * reaches the other, typing by one shows "… is typing" for the other, leaving removes the member,
 * the page's connection indicator says WebSocket, and a third user joining later gets the history.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
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

/** A user signed in and in `room`, with the chat's own connection up. */
async function inRoom(name: string, room: string): Promise<Page> {
  const { context, page } = await signedIn(browser, demo.origin, name);
  contexts.push(context);
  await page.goto(`/chat/${room}`);
  await page.waitForSelector("[data-testid=chat-connection] [data-testid=connection-indicator][data-state=connected]");
  return page;
}

const member = (page: Page, name: string) => page.locator(`[data-testid=member][data-user-name="${name}"]`);
const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

async function say(page: Page, text: string): Promise<void> {
  await page.fill("[data-testid=chat-input]", text);
  await page.click("[data-testid=chat-send]");
  await page.locator("[data-testid=chat-message]", { hasText: text }).waitFor({ timeout: 10_000 });
}

describe("chat in Chromium", () => {
  test("two users: presence, messages, typing, leaving; WebSocket indicator; history for a later joiner", async () => {
    const ann = await inRoom("Ann Chat", "general");
    const bob = await inRoom("Bob Chat", "general");

    // The chat page speaks WebSocket (the header's indicator stays on the app's SSE client).
    const transport = ann.locator("[data-testid=chat-connection] [data-testid=connection-transport]");
    await expect.poll(() => transport.textContent()).toContain("WebSocket");
    expect(await ann.locator("header [data-testid=connection-transport]").textContent()).not.toContain("WebSocket");

    // Both see each other online.
    await member(ann, "Bob Chat").waitFor({ timeout: 10_000 });
    await member(bob, "Ann Chat").waitFor({ timeout: 10_000 });
    await member(ann, "Ann Chat").waitFor();
    expect(await ann.locator("[data-testid=online-count]").textContent()).toBe("2");

    // A message from one appears for the other.
    await say(ann, "Hello Bob, over WebSocket");
    await bob
      .locator("[data-testid=chat-message]", { hasText: "Hello Bob, over WebSocket" })
      .waitFor({ timeout: 10_000 });
    await say(bob, "Hi Ann!");
    await ann.locator("[data-testid=chat-message]", { hasText: "Hi Ann!" }).waitFor({ timeout: 10_000 });
    expect(await ann.locator("[data-testid=chat-message]").count()).toBe(2);
    expect(await bob.locator("[data-testid=chat-message]").count()).toBe(2);

    // Typing by one shows "… is typing" for the other (and never for the typist), then expires.
    await bob.click("[data-testid=chat-input]");
    await bob.keyboard.type("I am typ", { delay: 30 });
    await expect
      .poll(() => ann.locator("[data-testid=typing]").textContent(), { timeout: 10_000 })
      .toBe("Bob Chat is typing…");
    expect(await bob.locator("[data-testid=typing]").textContent()).toBe("");
    await shot(ann, "chat-typing");
    await expect.poll(() => ann.locator("[data-testid=typing]").textContent(), { timeout: 10_000 }).toBe("");

    // Leaving removes the member.
    await bob.close();
    await member(ann, "Bob Chat").waitFor({ state: "detached", timeout: 15_000 });
    expect(await ann.locator("[data-testid=online-count]").textContent()).toBe("1");

    // Someone joining later gets the history.
    const cy = await inRoom("Cy Later", "general");
    await cy.locator("[data-testid=chat-message]", { hasText: "Hello Bob, over WebSocket" }).waitFor();
    await cy.locator("[data-testid=chat-message]", { hasText: "Hi Ann!" }).waitFor();
    await member(ann, "Cy Later").waitFor({ timeout: 10_000 });
    await shot(cy, "chat-history");

    // Rooms are separate: a message in #random is not in #general.
    await cy.click('[data-testid=room-link][href="/chat/random"]');
    await cy.waitForURL("**/chat/random");
    await member(cy, "Cy Later").waitFor({ timeout: 10_000 });
    await member(ann, "Cy Later").waitFor({ state: "detached", timeout: 15_000 });
    await say(cy, "Anyone in random?");
    await ann.waitForTimeout(500);
    expect(await ann.locator("[data-testid=chat-message]", { hasText: "Anyone in random?" }).count()).toBe(0);
  }, 120_000);

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
});
