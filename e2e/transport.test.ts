/**
 * Issue 11 in the demo: the connection indicator shows the active transport, and the demo can force
 * one. With `?transport=poll` the page never opens an SSE stream, yet a task runs to 100% and a
 * notification from another user arrives; the indicator says "Polling". The header's setting then
 * switches the page back to SSE.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildIfStale, launchChromium, signedIn, startDemo, type Demo } from "./demo-server.js";

let demo: Demo;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  await buildIfStale();
  demo = await startDemo();
  browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  for (const context of contexts) await context.close();
  await browser?.close();
  await demo?.stop();
});

async function user(name: string): Promise<Page> {
  const { context, page } = await signedIn(browser, demo.origin, name);
  contexts.push(context);
  return page;
}

const indicator = (page: Page) => page.locator("[data-testid=connection-indicator]");

describe("transport in the demo", () => {
  test("forced to poll: a task reaches 100%, a notification arrives, the indicator says Polling", async () => {
    const polly = await user("Polly Poller");
    const sam = await user("Sam Sender");
    // Negotiated by default: SSE, shown in the indicator.
    await expect.poll(() => indicator(polly).getAttribute("data-transport")).toBe("sse");
    expect(await polly.locator("[data-testid=connection-transport]").textContent()).toBe("SSE");

    const realtime: string[] = [];
    polly.on("request", (request) => {
      const { pathname } = new URL(request.url());
      if (/^\/api\/realtime\/(sse|poll)$/.test(pathname)) realtime.push(pathname);
    });
    await polly.goto("/tasks?transport=poll");
    await polly.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
    expect(await indicator(polly).getAttribute("data-transport")).toBe("poll");
    const label = polly.locator("[data-testid=connection-transport]");
    expect(await label.textContent()).toBe("Polling (forced)");
    expect(await label.getAttribute("data-forced")).toBe("true");
    expect(await indicator(polly).textContent()).toMatch(/^Live/);
    expect(await polly.locator("[data-testid=transport-select]").inputValue()).toBe("poll");

    await polly.click("[data-testid=start-task]");
    const card = polly.locator("[data-testid=task-card]").first();
    await card.waitFor();
    const seen: number[] = [];
    const deadline = Date.now() + 90_000;
    while ((await card.getAttribute("data-status")) !== "succeeded") {
      if (Date.now() > deadline) throw new Error(`task did not finish; server log:\n${demo.log()}`);
      seen.push(Number(await card.locator("[role=progressbar]").getAttribute("aria-valuenow")));
      await polly.waitForTimeout(250);
    }
    expect(await card.locator("[role=progressbar]").getAttribute("aria-valuenow")).toBe("100");
    expect(seen.filter((p) => p > 0 && p < 100).length).toBeGreaterThan(2); // it moved live, not only at the end
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(await card.textContent()).toMatch(/revenue reached \$/);

    // The choice is kept (a cookie): another page is still on polling.
    await polly.goto("/notifications");
    await polly.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
    expect(await indicator(polly).getAttribute("data-transport")).toBe("poll");
    await sam.goto("/notifications");
    await sam.click('[data-testid=recipient][data-user-name="Polly Poller"]');
    const message = `over long-polling ${Date.now()}`;
    await sam.fill("#message", message);
    await sam.click("[data-testid=send-notification]");
    await polly.locator("[data-sonner-toast]", { hasText: message }).waitFor({ timeout: 15_000 });
    await polly.locator("[data-testid=inbox]", { hasText: message }).waitFor();

    expect(realtime.length).toBeGreaterThan(0);
    expect(realtime.filter((p) => p.endsWith("/sse"))).toEqual([]);

    // The header's setting switches back (the page reloads on the new transport).
    await Promise.all([polly.waitForEvent("load"), polly.selectOption("[data-testid=transport-select]", "sse")]);
    await polly.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
    expect(await indicator(polly).getAttribute("data-transport")).toBe("sse");
    expect(await polly.locator("[data-testid=connection-transport]").textContent()).toBe("SSE (forced)");
  }, 180_000);
});
