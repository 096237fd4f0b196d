/**
 * The demo in seven tabs of one signed-in browser (issue 20): the tabs share one SSE connection (the
 * server's `herald_connections{transport="sse"}` gauge says 1; seven streams would pass the
 * browser's six connections per host), every tab's indicator is Live, and a report started in one
 * tab appears in all seven.
 */
import { describe, expect, test } from "vitest";
import { demoSuite } from "./demo-suite.js";

const suite = demoSuite({ env: { DEMO_PACE: "5" } });

async function sseConnections(): Promise<number> {
  const text = await (await fetch(`${suite.demo.origin}/api/realtime/metrics`)).text();
  return Number(/^herald_connections\{transport="sse"\} (\d+)$/m.exec(text)?.[1]);
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("the demo in seven tabs", () => {
  test("seven tabs hold one connection, every one of them live", async () => {
    const first = await suite.user("Septima Seven");
    const pages = [first];
    for (let i = 1; i < 7; i++) {
      const page = await first.context().newPage();
      await page.goto("/tasks");
      pages.push(page);
    }
    for (const page of pages)
      await page.waitForSelector("[data-testid=connection-indicator][data-state=connected]", { timeout: 30_000 });
    await eventually(async () => (await sseConnections()) === 1, "one SSE connection on the server");

    await first.click("[data-testid=start-task]");
    await first.locator("[data-testid=task-card]").first().waitFor({ timeout: 15_000 });
    const id = await first.locator("[data-testid=task-card]").first().getAttribute("data-task-id");
    for (const page of pages)
      await page.locator(`[data-testid=task-card][data-task-id="${id}"]`).waitFor({ timeout: 15_000 });
    expect(await sseConnections()).toBe(1);
    await suite.shot(pages[6]!, "demo-seventh-tab");
  }, 120_000);
});
