/**
 * Issue 19, the demo's task board in Chromium (its custom server): the cap of 5 running reports is
 * said and Start disabled, a refused start (a tab that had not seen the others) is a message, not a
 * 500 (#1); a report started in one tab appears in the user's other tab without a reload (#6); at
 * phone width titles show their row count, reports of one size have different titles, and while
 * a card says "Paused" nothing in it spins (#17). Screenshots go to test-output/screenshots/.
 */
import type { Page } from "playwright-core";
import { describe, expect, test } from "vitest";
import { demoSuite } from "./demo-suite.js";

// Slow reports (a small one runs ~60 s): they are still running when the test looks.
const suite = demoSuite({ env: { DEMO_PACE: "5" } });
const { user, shot } = suite;

/** Every 5xx answer the page gets. */
function serverErrors(page: Page): string[] {
  const seen: string[] = [];
  page.on("response", (r) => {
    if (r.status() >= 500) seen.push(`${r.status()} ${r.request().method()} ${r.url()}`);
  });
  return seen;
}

const cards = (page: Page) => page.locator("[data-testid=task-card]");

/** Clicks Start and waits until the board shows one more card. */
async function startOne(page: Page): Promise<void> {
  const before = await cards(page).count();
  await page.click("[data-testid=start-task]");
  await page.waitForFunction((n) => document.querySelectorAll("[data-testid=task-card]").length > n, before);
}

describe("the task board (issue 19)", () => {
  test("#6 a report started in one tab appears in the user's other tab, no reload", async () => {
    const first = await user("Tabitha Tabs");
    const second = await first.context().newPage();
    await second.goto("/tasks");
    await second.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
    expect(await cards(second).count()).toBe(0);
    await second.evaluate(() => ((window as unknown as { marker: number }).marker = 7));

    await startOne(first);
    const id = await cards(first).first().getAttribute("data-task-id");
    await second.locator(`[data-testid=task-card][data-task-id="${id}"]`).waitFor({ timeout: 15_000 });
    await second
      .locator(`[data-testid=task-card][data-task-id="${id}"] [data-step-status=active]`)
      .first()
      .waitFor({ timeout: 15_000 });
    expect(await second.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(7);
  }, 90_000);

  test("#1 at 5 running reports Start is disabled and says why; a stale tab's start is refused with that message, no 500", async () => {
    const page = await user("Capella Cap");
    // A second tab that misses the other tab's starts: its realtime connection cannot open.
    const stale = await page.context().newPage();
    await stale.route("**/api/realtime/token?*", (route) => route.abort());
    await stale.goto("/tasks");
    const errors = [...serverErrors(page), ...serverErrors(stale)];
    const staleErrors = serverErrors(stale);

    for (let i = 0; i < 5; i++) await startOne(page);
    const start = page.locator("[data-testid=start-task]");
    await page.waitForSelector("[data-testid=start-task]:disabled");
    expect(await page.locator("[data-testid=task-cap]").textContent()).toBe(
      "5 reports are running; wait for one to finish.",
    );
    expect(await start.isDisabled()).toBe(true);
    await shot(page, "tasks-at-cap");

    expect(await cards(stale).count()).toBe(0);
    await stale.click("[data-testid=start-task]");
    await stale.getByText("5 reports are running; wait for one to finish.").first().waitFor();
    // The refusal also brings the list up to date: the five running reports, Start disabled.
    await stale.waitForFunction(() => document.querySelectorAll("[data-testid=task-card]").length === 5);
    await stale.waitForSelector("[data-testid=start-task]:disabled");
    await shot(stale, "tasks-refused");
    expect(staleErrors).toEqual([]);
    expect(errors).toEqual([]);
    expect(suite.demo.log()).not.toMatch(/too_many_tasks|Server Components render/);

    // Canceling one frees a place.
    await cards(page).first().locator("[data-testid=cancel-task]").click();
    await page.waitForSelector("[data-testid=start-task]:enabled");
    expect(await page.locator("[data-testid=task-cap]").count()).toBe(0);
  }, 120_000);

  test("#17 at 390 and 320 px a title shows its row count; two reports of one size have different titles", async () => {
    const page = await user("Tina Titles");
    await startOne(page);
    await startOne(page);
    const titles = await page.locator("[data-testid=task-title]").allTextContents();
    expect(titles).toHaveLength(2);
    expect(new Set(titles).size).toBe(2);
    for (const title of titles) expect(title).toMatch(/60,000 rows/);
    for (const width of [390, 320]) {
      await page.setViewportSize({ width, height: 800 });
      const fits = await page.locator("[data-testid=task-title]").evaluateAll((els) =>
        els.map((el) => {
          const box = el.getBoundingClientRect();
          const card = el.closest("[data-testid=task-card]")!.getBoundingClientRect();
          return el.scrollWidth <= el.clientWidth && box.right <= card.right && box.width > 0;
        }),
      );
      expect(fits, `titles fit at ${width} px`).toEqual([true, true]);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      await shot(page, `tasks-titles-${width}`);
    }
  }, 90_000);

  test("#17 while a card says Paused, no spinner in it turns (step list included)", async () => {
    const page = await user("Pablo Pause");
    await startOne(page);
    const card = cards(page).first();
    await card.locator("[data-step-status=active]").first().waitFor();
    const spinning = () =>
      card.evaluate(
        (el) =>
          el
            .getAnimations({ subtree: true })
            .filter((a) => a.playState === "running" && a.effect?.getComputedTiming().iterations === Infinity).length,
      );
    expect(await spinning()).toBeGreaterThan(0);
    await fetch(`${suite.demo.origin}/api/e2e/cut?hold=1`, { method: "POST" });
    await card.locator("[data-testid=task-status]", { hasText: "Paused" }).waitFor({ timeout: 15_000 });
    await expect.poll(spinning, { timeout: 5_000 }).toBe(0);
    await shot(page, "tasks-paused-steps");
  }, 90_000);
});
