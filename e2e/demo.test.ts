/**
 * The demo app in a real Chromium (Debian's, through playwright-core) against its custom server:
 * tasks to 100%, reload mid-task, a notification between two users, a cut connection that comes
 * back without losing an event, and subscribers leaving when pages do. Screenshots of each page go
 * to test-output/screenshots/.
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

// Each test starts without the previous one's browser contexts, even when it failed midway.
afterEach(async () => {
  await closeAll();
});

afterAll(async () => {
  await browser?.close();
  await demo?.stop();
});

async function user(name: string): Promise<Page> {
  const { context, page } = await signedIn(browser, demo.origin, name);
  contexts.push(context);
  return page;
}

async function closeAll(): Promise<void> {
  for (const context of contexts.splice(0)) await context.close();
}

async function stats(...channels: string[]): Promise<{ subscribers: number; subscriberCount: Record<string, number> }> {
  const query = channels.map((c) => `channel=${encodeURIComponent(c)}`).join("&");
  const response = await fetch(`${demo.origin}/api/demo/stats?${query}`);
  return (await response.json()) as { subscribers: number; subscriberCount: Record<string, number> };
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
const progressOf = async (page: Page, selector = "[data-testid=task-card]") =>
  Number(await page.locator(`${selector} [role=progressbar]`).first().getAttribute("aria-valuenow"));

describe("demo in Chromium", () => {
  test("a task runs to 100% with every step done, progress never going back", async () => {
    const page = await user("Tess Tasker");
    await page.click("[data-testid=start-task]");
    await page.locator("[data-testid=task-card]").first().waitFor();
    const id = await page.locator("[data-testid=task-card]").first().getAttribute("data-task-id");
    const selector = `[data-testid=task-card][data-task-id="${id}"]`;
    const card = page.locator(selector);
    const seen: number[] = [];
    let midShot = false;
    let startedSecond = false;
    const deadline = Date.now() + 60_000;
    while ((await card.getAttribute("data-status")) !== "succeeded") {
      if (Date.now() > deadline) throw new Error(`task did not finish; server log:\n${demo.log()}`);
      seen.push(await progressOf(page, selector));
      const progress = seen[seen.length - 1]!;
      if (!startedSecond && progress >= 40) {
        startedSecond = true;
        await page.click("text=Medium"); // a second, bigger one alongside
        await page.click("[data-testid=start-task]");
      }
      if (!midShot && progress >= 88) {
        midShot = true; // the summary is streaming
        await shot(page, "tasks-running");
      }
      await page.waitForTimeout(150);
    }
    expect(Number(await card.locator("[role=progressbar]").getAttribute("aria-valuenow"))).toBe(100);
    const steps = await card
      .locator("[data-step-status]")
      .evaluateAll((els) => els.map((el) => el.getAttribute("data-step-status")));
    expect(steps).toEqual(["done", "done", "done", "done", "done"]);
    expect(await card.textContent()).toMatch(/revenue reached \$/);
    expect(seen.length).toBeGreaterThan(5);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(midShot).toBe(true);
    // The second task keeps running; cancel it.
    const second = page.locator("[data-testid=task-card][data-status=running]").first();
    await second.locator("[data-testid=cancel-task]").click();
    await page.locator("[data-testid=task-card][data-status=canceled]").waitFor();
    await page
      .locator("[data-sonner-toast]")
      .first()
      .waitFor({ state: "detached", timeout: 1 })
      .catch(() => {});
    await shot(page, "tasks-done");
    await closeAll();
  }, 120_000);

  test("reloading mid-task continues from the snapshot, not from 0", async () => {
    const page = await user("Rhea Reload");
    await page.click("[data-testid=start-task]");
    const card = page.locator("[data-testid=task-card]").first();
    await card.waitFor();
    await eventually(async () => (await progressOf(page)) >= 30, "30% progress");
    const before = await progressOf(page);
    await page.reload({ waitUntil: "commit" });
    await page.locator("[data-testid=task-card] [role=progressbar]").first().waitFor();
    const after = await progressOf(page); // the server-rendered snapshot, before any live event
    expect(after).toBeGreaterThanOrEqual(before);
    expect(await card.getAttribute("data-status")).toBe("running");
    await page.locator("[data-testid=task-card][data-status=succeeded]").waitFor({ timeout: 60_000 });
    expect(await progressOf(page)).toBe(100);
    await closeAll();
  }, 120_000);

  test("a notification from one user arrives as a toast in every tab of the other", async () => {
    const bob = await user("Bob Receiver");
    await bob.goto("/notifications");
    const bobOtherTab = await bob.context().newPage();
    await bobOtherTab.goto("/dashboard");
    await bobOtherTab.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
    await bob.waitForSelector("[data-testid=connection-indicator][data-state=connected]");

    const alice = await user("Alice Sender");
    await alice.goto("/notifications");
    await alice.click('[data-testid=recipient][data-user-name="Bob Receiver"]');
    const message = `Your report is ready — ${Date.now()}`;
    await alice.fill("#message", message);
    await alice.click("[data-testid=send-notification]");

    for (const page of [bob, bobOtherTab]) {
      const toast = page.locator("[data-sonner-toast]", { hasText: message });
      await toast.waitFor({ timeout: 10_000 });
      expect(await toast.textContent()).toContain("Alice Sender");
    }
    await bob.locator("[data-testid=inbox]", { hasText: message }).waitFor();
    await bob.waitForTimeout(700); // let the toast finish sliding in
    await alice.waitForSelector('[data-testid=recipient][data-user-name="Bob Receiver"]');
    await shot(bob, "notifications-toast");
    await closeAll();
  }, 60_000);

  test("a cut connection turns the indicator amber, then green, and no event is missed", async () => {
    const page = await user("Cora Cut");
    await page.goto("/dashboard");
    const indicator = page.locator("[data-testid=connection-indicator]");
    await page.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
    await page.waitForTimeout(500);

    const cut = (await (await fetch(`${demo.origin}/api/e2e/cut?ms=3000`, { method: "POST" })).json()) as {
      cut: number;
    };
    expect(cut.cut).toBeGreaterThanOrEqual(1);
    await page.waitForSelector("[data-testid=connection-indicator][data-state=connecting]", { timeout: 5000 });
    // Published while the browser is cut off: it must get every one after it reconnects.
    const published = await fetch(`${demo.origin}/api/e2e/publish?from=1&count=10`, { method: "POST" });
    expect(published.ok).toBe(true);
    await page.locator("[data-sonner-toast]", { hasText: "Reconnecting" }).waitFor({ timeout: 10_000 });
    await shot(page, "reconnecting");
    await page.waitForSelector("[data-testid=connection-indicator][data-state=connected]", { timeout: 30_000 });
    await page.locator("[data-sonner-toast]", { hasText: "Back online" }).waitFor({ timeout: 5000 });
    expect(await indicator.getAttribute("data-state")).toBe("connected");

    await eventually(async () => (await page.locator("[data-kind=probe]").count()) >= 10, "ten probe events");
    // The first line only: the second is a "9s ago" label that would run into the number.
    const probes = await page.locator("[data-kind=probe] p:first-child").allTextContents();
    const numbers = probes.map((t) => Number(/Probe #(\d+)/.exec(t)?.[1])).sort((a, b) => a - b);
    expect(numbers).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await closeAll();
  }, 90_000);

  test("leaving a page drops the server's subscribers", async () => {
    await eventually(async () => (await stats()).subscribers === 0, "no subscribers before the test");
    const page = await user("Nia Navigator");
    await page.goto("/dashboard");
    await eventually(async () => (await stats("dashboard")).subscriberCount.dashboard === 1, "a dashboard subscriber");
    // The live counter shows this very connection.
    await page.waitForSelector("[data-testid=counter-connections][data-value='1']");
    await page.click("text=Publish a burst");
    await page.waitForTimeout(4500);
    await shot(page, "dashboard");

    // Client-side navigation: the connection stays, the dashboard channel goes.
    await page.click('nav a[href="/tasks"]');
    await page.waitForURL("**/tasks");
    await eventually(
      async () => (await stats("dashboard")).subscriberCount.dashboard === 0,
      "the dashboard channel to drop",
    );
    expect((await stats()).subscribers).toBe(1);
    // Leaving the app closes the connection.
    await page.goto("about:blank");
    await eventually(async () => (await stats()).subscribers === 0, "the connection to close");
    await closeAll();
  }, 60_000);
});
