/**
 * The demo on two processes sharing one Redis (issue 12, "Demo on several processes"): a private
 * redis-server, two demo servers with HERALD_REDIS_URL and one session secret, Chromium. A report
 * started on process A is watched live on process B to 100% with its summary and result (B reads
 * the task's snapshot from Redis and its events through the shared broker), and a notification sent
 * from a user on A reaches a user connected to B. Signed-in users are shared through Redis
 * (apps/demo/lib/users.ts), so a cookie from A is honoured by B (cookies ignore the port).
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startRedis, type TestRedis } from "../packages/herald/test/redis/redis-server.js";
import { buildIfStale, launchChromium, signedIn, startDemo, type Demo } from "./demo-server.js";

let redis: TestRedis;
let a: Demo;
let b: Demo;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  redis = await startRedis();
  await buildIfStale();
  const env = {
    HERALD_REDIS_URL: redis.url,
    DEMO_SESSION_SECRET: "multi-process-e2e-secret-0123456789",
    HERALD_HEARTBEAT_MS: "2000",
  };
  [a, b] = await Promise.all([startDemo({ env }), startDemo({ env })]);
  browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

async function user(origin: string, name: string): Promise<Page> {
  const { context, page } = await signedIn(browser, origin, name);
  contexts.push(context);
  return page;
}

const logs = () => `\n--- process A ---\n${a.log()}\n--- process B ---\n${b.log()}`;

describe("the demo on two processes sharing Redis", () => {
  test("a task started on A is watched on B to 100%, with its summary and result", async () => {
    const onA = await user(a.origin, "Multi Ann");
    await onA.click('[data-testid=report-size][data-value="small"]');
    await onA.click("[data-testid=start-task]");
    const cardA = onA.locator("[data-testid=task-card]").first();
    await cardA.waitFor();
    const id = await cardA.getAttribute("data-task-id");
    expect(id).toBeTruthy();

    // Same browser context: the session cookie (host localhost, any port) goes to B too.
    const onB = await onA.context().newPage();
    await onB.goto(`${b.origin}/tasks`);
    expect(new URL(onB.url()).pathname).toBe("/tasks"); // signed in on B, not sent to /signin
    await onB.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
    const cardB = onB.locator(`[data-testid=task-card][data-task-id="${id}"]`);
    await cardB.waitFor({ timeout: 10_000 });
    // B sees it running (from Redis's snapshot), then follows it live through the shared broker.
    expect(await cardB.getAttribute("data-status")).toBe("running");
    const seenOnB: number[] = [];
    const deadline = Date.now() + 40_000;
    for (;;) {
      const percent = Number((await cardB.locator("[data-testid=task-percent]").textContent())?.replace("%", ""));
      if (seenOnB.at(-1) !== percent) seenOnB.push(percent);
      if ((await cardB.getAttribute("data-status")) === "succeeded") break;
      if (Date.now() > deadline) throw new Error(`the task did not finish on B (seen ${seenOnB});${logs()}`);
      await onB.waitForTimeout(200);
    }
    expect(seenOnB.length).toBeGreaterThan(2); // progress moved while B watched
    expect(seenOnB[0]).toBeLessThan(100);
    for (let i = 1; i < seenOnB.length; i++) expect(seenOnB[i]).toBeGreaterThanOrEqual(seenOnB[i - 1]!);
    await cardB.locator("[data-testid=task-percent]", { hasText: "100%" }).waitFor();
    await cardB.locator("dl", { hasText: "Top region" }).waitFor();

    // A shows the same finished task: same result and same streamed summary.
    await onA.locator(`[data-testid=task-card][data-task-id="${id}"][data-status=succeeded]`).waitFor();
    const resultA = await cardA.locator("dl").innerText();
    const resultB = await cardB.locator("dl").innerText();
    expect(resultB).toBe(resultA);
    // The summary types itself out: compare once neither card shows the typing caret.
    const summary = async (card: typeof cardA) => {
      const text = card.locator("p[aria-live=polite]");
      await expect.poll(() => text.locator("span[aria-hidden]").count(), { timeout: 15_000 }).toBe(0);
      return text.innerText();
    };
    const summaryB = await summary(cardB);
    expect(summaryB).toMatch(/valid orders/);
    expect(await summary(cardA)).toBe(summaryB);
  }, 60_000);

  test("a notification sent from a user on A reaches the recipient connected to B", async () => {
    const bob = await user(b.origin, "Multi Bob");
    await bob.goto(`${b.origin}/notifications`);
    await bob.waitForSelector("[data-testid=connection-indicator][data-state=connected]");

    const alice = await user(a.origin, "Multi Alice");
    await alice.goto(`${a.origin}/notifications`);
    await alice.click('[data-testid=recipient][data-user-name="Multi Bob"]');
    const message = `Sent from process A — ${Date.now()}`;
    await alice.fill("#message", message);
    await alice.click("[data-testid=send-notification]");

    const toast = bob.locator("[data-sonner-toast]", { hasText: message });
    await toast.waitFor({ timeout: 10_000 }).catch((error: Error) => {
      throw new Error(`${error.message};${logs()}`);
    });
    expect(await toast.textContent()).toContain("Multi Alice");
  }, 30_000);
});
