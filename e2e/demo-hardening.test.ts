/**
 * The demo's own holes (issue 13: #4, #7-#10, #13) and "the UI tells the truth" (issue 9), against
 * the demo's custom server in Chromium. Hole checks sign in through the browser, then probe the
 * server with plain HTTP using the browser's cookie. Screenshots go to test-output/screenshots/.
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

afterEach(async () => {
  await fetch(`${demo.origin}/api/e2e/release`, { method: "POST" }).catch(() => undefined);
  for (const context of contexts.splice(0)) await context.close();
});

afterAll(async () => {
  await browser?.close();
  await demo?.stop();
});

async function user(name: string, origin = demo.origin): Promise<Page> {
  const { context, page } = await signedIn(browser, origin, name);
  contexts.push(context);
  return page;
}

async function fresh(origin = demo.origin): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: origin });
  contexts.push(context);
  return context.newPage();
}

/** The `Cookie` header the browser would send, and the session's user id. */
async function sessionOf(page: Page): Promise<{ cookie: string; id: string; secure: boolean }> {
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "herald_demo_session");
  if (!session) throw new Error("no session cookie");
  const body = JSON.parse(Buffer.from(session.value.split(".")[0]!, "base64url").toString("utf8")) as { id: string };
  return { cookie: `${session.name}=${session.value}`, id: body.id, secure: session.secure };
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const post = (p: string) => fetch(`${demo.origin}${p}`, { method: "POST" });
const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

