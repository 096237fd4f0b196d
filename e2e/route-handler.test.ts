/**
 * The serverless path in Chromium: the demo on plain `next start`, so every Herald request goes
 * through the catch-all route handlers (`herald.handleRequest`, web streams) instead of the custom
 * server's Node fast path. A task streams to 100% and a notification crosses between two users.
 */
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildIfStale, launchChromium, signedIn, startDemo, type Demo } from "./demo-server.js";

let demo: Demo;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  await buildIfStale();
  demo = await startDemo({ mode: "next" });
  browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  for (const context of contexts) await context.close();
  await browser?.close();
  await demo?.stop();
});

describe("demo on next start (route handlers)", () => {
  test("streams a task to 100% and delivers a notification to another user", async () => {
    const alice = await signedIn(browser, demo.origin, "Rita Route");
    const bob = await signedIn(browser, demo.origin, "Sam Serverless");
    contexts.push(alice.context, bob.context);
    // The SSE stream really is served by the route handler: no custom server is running.
    const sse = await fetch(`${demo.origin}/api/realtime/sse?channel=dashboard`);
    expect(sse.status).toBe(401);
    expect((await sse.json()).error.code).toBe("token_missing");

    const page = alice.page;
    await page.click("[data-testid=start-task]");
    const card = page.locator("[data-testid=task-card]").first();
    await card.waitFor();
    const deadline = Date.now() + 90_000;
    while ((await card.getAttribute("data-status")) !== "succeeded") {
      if (Date.now() > deadline) throw new Error(`task did not finish; server log:\n${demo.log()}`);
      await page.waitForTimeout(250);
    }
    expect(await card.locator("[role=progressbar]").getAttribute("aria-valuenow")).toBe("100");

    await bob.page.goto("/notifications");
    await bob.page.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
    await page.goto("/notifications");
    await page.click('[data-testid=recipient][data-user-name="Sam Serverless"]');
    const message = `hello over route handlers ${Date.now()}`;
    await page.fill("#message", message);
    await page.click("[data-testid=send-notification]");
    await bob.page.locator("[data-sonner-toast]", { hasText: message }).waitFor({ timeout: 15_000 });
  }, 180_000);
});
