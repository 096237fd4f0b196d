/**
 * The quickstart (examples/next-quickstart, the code the README and guides show) built with
 * `next build` and served by `next start`, in Chromium: task progress across a reload, cancel, a
 * notification to the signed-in user, the public counter, and a signed-out visitor who signs in.
 * Run on Next.js 15 (the workspace's) and on Next.js 16 (installed with the packed library, see
 * quickstart-next16.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { launchChromium, SCREENSHOTS } from "./demo-server.js";
import { buildQuickstartIfStale, startQuickstart, type NextMajor, type Quickstart } from "./quickstart-server.js";

/** The app of the suite that runs (the suites run one after the other). */
let app: Quickstart;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

/** Console errors and failed requests (4xx, 5xx) each page showed, as the browser's console lists them. */
const problems = new WeakMap<Page, string[]>();

async function visit(): Promise<Page> {
  const context = await browser.newContext({ baseURL: app.origin });
  contexts.push(context);
  const page = await context.newPage();
  const seen: string[] = [];
  problems.set(page, seen);
  page.on("console", (m) => {
    if (m.type() === "error") seen.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) seen.push(`${r.status()} ${new URL(r.url()).pathname}`);
  });
  await Promise.all([waitForStream(page, "counter"), page.goto("/")]);
  // Signed out or in, the page's connection is open (a signed-out visitor connects anonymously).
  await page.waitForSelector(".connection[data-state=connected]");
  return page;
}

/**
 * Resolves when the page's connection carries `channel`: a stream opened with it, or a change of
 * the open stream's channels (`POST …/channels`) that added it.
 */
function waitForStream(page: Page, channel: string): Promise<unknown> {
  return page.waitForResponse(
    (r) => {
      const url = new URL(r.url());
      if (r.status() !== 200) return false;
      if (url.pathname === "/api/realtime/sse") return url.searchParams.getAll("channel").includes(channel);
      if (url.pathname !== "/api/realtime/channels") return false;
      const body = JSON.parse(r.request().postData() ?? "{}") as { channels?: string[] };
      return body.channels?.includes(channel) === true;
    },
    { timeout: 20_000 },
  );
}

/** Signs in through the page's form (a Server Action), without a navigation. */
async function signIn(page: Page, name: string): Promise<void> {
  const stream = waitForStream(page, `user-${name}`);
  await page.fill("input[name=name]", name);
  await page.click("text=Sign in");
  await page.waitForSelector(`.user:text-is("${name}")`);
  await stream;
}

const percent = async (page: Page) => Number((await page.textContent(".task .percent"))!.replace("%", ""));

