/**
 * Issue 9's outage and stall scenarios in Chromium against the demo: the fault harness's TCP proxy
 * (packages/herald/test/faults/tcp-proxy.ts) stands between the browser and the demo's custom
 * server, and everything the browser does goes through it (sign-in, pages, tokens, streams: the
 * session cookie belongs to the proxy's origin). One context holds the Tasks page with a running
 * report and the Dashboard. The demo runs with a 2 s heartbeat (HERALD_HEARTBEAT_MS), so the
 * client's liveness bound is 2 × 2 s + 1 s = 5 s.
 *
 * Each scenario checks that the indicator leaves "Live" and comes back by itself without a reload,
 * that the task card looked paused while it was down and ends at 100% with the server's text, and
 * that the probe events published during the fault (straight to the server, on the public activity
 * channel) all reach the Dashboard. A table at the end gives, per scenario, the time from the
 * network's return to "Live" and the events lost.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTcpProxy, type TcpProxy } from "../packages/herald/test/faults/tcp-proxy.js";
import { buildIfStale, launchChromium, signedIn, startDemo, type Demo } from "./demo-server.js";

const HEARTBEAT_MS = 2000;
const LIVENESS_MS = 2 * HEARTBEAT_MS + 1000;

let demo: Demo;
let proxy: TcpProxy;
let browser: Browser;
let context: BrowserContext;
let tasks: Page;
let dashboard: Page;
/** The browser's origin: the proxy. */
let origin: string;

interface Row {
  scenario: string;
  /** From the fault's start to the first page leaving "Live", in ms. */
  leftLiveMs: number | string;
  /** From the network's return to "Live" on the Tasks page and on the Dashboard, in ms. */
  toLiveMs: string;
  transport: string;
  probesLost: number;
  task: string;
}
const rows: Row[] = [];

/** What one page's indicator and task cards did, with the browser's clock (the same machine's). */
interface Mark {
  t: number;
  state: string | null;
  paused: boolean;
}

beforeAll(async () => {
  await buildIfStale();
  demo = await startDemo({ env: { HERALD_HEARTBEAT_MS: String(HEARTBEAT_MS) } });
  proxy = await startTcpProxy(Number(new URL(demo.origin).port));
  origin = proxy.url.replace(/\/$/, "");
  browser = await launchChromium();
  ({ context, page: tasks } = await signedIn(browser, origin, "Fay Fault"));
  // Every page of the context logs its indicator's state and whether a task card is paused.
  await context.addInitScript(() => {
    const marks: Mark[] = [];
    (window as unknown as { __marks: Mark[] }).__marks = marks;
    let last = "";
    const check = (): void => {
      const state = document.querySelector("[data-testid=connection-indicator]")?.getAttribute("data-state") ?? null;
      const paused = document.querySelector("[data-testid=task-card][data-paused=true]") !== null;
      const key = `${state}/${paused}`;
      if (key === last) return;
      last = key;
      marks.push({ t: Date.now(), state, paused });
    };
    new MutationObserver(check).observe(document, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["data-state", "data-paused"],
    });
  });
  await tasks.reload();
  await connected(tasks);
  dashboard = await context.newPage();
  await dashboard.goto("/dashboard");
  await connected(dashboard);
  // Marks that survive only if the pages are never reloaded.
  for (const page of [tasks, dashboard])
    await page.evaluate(() => ((window as { __noReload?: boolean }).__noReload = true));
}, 600_000);

afterAll(async () => {
  printTable();
  await context?.close();
  await browser?.close();
  await proxy?.close();
  await demo?.stop();
});

function connected(page: Page, timeout = 30_000): Promise<unknown> {
  return page.waitForSelector("[data-testid=connection-indicator][data-state=connected]", { timeout });
}

const marks = (page: Page) => page.evaluate(() => (window as unknown as { __marks: Mark[] }).__marks.slice());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts a Medium report on the Tasks page and waits until it has made some progress. */
async function startReport(): Promise<string> {
  const before = await tasks.locator("[data-testid=task-card]").count();
  await tasks.click("text=Medium");
  await tasks.click("[data-testid=start-task]");
  await expect.poll(() => tasks.locator("[data-testid=task-card]").count(), { timeout: 10_000 }).toBe(before + 1);
  const id = (await tasks.locator("[data-testid=task-card]").first().getAttribute("data-task-id"))!;
  await expect.poll(() => progressOf(id), { timeout: 20_000 }).toBeGreaterThanOrEqual(8);
  return id;
}

const card = (id: string) => tasks.locator(`[data-testid=task-card][data-task-id="${id}"]`);
const progressOf = async (id: string) =>
  Number(await card(id).locator("[role=progressbar]").getAttribute("aria-valuenow"));

