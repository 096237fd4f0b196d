/**
 * Issue 19, the quickstart's tasks in Chromium: a start past the per-user cap is a message on the
 * page, not an HTTP 500 (#1); and the same quickstart, unchanged `lib/herald.ts` (its `getUserId`
 * reads `cookies()`), on a custom server (`server.ts`, `createHeraldServer`) renders its pages and
 * runs a task end to end (#7).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, launchChromium, SCREENSHOTS } from "./demo-server.js";
import { buildQuickstartIfStale, QUICKSTART, startQuickstart, type Quickstart } from "./quickstart-server.js";

let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  await buildQuickstartIfStale();
  browser = await launchChromium();
  mkdirSync(SCREENSHOTS, { recursive: true });
}, 600_000);

const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
});

/** A signed-in page of the app at `origin`, its stream open. */
async function signedIn(origin: string, name: string): Promise<Page> {
  const context = await browser.newContext({ baseURL: origin });
  contexts.push(context);
  const page = await context.newPage();
  const response = await page.goto("/");
  expect(response?.status(), "the home page renders").toBe(200);
  await page.fill("input[name=name]", name);
  await page.click("text=Sign in");
  await page.waitForSelector(`.user:text-is("${name}")`);
  await page.waitForSelector(".connection[data-state=connected]");
  return page;
}

/** The quickstart on its own custom server (`node --import tsx server.ts`), once it answers. */
async function startCustomServer(): Promise<Quickstart> {
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const env = { ...process.env, NODE_ENV: "production", PORT: String(port), NEXT_TELEMETRY_DISABLED: "1" };
  const child = spawn(process.execPath, ["--import", "tsx", "server.ts"], { cwd: QUICKSTART, env });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) stream.on("data", (chunk: Buffer) => output.push(String(chunk)));
  const exited = once(child, "exit");
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    child.kill("SIGTERM");
    const force = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(force);
  };
  const up = () =>
    fetch(`${origin}/api/realtime/nothing-here`).then(
      () => true,
      () => false,
    );
  for (const deadline = Date.now() + 60_000; !(await up()); await new Promise((r) => setTimeout(r, 200))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`server.ts did not come up (exit ${child.exitCode}):\n${output.join("")}`);
    }
  }
  return { origin, log: () => output.join(""), stop };
}

describe("the quickstart's tasks on next start", () => {
  let app: Quickstart;
  beforeAll(async () => {
    app = await startQuickstart();
  }, 120_000);
  afterAll(async () => app?.stop());

  it("a start past the cap shows the refusal on the page; no response is a 500", async () => {
    const page = await signedIn(app.origin, "rita");
    const failures: string[] = [];
    page.on("response", (r) => {
      if (r.status() >= 500) failures.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    });
    // Start until refused (5 run at once by default; each runs ~4 s, so a few more clicks than 6
    // may be needed on a slow machine). Each click waits for its answer: a new task or the message.
    for (let clicks = 1; clicks <= 20; clicks++) {
      const before = await page.locator(".task").count();
      await page.click("text=Start a report");
      await page.waitForFunction(
        (n) => document.querySelectorAll(".task").length > n || document.querySelector(".refusal") !== null,
        before,
      );
      if (await page.locator(".refusal").count()) break;
    }
    const refusal = page.locator(".refusal");
    await refusal.waitFor();
    expect(await refusal.textContent()).toBe("5 tasks are running; wait for one to finish.");
    expect(await refusal.getAttribute("role")).toBe("alert");
    await shot(page, "quickstart-refusal");
    expect(await page.locator(".task").count()).toBeGreaterThanOrEqual(5);
    expect(failures).toEqual([]);
    expect(app.log()).not.toMatch(/too_many_tasks|Server Components render/);

    // Once one ends, a start goes through and the message goes away.
    await page.waitForSelector(".task[data-status=succeeded]", { timeout: 30_000 });
    const before = await page.locator(".task").count();
    await page.click("text=Start a report");
    await page.waitForFunction((n) => document.querySelectorAll(".task").length > n, before);
    await refusal.waitFor({ state: "detached" });
  }, 90_000);

  it("a task started in one tab appears in the user's other tab without a reload", async () => {
    const first = await signedIn(app.origin, "tess");
    const second = await first.context().newPage();
    await second.goto("/");
    await second.waitForSelector(".connection[data-state=connected]");
    expect(await second.locator(".task").count()).toBe(0);
    await first.click("text=Start a report");
    await second.waitForSelector(".task[data-status=running]", { timeout: 15_000 });
    await second.waitForSelector(".task[data-status=succeeded]", { timeout: 30_000 });
  }, 90_000);
});

describe("the quickstart on a custom server, same lib/herald.ts (cookies() for the session)", () => {
  let app: Quickstart;
  beforeAll(async () => {
    app = await startCustomServer();
  }, 120_000);
  afterAll(async () => app?.stop());

  it("renders its pages, signs in, and runs a task to the end over the Node fast path", async () => {
    const page = await signedIn(app.origin, "cass");
    let streams = 0;
    page.on("response", (r) => {
      if (new URL(r.url()).pathname === "/api/realtime/sse" && r.status() === 200) streams++;
    });
    await page.click("text=Start a report");
    await page.waitForSelector(".task[data-status=succeeded]", { timeout: 30_000 });
    expect(await page.textContent(".task .result")).toBe("Done: 12 pages");
    // The task list comes back after a reload (GET …/tasks reads the session).
    await page.reload();
    await page.waitForSelector(".task[data-status=succeeded]");
    await page.waitForSelector(".connection[data-state=connected]");
    expect(streams).toBeGreaterThan(0);
    await shot(page, "quickstart-custom-server");
    expect(app.log()).not.toMatch(/Invariant|outside a request scope|Error/);
  }, 90_000);
});
