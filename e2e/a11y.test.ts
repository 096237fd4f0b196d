/**
 * Accessibility as a test: axe-core (injected from node_modules into the page) on every demo page
 * at desktop (1280) and phone (390) widths, light and dark (`prefers-color-scheme`, the demo's theme
 * mechanism). Fails on any serious or critical violation. A screenshot of each page in each mode
 * goes to test-output/screenshots/a11y-*.png.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { axe, describeViolations } from "./axe.js";
import {
  buildIfStale,
  launchChromium,
  SCREENSHOTS,
  signedIn,
  startDemo,
  viewContext,
  type Demo,
} from "./demo-server.js";

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
  for (const context of contexts) await context.close();
  await browser?.close();
  await demo?.stop();
});

const WIDTHS = [
  { name: "desktop", width: 1280, height: 860 },
  { name: "mobile", width: 390, height: 844 },
] as const;
const SCHEMES = ["light", "dark"] as const;

describe("axe-core on every demo page", () => {
  test("no serious or critical violations at desktop and phone widths, light and dark", async () => {
    // Content on every page: a finished and a running report, another user, a notification,
    // dashboard samples and activity.
    const other = await signedIn(browser, demo.origin, "Ann Axe");
    const me = await signedIn(browser, demo.origin, "Max Axe");
    contexts.push(other.context, me.context);
    await me.page.click("text=Large"); // still running while every page is checked
    await me.page.click("[data-testid=start-task]");
    await me.page.locator("[data-testid=task-card]").first().waitFor();
    await other.page.goto("/notifications");
    await other.page.click('[data-testid=recipient][data-user-name="Max Axe"]');
    await other.page.fill("#message", "Accessible, I hope");
    await other.page.click("[data-testid=send-notification]");
    await me.page.locator("[data-sonner-toast]", { hasText: "Accessible" }).waitFor({ timeout: 10_000 });
    await other.page.goto("/chat/general"); // a message in the chat
    await other.page.fill("[data-testid=chat-input]", "Is this chat accessible?");
    await other.page.click("[data-testid=chat-send]");
    await other.page.locator("[data-testid=chat-message]", { hasText: "accessible?" }).waitFor({ timeout: 10_000 });

    const pages = ["/signin", "/tasks", "/notifications", "/dashboard", "/chat"];
    const failures: string[] = [];
    const cookies = await me.context.cookies();
    for (const size of WIDTHS) {
      for (const scheme of SCHEMES) {
        const context = await viewContext(browser, demo.origin, size, scheme);
        contexts.push(context);
        const page = await context.newPage();
        for (const route of pages) {
          // The sign-in page renders only without a session.
          if (route === "/signin") await context.clearCookies();
          else if ((await context.cookies()).length === 0) await context.addCookies(cookies);
          await page.goto(route);
          if (route !== "/signin") {
            await page.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
          }
          if (route === "/chat") {
            await page.waitForSelector(
              "[data-testid=chat-connection] [data-testid=connection-indicator][data-state=connected]",
            );
          }
          await page.waitForTimeout(800); // let toasts and springs settle
          const where = `${route} ${size.name} ${scheme}`;
          const found = await axe(page);
          if (found.length > 0) failures.push(describeViolations(where, found));
          await page.screenshot({
            path: path.join(SCREENSHOTS, `a11y-${route.slice(1)}-${size.name}-${scheme}.png`),
            fullPage: true,
          });
        }
      }
    }
    expect(failures.join("\n"), "axe found serious or critical violations").toBe("");
  }, 300_000);
});
