/**
 * The demo's operations page in a real Chromium against the demo's custom server: connections per
 * transport, deliveries and the publish-to-receive latency measured in the browser arrive over
 * Herald itself, and the same server answers a Prometheus scrape at /api/realtime/metrics. The
 * page's screenshot goes to test-output/screenshots/operations.png.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
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

afterAll(async () => {
  for (const context of contexts.splice(0)) await context.close();
  await browser?.close();
  await demo?.stop();
});

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; server log:\n${demo.log()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("demo: operations page", () => {
  test("shows live connections, deliveries and browser-measured latency; /api/realtime/metrics answers", async () => {
    const { context, page } = await signedIn(browser, demo.origin, "Olga Ops");
    contexts.push(context);
    await page.goto(`${demo.origin}/operations`);
    await page.getByRole("link", { name: "Operations" }).waitFor();
    const value = async (id: string) => Number(await page.locator(`[data-testid=${id}]`).getAttribute("data-value"));
    await eventually(async () => (await value("ops-connections")) >= 1, "a connection to be shown");
    await eventually(async () => (await value("ops-latency")) > 0, "a latency ping to come back");
    await eventually(
      async () => Number(await page.locator("[data-testid=ops-transports] [data-transport]").count()) === 3,
      "the transports list",
    );
    await page.screenshot({ path: path.join(SCREENSHOTS, "operations.png"), fullPage: true });

    const scrape = await fetch(`${demo.origin}/api/realtime/metrics`);
    expect(scrape.status).toBe(200);
    const text = await scrape.text();
    const open = Number(/^herald_connections\{transport="sse"\} (\d+)$/m.exec(text)?.[1]);
    expect(open).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^herald_publishes_total\{result="ok"\} [1-9]/m);
    expect(text).not.toContain("Olga");
  }, 120_000);
});