/** Submits the sign-in form with `name` (set directly, so control characters reach the server). */
async function trySignIn(page: Page, name: string): Promise<void> {
  await page.locator("#name").evaluate((el, value) => {
    const input = el as HTMLInputElement;
    // React tracks the value; go through the native setter so it sees the change.
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value")!.set!.call(input, value);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }, name);
  await page.click("button[type=submit]");
}

describe("the demo's holes (issue 13)", () => {
  test("#7 sign-in never redirects off-site; it returns to the page that asked for it", async () => {
    for (const next of ["/%5Cevil.example/phish", "//evil.example/phish", "/\\evil.example", "https://evil.example/"]) {
      const page = await fresh();
      const offsite: string[] = [];
      page.on("request", (request) => {
        if (!request.url().startsWith(demo.origin)) offsite.push(request.url());
      });
      await page.goto(`/signin?next=${next}`);
      await page.fill("#name", `Rex Redirect ${offsite.length}${Math.random().toString(36).slice(2, 6)}`);
      await Promise.all([page.waitForURL("**/tasks"), page.click("button[type=submit]")]);
      expect(new URL(page.url()).origin).toBe(demo.origin);
      expect(offsite).toEqual([]);
      await page.context().close();
    }
    // A page that needs a session sends you to sign in, then back to it.
    const page = await fresh();
    await page.goto("/dashboard?from=test");
    expect(new URL(page.url()).pathname).toBe("/signin");
    expect(new URL(page.url()).searchParams.get("next")).toBe("/dashboard?from=test");
    await page.fill("#name", "Bea Back");
    await Promise.all([page.waitForURL("**/dashboard?from=test"), page.click("button[type=submit]")]);
  }, 90_000);

  test("#8 signing out ends the session on the server: the old cookie gets no token and no page", async () => {
    const page = await user("Otto Out");
    const { cookie } = await sessionOf(page);
    const token = () =>
      fetch(`${demo.origin}/api/realtime/token`, { method: "POST", headers: { cookie, origin: demo.origin } });
    const tasksPage = () => fetch(`${demo.origin}/tasks`, { headers: { cookie }, redirect: "manual" });
    expect((await token()).status).toBe(200);
    expect((await tasksPage()).status).toBe(200);

    await Promise.all([page.waitForURL("**/signin**"), page.click("button[aria-label='Sign out']")]);
    expect((await token()).status).toBe(401);
    const after = await tasksPage();
    expect(after.status).toBeGreaterThanOrEqual(300);
    expect(after.status).toBeLessThan(400);
    expect(after.headers.get("location")).toMatch(/\/signin/);
  }, 60_000);

  test("#9 start-report with an inherited size name answers a clear error, not 500", async () => {
    const page = await user("Sid Size");
    // Learn how the browser calls the Server Action, then call it with other sizes.
    const call = page.waitForRequest((r) => r.method() === "POST" && Boolean(r.headers()["next-action"]));
    await page.click("[data-testid=start-task]");
    const request = await call;
    const { cookie } = await sessionOf(page);
    for (const size of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const response = await fetch(request.url(), {
        method: "POST",
        headers: { ...request.headers(), cookie, origin: demo.origin },
        body: JSON.stringify([size, false]),
      });
      const text = await response.text();
      expect(response.status, `${size}: ${text.slice(0, 300)}`).toBe(200);
      expect(text).toContain("Unknown report size");
    }
    expect(demo.log()).not.toMatch(/TypeError/);
  }, 60_000);

  test("#10 the stats route does not tell whether a user is online", async () => {
    const page = await user("Priya Private");
    const { id } = await sessionOf(page);
    const response = await fetch(
      `${demo.origin}/api/demo/stats?channel=${encodeURIComponent(`user-${id}`)}&channel=task-x&channel=dashboard`,
    );
    const body = (await response.json()) as { subscriberCount: Record<string, number> };
    expect(Object.keys(body.subscriberCount)).toEqual(["dashboard"]);
  }, 60_000);

  test("#13 the session cookie is Secure in production; names with control, bidi or duplicate text are refused", async () => {
    const page = await user("Dana Double");
    expect((await sessionOf(page)).secure).toBe(true);

    const other = await fresh();
    await other.goto("/signin");
    for (const [name, message] of [
      ["Eve\u202Egnirts", /control, invisible or text-direction/],
      ["Eve\u2066x\u2069", /control, invisible or text-direction/],
      ["Nul\u0000Byte", /control, invisible or text-direction/],
      ["Esc\u001b[31m", /control, invisible or text-direction/],
      ["dana DOUBLE", /already signed in/],
      // Look-alikes (issue 16 #11): Cyrillic а, о, е; a zero for an o; "rn" for "m"-less tricks.
      ["D\u0430n\u0430 D\u043eubl\u0435", /already signed in/],
      ["Dana D0uble", /already signed in/],
    ] as const) {
      await trySignIn(other, name);
      await expect
        .poll(async () => (await other.locator("[data-testid=signin-error]").textContent()) ?? "", { timeout: 10_000 })
        .toMatch(message);
      expect(new URL(other.url()).pathname).toBe("/signin");
    }
    await shot(other, "signin-error");
  }, 60_000);

  test("#4 the user list is bounded: the oldest idle session is evicted, and a full demo says so", async () => {
    const small = await startDemo({ env: { DEMO_MAX_USERS: "3", DEMO_USER_GRACE_MS: "1500" } });
    try {
      const pages: Page[] = [];
      for (const name of ["Cap One", "Cap Two", "Cap Three"]) pages.push(await user(name, small.origin));
      // Everyone is connected: a fourth is refused with a clear message.
      const fourth = await fresh(small.origin);
      await fourth.goto("/signin");
      await fourth.fill("#name", "Cap Four");
      await fourth.click("button[type=submit]");
      await fourth.locator("[data-testid=signin-error]", { hasText: "The demo is full" }).waitFor({ timeout: 10_000 });
      // The first one leaves (no connection) and goes idle: the fourth takes their place.
      await pages[0]!.context().close();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(await fourth.inputValue("#name")).toBe("Cap Four"); // kept after the refusal
      await fourth.click("button[type=submit]");
      await fourth.waitForURL("**/tasks", { timeout: 10_000 }).catch(async (error: Error) => {
        const shown = await fourth.locator("[data-testid=signin-error]").textContent();
        throw new Error(`${error.message}\nsign-in said: ${shown}\n${small.log().slice(-2000)}`);
      });
      const stats = (await (await fetch(`${small.origin}/api/demo/stats`)).json()) as { users: number };
      expect(stats.users).toBe(3);
      await fourth.goto("/notifications");
      const names = await fourth
        .locator("[data-testid=recipient]")
        .evaluateAll((els) => els.map((el) => el.getAttribute("data-user-name")));
      expect(names.sort()).toEqual(["Cap Three", "Cap Two"]);
    } finally {
      await small.stop();
    }
  }, 120_000);
});

describe("the UI tells the truth (issue 9)", () => {
  test("while disconnected, task cards and dashboard numbers look paused, and come back live", async () => {
    const page = await user("Paula Paused");
    await page.click("text=Large");
    await page.click("[data-testid=start-task]");
    const card = page.locator("[data-testid=task-card]").first();
    await card.locator("[data-step-status=active]").first().waitFor();
    const dashboard = await page.context().newPage();
    await dashboard.goto("/dashboard");
    await dashboard.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
    await dashboard.waitForSelector("[data-testid=counter-connections]:not([data-value='0'])");

    await post("/api/e2e/cut?hold=1");
    await card.locator("[data-testid=task-status]", { hasText: "Paused — reconnecting" }).waitFor({ timeout: 10_000 });
    expect(await card.getAttribute("data-paused")).toBe("true");
    expect(await card.locator(".animate-spin").count()).toBe(0);
    await dashboard.locator("[data-testid=dashboard-stale]").waitFor({ timeout: 10_000 });
    expect(await dashboard.locator("[data-testid^=counter-][data-stale=true]").count()).toBe(4);
    await shot(page, "tasks-paused");
    await shot(dashboard, "dashboard-stale");

    await post("/api/e2e/release");
    await page.waitForSelector("[data-testid=connection-indicator][data-state=connected]", { timeout: 30_000 });
    await card.locator("[data-testid=task-status]", { hasText: "Running" }).waitFor({ timeout: 10_000 });
    expect(await card.getAttribute("data-paused")).toBeNull();
    await dashboard.waitForSelector("[data-testid=connection-indicator][data-state=connected]", { timeout: 30_000 });
    await eventually(
      async () => (await dashboard.locator("[data-testid=dashboard-stale]").count()) === 0,
      "live dashboard",
    );
    await dashboard.close();
  }, 120_000);

  test("reconnection toasts are replaced, not patched; Retry now leads to a Back online that stays", async () => {
    const page = await user("Toby Toast");
    await post("/api/e2e/cut?hold=1");
    const reconnecting = page.locator("[data-sonner-toast]", { hasText: "Reconnecting" });
    await reconnecting.waitFor({ timeout: 15_000 });
    const retry = reconnecting.getByRole("button", { name: "Retry now" });
    await retry.waitFor();
    // Release only while the next attempt is seconds away, so it is the click that reconnects.
    await expect
      .poll(async () => (await reconnecting.textContent()) ?? "", { timeout: 30_000, intervals: [100] })
      .toMatch(/Next attempt in ([2-9]|\d\d)s/);
    await post("/api/e2e/release");
    await retry.click({ force: true });
    const online = page.locator("[data-sonner-toast]", { hasText: "Back online" });
    // The reconnect needs a token and a stream: on a busy machine that can take several seconds.
    await online.waitFor({ timeout: 30_000 });
    await page.waitForTimeout(1200); // "a click on Retry now hid Back online after 0.1 s"
    expect(await online.isVisible()).toBe(true);
    // A toast of its own: none of the previous toast's buttons.
    expect(await online.getByRole("button", { name: /Retry now|Refresh|Try again/ }).count()).toBe(0);
    expect(await page.locator("[data-sonner-toast]", { hasText: "Reconnecting" }).count()).toBe(0);
    await shot(page, "back-online");
  }, 60_000);

  test("signing out in one tab moves the user's other tabs to the sign-in page, without a reload", async () => {
    const first = await user("Sam Signout");
    const second = await first.context().newPage();
    await second.goto("/dashboard");
    await second.waitForSelector("[data-testid=connection-indicator][data-state=connected]");
    await Promise.all([first.waitForURL("**/signin**"), first.click("button[aria-label='Sign out']")]);
    await second.waitForURL("**/signin?next=%2Fdashboard", { timeout: 10_000 });
    expect(await second.locator("#name").isVisible()).toBe(true);
  }, 60_000);

  test("a report started right after sign-in is still listed after visiting another page and coming back", async () => {
    const page = await user("Nora Navigate");
    await page.click("[data-testid=start-task]");
    const card = page.locator("[data-testid=task-card]").first();
    await card.waitFor();
    const id = await card.getAttribute("data-task-id");
    await page.click('nav a[href="/notifications"]');
    await page.waitForURL("**/notifications");
    await page.click('nav a[href="/tasks"]');
    await page.waitForURL("**/tasks");
    await page.locator(`[data-testid=task-card][data-task-id="${id}"]`).waitFor({ timeout: 5000 });
    await page.click('nav a[href="/dashboard"]');
    await page.waitForURL("**/dashboard");
    await page.goBack();
    await page.waitForURL("**/tasks");
    await page.locator(`[data-testid=task-card][data-task-id="${id}"]`).waitFor({ timeout: 5000 });
  }, 60_000);

  test("option groups are radio groups driven by arrow keys", async () => {
    const page = await user("Rory Radio");
    const size = page.locator("input[name=report-size]");
    expect(await size.count()).toBe(3);
    const checked = () => page.locator("input[name=report-size]:checked").getAttribute("value");
    expect(await checked()).toBe("small");
    await page.locator("input[name=report-size][value=small]").focus();
    await page.keyboard.press("ArrowRight");
    expect(await checked()).toBe("medium");
    await page.keyboard.press("ArrowRight");
    expect(await checked()).toBe("large");
    await page.keyboard.press("ArrowLeft");
    expect(await checked()).toBe("medium");
    // One tab stop for the group: Tab leaves it.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.name ?? "")).not.toBe(
      "report-size",
    );
    await page.click("[data-testid=start-task]");
    await page.locator("[data-testid=task-card]", { hasText: "250,000 rows" }).waitFor();

    await user("Rita Recipient");
    await user("Ray Recipient");
    await page.goto("/notifications");
    const recipients = page.locator("input[name=recipient]");
    await eventually(async () => (await recipients.count()) >= 2, "two recipients");
    const first = await page.locator("input[name=recipient]:checked").getAttribute("value");
    await page.locator("input[name=recipient]:checked").focus();
    await page.keyboard.press("ArrowDown");
    const second = await page.locator("input[name=recipient]:checked").getAttribute("value");
    expect(second).not.toBe(first);
    expect(await page.locator("[data-testid=send-notification]").textContent()).toMatch(/Send to R\w+ Recipient/);
  }, 90_000);
});