describe.each([15, 16] satisfies NextMajor[])("the quickstart on next start, Next.js %i", (next) => {
  beforeAll(async () => {
    app = await startQuickstart(await buildQuickstartIfStale(next));
  }, 600_000);

  afterAll(async () => {
    for (const context of contexts.splice(0)) await context.close().catch(() => {});
    await app?.stop();
  });

  it(`runs on Next.js ${next}`, () => {
    expect(app.log()).toContain(`Next.js ${next}.`);
  });

  it("shows a task's progress, steps and text across a reload, to 100% and the result", async () => {
    const page = await visit();
    await signIn(page, "ann");
    await page.click("text=Start a report");
    await page.waitForSelector(".task[data-status=running]");
    await expect.poll(() => percent(page), { timeout: 10_000 }).toBeGreaterThanOrEqual(10);
    const before = await percent(page);
    expect(before).toBeLessThan(100);

    await page.reload();
    // After the reload the task list comes back from the server, and the card continues live.
    // (A card is "loading", at 0%, until its snapshot arrives.)
    await page.waitForSelector(".task:not([data-status=loading])");
    expect(await percent(page)).toBeGreaterThanOrEqual(before);
    await page.waitForSelector(".task[data-status=succeeded]", { timeout: 20_000 });
    expect(await percent(page)).toBe(100);
    expect(await page.textContent(".task .result")).toBe("Done: 12 pages");
    expect((await page.textContent(".task .text"))!.trim()).toBe("Sales rose in every region this month.");
    expect(await page.$$eval(".task li", (items) => items.map((li) => li.textContent))).toEqual([
      "fetch: done",
      "write: done",
    ]);

    // A second report, canceled while it runs.
    await page.click("text=Start a report");
    await page.waitForSelector(".task:first-of-type[data-status=running]");
    await page.click(".task:first-of-type >> text=Cancel");
    await page.waitForSelector(".task:first-of-type[data-status=canceled]");
    expect(await page.locator(".task").count()).toBe(2);
  });

  it("chat on next start: who is online, and messages to the others, over the default transport (no custom server)", async () => {
    const ann = await visit();
    await signIn(ann, "ann");
    const bob = await visit();
    await signIn(bob, "bob");
    // Presence: each sees both, once per user.
    for (const page of [ann, bob]) await page.waitForSelector('.online:text-is("Online: ann, bob")');
    await ann.fill("input[name=text]", "hi bob");
    await ann.click("text=Send");
    await bob.waitForSelector('.chat li:text-is("ann: hi bob")');
    await ann.waitForSelector('.chat li:text-is("me: hi bob")');
    await bob.fill("input[name=text]", "hi ann");
    await bob.click("text=Send");
    await ann.waitForSelector('.chat li:text-is("bob: hi ann")');
    // Never echoed back to the sender: each line once.
    expect(await ann.locator(".chat li").allTextContents()).toEqual(["me: hi bob", "bob: hi ann"]);
    expect(await bob.locator(".chat li").allTextContents()).toEqual(["ann: hi bob", "me: hi ann"]);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await ann.screenshot({ path: path.join(SCREENSHOTS, `quickstart-chat-next${next}.png`), fullPage: true });
    expect(await ann.getAttribute(".connection", "data-transport")).not.toBe("ws");
    // Bob leaves: Ann sees it.
    await bob.context().close();
    await ann.waitForSelector('.online:text-is("Online: ann")');
  });

  it("delivers a notification to the signed-in user only", async () => {
    const ann = await visit();
    await signIn(ann, "ann");
    const eve = await visit();
    await signIn(eve, "eve");
    await ann.click("text=Notify me");
    await ann.waitForSelector('.notifications li:text-is("Hello, ann!")');
    await eve.click("text=Notify me");
    await eve.waitForSelector('.notifications li:text-is("Hello, eve!")');
    expect(await ann.locator(".notifications li").count()).toBe(1);
    expect(await eve.locator(".notifications li").count()).toBe(1);
  });

  it("shows the public counter to a signed-out visitor, who then signs in without a reload and gets a notification", async () => {
    const visitor = await visit();
    expect(await visitor.locator(".user").count()).toBe(0);
    // Signed out is an answer, not an error: nothing red in the console (the token request once was a 401).
    expect(problems.get(visitor)).toEqual([]);
    const other = await visit();
    await signIn(other, "carol");

    const count = async (page: Page) => Number(await page.textContent(".count"));
    const start = await count(visitor);
    await other.click("text=+1");
    await expect.poll(() => count(visitor), { timeout: 10_000 }).toBe(start + 1);
    await visitor.click("text=+1"); // anyone may count, signed out too
    await expect.poll(() => count(other), { timeout: 10_000 }).toBe(start + 2);

    // Sign in through the Server Action: same document (no reload), the stream reconnects with a token.
    await visitor.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    await signIn(visitor, "bob");
    await visitor.waitForSelector(".connection[data-state=connected]");
    await visitor.click("text=Notify me");
    await visitor.waitForSelector('.notifications li:text-is("Hello, bob!")');
    await other.click("text=+1");
    await expect.poll(() => count(visitor), { timeout: 10_000 }).toBe(start + 3);
    expect(await visitor.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    expect(app.log()).not.toMatch(/error/i);
  });
});