/** The server's snapshot of a task, asked with the browser's cookie, straight from the server. */
async function snapshot(id: string): Promise<{ status: string; progress: number; text: string }> {
  const cookie = (await context.cookies(origin)).map((c) => `${c.name}=${c.value}`).join("; ");
  const response = await fetch(`${demo.origin}/api/realtime/tasks/${id}`, { headers: { cookie } });
  expect(response.status).toBe(200);
  return (await response.json()) as { status: string; progress: number; text: string };
}

/** Waits for the task to finish; "ok" when the card shows 100% and the server's whole text. */
async function taskOutcome(id: string): Promise<string> {
  await tasks
    .locator(`[data-testid=task-card][data-task-id="${id}"][data-status=succeeded]`)
    .waitFor({ timeout: 90_000 });
  expect(await progressOf(id)).toBe(100);
  const server = await snapshot(id);
  expect(server.status).toBe("succeeded");
  expect(server.text.length).toBeGreaterThan(20);
  // The summary is revealed with an animation: wait until all of it shows.
  await expect
    .poll(async () => ((await card(id).textContent()) ?? "").includes(server.text), { timeout: 10_000 })
    .toBe(true);
  return "100%, text = server's";
}

/** Publishes probes `from`..`from+count-1` on the activity channel, straight to the server. */
async function publishProbes(from: number, count: number): Promise<void> {
  const response = await fetch(`${demo.origin}/api/e2e/publish?from=${from}&count=${count}`, { method: "POST" });
  expect(response.ok).toBe(true);
}

