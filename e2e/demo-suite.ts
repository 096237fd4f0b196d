/**
 * One demo server and one Chromium for a browser-test file, with signed-in users whose contexts are
 * closed after each test: `const suite = demoSuite(); … await suite.user("Ann")`.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll } from "vitest";
import { buildIfStale, launchChromium, SCREENSHOTS, signedIn, startDemo, type Demo } from "./demo-server.js";

/** What {@link demoSuite} gives a test file (set once its `beforeAll` has run). */
export interface DemoSuite {
  readonly demo: Demo;
  readonly browser: Browser;
  /** A new context signed in as `name`, on the tasks page; closed after the test. */
  user(name: string): Promise<Page>;
  /** A full-page screenshot in test-output/screenshots/{name}.png. */
  shot(page: Page, name: string): Promise<unknown>;
}

/** Registers the hooks: build what is stale, start the demo (with `env`), launch Chromium. */
export function demoSuite(options: { env?: Record<string, string> } = {}): DemoSuite {
  let demo: Demo | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  beforeAll(async () => {
    await buildIfStale();
    demo = await startDemo({ env: options.env });
    browser = await launchChromium();
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 600_000);
  afterEach(async () => {
    if (demo) await fetch(`${demo.origin}/api/e2e/release`, { method: "POST" }).catch(() => undefined);
    for (const context of contexts.splice(0)) await context.close();
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });
  return {
    get demo() {
      return demo!;
    },
    get browser() {
      return browser!;
    },
    async user(name) {
      const { context, page } = await signedIn(browser!, demo!.origin, name);
      contexts.push(context);
      return page;
    },
    shot: (page, name) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true }),
  };
}