/** How many of the probes `from`..`from+count-1` the Dashboard shows, waiting up to 10 s for all. */
async function probesLost(from: number, count: number): Promise<number> {
  const seen = async () => {
    const texts = await dashboard.locator("[data-kind=probe] p:first-child").allTextContents();
    const numbers = new Set(texts.map((t) => Number(/Probe #(\d+)/.exec(t)?.[1])));
    let n = 0;
    for (let i = from; i < from + count; i++) if (numbers.has(i)) n++;
    return n;
  };
  const deadline = Date.now() + 10_000;
  while ((await seen()) < count && Date.now() < deadline) await sleep(200);
  return count - (await seen());
}

/** When the page first left "Live" at or after `since`, and when it was next "Live" at or after `back`. */
function timesOf(
  list: Mark[],
  since: number,
  back: number,
): { left: number | null; live: number | null; paused: boolean } {
  const left = list.find((m) => m.t >= since && m.state !== "connected");
  const live = list.find((m) => m.t >= back && m.state === "connected");
  const paused = list.some((m) => m.t >= since && m.t <= back + 200 && m.paused);
  return { left: left ? left.t : null, live: live ? live.t : null, paused };
}

async function transportOf(page: Page): Promise<string> {
  return (await page.locator("[data-testid=connection-indicator]").getAttribute("data-transport")) ?? "?";
}

/**
 * Runs one scenario: starts a report, applies the fault at `start`, publishes probes during it,
 * lifts it (`restore`, returning the time the network came back), then checks and records.
 */
async function scenario(
  name: string,
  probeBase: number,
  fault: () => Promise<void>,
  restore: () => Promise<void>,
  options: { holdMs: number; leftWithinMs?: number },
): Promise<void> {
  const id = await startReport();
  await connected(tasks);
  await connected(dashboard);
  const start = Date.now();
  await fault();
  await sleep(1000);
  await publishProbes(probeBase, 10);
  await sleep(options.holdMs - 1000);
  // Down now, on both pages, and the running card says so.
  for (const page of [tasks, dashboard]) {
    expect(await page.locator("[data-testid=connection-indicator]").getAttribute("data-state")).not.toBe("connected");
  }
  const back = Date.now();
  await restore();
  await connected(tasks, 60_000);
  await connected(dashboard, 60_000);
  const t = timesOf(await marks(tasks), start, back);
  const d = timesOf(await marks(dashboard), start, back);
  expect(t.left, "the Tasks page left Live").not.toBeNull();
  expect(d.left, "the Dashboard left Live").not.toBeNull();
  expect(t.paused, "the task card looked paused while disconnected").toBe(true);
  const leftLive = Math.min(t.left!, d.left!) - start;
  if (options.leftWithinMs !== undefined) expect(leftLive).toBeLessThanOrEqual(options.leftWithinMs);
  const lost = await probesLost(probeBase, 10);
  const task = await taskOutcome(id);
  for (const page of [tasks, dashboard]) {
    expect(await page.evaluate(() => (window as { __noReload?: boolean }).__noReload)).toBe(true);
  }
  rows.push({
    scenario: name,
    leftLiveMs: leftLive,
    toLiveMs: `${t.live! - back} / ${d.live! - back}`,
    transport: `${await transportOf(tasks)} / ${await transportOf(dashboard)}`,
    probesLost: lost,
    task,
  });
  expect(lost).toBe(0);
}

describe("faults in Chromium through a TCP proxy", () => {
  test("(a) a 5 s outage (refused and reset), then the network returns", async () => {
    await scenario(
      "outage 5 s (refuse + reset)",
      101,
      async () => {
        proxy.set({ refuse: true });
        proxy.resetAll();
      },
      async () => proxy.set({}),
      { holdMs: 5000, leftWithinMs: 2000 },
    );
  }, 180_000);

  test("(b) a silent stall longer than two heartbeats: Live is left within the liveness bound", async () => {
    await scenario(
      `silent stall 9 s (proxy forwards nothing; bound ${LIVENESS_MS} ms)`,
      201,
      async () => proxy.set({ stall: true }),
      async () => proxy.set({}),
      { holdMs: 9000, leftWithinMs: LIVENESS_MS + 1000 },
    );
  }, 180_000);

  test("(b2) a dead path under the open stream (freezeOpen): noticed and replaced by itself", async () => {
    const id = await startReport();
    await connected(tasks);
    await connected(dashboard);
    const start = Date.now();
    proxy.freezeOpen(); // the open connections forward nothing more; new ones work
    await sleep(1000);
    await publishProbes(301, 10);
    await tasks.waitForFunction(
      (since) =>
        (window as unknown as { __marks: Mark[] }).__marks.some((m) => m.t >= since && m.state !== "connected"),
      start,
      { timeout: LIVENESS_MS + 5000 },
    );
    await connected(tasks, 30_000);
    await connected(dashboard, 30_000);
    const t = timesOf(await marks(tasks), start, start);
    const d = timesOf(await marks(dashboard), start, start);
    const leftLive = Math.min(t.left ?? Infinity, d.left ?? Infinity) - start;
    expect(leftLive).toBeLessThanOrEqual(LIVENESS_MS + 1000);
    const firstLive = (list: Mark[], after: number) => list.find((m) => m.t >= after && m.state === "connected")?.t;
    const tLive = firstLive(await marks(tasks), t.left!)! - start;
    const dLive = firstLive(await marks(dashboard), d.left!)! - start;
    const lost = await probesLost(301, 10);
    const task = await taskOutcome(id);
    rows.push({
      scenario: "frozen path (freezeOpen; times from the freeze)",
      leftLiveMs: leftLive,
      toLiveMs: `${tLive} / ${dLive}`,
      transport: `${await transportOf(tasks)} / ${await transportOf(dashboard)}`,
      probesLost: lost,
      task,
    });
    expect(lost).toBe(0);
  }, 180_000);

  test("(c) the browser goes offline for 5 s, then online", async () => {
    await scenario(
      "browser offline 5 s (setOffline)",
      401,
      async () => context.setOffline(true),
      async () => context.setOffline(false),
      { holdMs: 5000, leftWithinMs: 1000 },
    );
  }, 180_000);

  test("(d) the chat's WebSocket path dies under it (freezeOpen): the chat leaves Live and comes back by itself", async () => {
    const chat = await context.newPage();
    try {
      await chat.goto("/chat?chat=ws");
      const indicator = chat.locator("[data-testid=chat-connection] [data-testid=connection-indicator]");
      await expect.poll(() => indicator.getAttribute("data-state"), { timeout: 30_000 }).toBe("connected");
      expect(await indicator.getAttribute("data-transport")).toBe("ws");
      const frozenAt = Date.now();
      proxy.freezeOpen(); // the open socket forwards nothing more; new connections work
      // Herald's Pusher server pings its own client every heartbeat: silence is noticed, the
      // socket replaced, and the chat is live again without a reload.
      await expect.poll(() => indicator.getAttribute("data-state"), { timeout: 20_000 }).not.toBe("connected");
      const noticedMs = Date.now() - frozenAt;
      await expect.poll(() => indicator.getAttribute("data-state"), { timeout: 30_000 }).toBe("connected");
      // Live again on a new socket. (What it delivers after a stall is checked without a browser in
      // packages/herald/test/faults/stall-defaults.test.ts: this page's idle keep-alive connections
      // are frozen too, so a Server Action from it would hang on one.)
      expect(await indicator.getAttribute("data-transport")).toBe("ws");
      rows.push({
        scenario: "chat WebSocket, path frozen",
        leftLiveMs: noticedMs,
        toLiveMs: "-",
        transport: "ws",
        probesLost: 0,
        task: "-",
      });
    } finally {
      await chat.close();
    }
  }, 120_000);
});

function printTable(): void {
  if (rows.length === 0) return;
  const head = ["scenario", "left Live ms", "→Live ms (tasks / dashboard)", "transport after", "lost", "task"];
  const body = rows.map((r) => [
    r.scenario,
    String(r.leftLiveMs),
    r.toLiveMs,
    r.transport,
    String(r.probesLost),
    r.task,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ");
  console.log(
    [
      "",
      "Fault scenarios in Chromium (demo behind a TCP proxy; →Live: from the network's return)",
      line(head),
      widths.map((w) => "-".repeat(w)).join("-|-"),
      ...body.map(line),
    ].join("\n"),
  );
}
