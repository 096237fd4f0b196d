import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EventSource } from "eventsource";
import { parsePosition } from "../../protocol/cursor.js";
import { isHeraldError, type HeraldErrorCode } from "../../protocol/errors.js";
import { defaultAuthorize } from "../auth/authorize.js";
import { createHerald, type Herald } from "../herald.js";
import { tokenAuthenticator } from "../auth/tokens/authenticator.js";
import { createTokens, type Tokens } from "../auth/tokens/tokens.js";
import { applyTaskEvent } from "../../protocol/tasks.js";
import { MemoryTaskStore } from "./store.js";
import { createTasks, type Tasks, type TasksOptions } from "./tasks.js";
import type { TaskSnapshot } from "./types.js";

let herald: Herald | undefined;
let server: http.Server | undefined;
const sources: EventSource[] = [];
afterEach(async () => {
  for (const es of sources.splice(0)) es.close();
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  await herald?.close();
  server = herald = undefined;
});

function setup(options: TasksOptions = {}): { herald: Herald; tasks: Tasks; tokens: Tokens } {
  const tokens = createTokens();
  const ref: { tasks?: Tasks } = {};
  const h = createHerald({
    authenticate: tokenAuthenticator(tokens),
    authorize: defaultAuthorize({ tasks: { ownerOf: (id) => ref.tasks!.ownerOf(id) } }),
  });
  herald = h;
  const tasks = (ref.tasks = createTasks(h, { onError: () => {}, ...options }));
  return { herald: h, tasks, tokens };
}

async function listen(h: Herald): Promise<string> {
  server = http.createServer((req, res) => void h.handleNode(req, res));
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/sse`;
}

async function waitFor<T>(read: () => Promise<T> | T, ok: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 2000; i++) {
    const value = await read();
    if (ok(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function codeOf(promise: Promise<unknown>): Promise<HeraldErrorCode | "resolved"> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    if (!isHeraldError(error)) throw error;
    return error.code;
  }
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Follows `task-{id}` with a real EventSource, applying every event to `state` with the shared reducer. */
function follow(url: string, initial: TaskSnapshot | null, log: { event: string; seq: number }[]) {
  const view = { state: initial, pending: [] as { event: string; data: unknown; seq: number; id: string }[] };
  const es = new EventSource(url);
  sources.push(es);
  es.onmessage = (message) => {
    const envelope = JSON.parse(message.data) as { event: string; data: unknown; id: string };
    const seq = parsePosition(envelope.id)!.seq;
    log.push({ event: envelope.event, seq });
    if (view.state) view.state = applyTaskEvent(view.state, envelope.event, envelope.data, seq, undefined, envelope.id);
    else view.pending.push({ event: envelope.event, data: envelope.data, seq, id: envelope.id });
  };
  const connected = new Promise<void>((resolve, reject) => {
    es.addEventListener("herald:connected", () => resolve());
    es.onerror = (event) => reject(new Error(`EventSource error ${event.code}`));
  });
  return { view, connected };
}

const withoutTime = ({ updatedAt: _u, ...rest }: TaskSnapshot) => rest;

describe("tasks", () => {
  it("snapshot then live events rebuild exactly the final state, both with a cursor resume and with live-first", async () => {
    const { herald: h, tasks, tokens } = setup();
    const url = await listen(h);
    const halfway = gate();
    const release = gate();
    const task = await tasks.start(
      "alice",
      async (ctx) => {
        ctx.step("fetch", "active");
        ctx.progress(10);
        ctx.text("Hello ");
        halfway.open();
        await release.promise;
        ctx.text("world");
        ctx.step("fetch", "done");
        ctx.step("extra", "active");
        ctx.progress(60);
        ctx.text("!");
        ctx.step("extra", "done");
        ctx.progress(100);
        return { answer: 42, when: new Date(0) };
      },
      { title: "Greet", steps: ["fetch", "write"] },
    );
    expect(task).toMatchObject({ ownerId: "alice", title: "Greet", status: "queued", progress: 0, text: "" });
    expect(task.steps).toEqual([
      { name: "fetch", status: "pending" },
      { name: "write", status: "pending" },
    ]);
    expect(task.cursor).toBe(`${await h.broker.epoch()}-${task.seq}`);
    await halfway.promise;
    const snapshot = await waitFor(
      () => tasks.get(task.id, "alice"),
      (s) => s.text === "Hello ",
      "halfway snapshot",
    );
    expect(snapshot.status).toBe("running");

    // A: resume from the snapshot's cursor (replays exactly what the snapshot lacks).
    const logA: { event: string; seq: number }[] = [];
    const a = follow(
      `${url}?channel=task-${task.id}&lastEventId=${snapshot.cursor}&token=${await tokens.issue("alice")}`,
      snapshot,
      logA,
    );
    // B: subscribe live from "now", then take a snapshot and drop events at or below its seq.
    const logB: { event: string; seq: number }[] = [];
    const b = follow(`${url}?channel=task-${task.id}&token=${await tokens.issue("alice")}`, null, logB);
    await Promise.all([a.connected, b.connected]);
    const snapshotB = await tasks.get(task.id, "alice");
    b.view.state = b.view.pending.reduce(
      (s, e) => applyTaskEvent(s, e.event, e.data, e.seq, undefined, e.id),
      snapshotB as TaskSnapshot,
    );
    release.open();

    const final = await tasks.wait(task.id, "alice");
    expect(final).toMatchObject({
      status: "succeeded",
      progress: 100,
      text: "Hello world!",
      result: { answer: 42, when: "1970-01-01T00:00:00.000Z" },
      error: null,
      steps: [
        { name: "fetch", status: "done" },
        { name: "write", status: "pending" },
        { name: "extra", status: "done" },
      ],
    });
    expect(final.cursor).toBe(`${await h.broker.epoch()}-${final.seq}`);
    for (const view of [a.view, b.view]) {
      await waitFor(
        () => view.state?.seq,
        (seq) => seq === final.seq,
        "last event",
      );
      expect(withoutTime(view.state!)).toEqual(withoutTime(final));
    }
    // Every replayed/live event is newer than the snapshot, in order, and ends with the result.
    expect(logA.every((e, i) => e.seq > snapshot.seq && (i === 0 || e.seq > logA[i - 1]!.seq))).toBe(true);
    expect(logA.at(-1)!.event).toBe("result");
    expect(logA.map((e) => e.event)).toContain("text");
  });

  it("lets only the owner read, cancel or subscribe; unknown and foreign ids look the same", async () => {
    const { herald: h, tasks, tokens } = setup();
    const url = await listen(h);
    const release = gate();
    const task = await tasks.start("alice", () => release.promise.then(() => "ok"));
    expect(await codeOf(tasks.get(task.id, "mallory"))).toBe("task_not_found");
    expect(await codeOf(tasks.get("no-such-task", "alice"))).toBe("task_not_found");
    expect(await codeOf(tasks.get("../../etc", "alice"))).toBe("task_not_found");
    expect(await codeOf(tasks.cancel(task.id, "mallory"))).toBe("task_not_found");
    expect(await tasks.list("mallory")).toEqual([]);
    expect((await tasks.list("alice")).map((t) => t.id)).toEqual([task.id]);

    const foreign = await fetch(`${url}?channel=task-${task.id}&token=${await tokens.issue("mallory")}`);
    expect(foreign.status).toBe(403);
    expect((await foreign.json()).error).toMatchObject({ code: "forbidden", channel: `task-${task.id}` });
    const unknown = await fetch(`${url}?channel=task-nope&token=${await tokens.issue("alice")}`);
    expect(unknown.status).toBe(403);
    const own = follow(`${url}?channel=task-${task.id}&token=${await tokens.issue("alice")}`, null, []);
    await own.connected;
    release.open();
    expect((await tasks.wait(task.id, "alice")).result).toBe("ok");
  });

  it("cancel aborts the job's signal, records canceled, ignores the job afterwards, and refuses a second cancel", async () => {
    const { tasks } = setup();
    const started = gate();
    let sawAbort: unknown = null;
    const afterAbort = gate();
    const task = await tasks.start("bob", async (ctx) => {
      started.open();
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener("abort", () => {
          sawAbort = ctx.signal.reason;
          resolve();
        }),
      );
      ctx.progress(99);
      ctx.text("too late");
      afterAbort.open();
      return "should be ignored";
    });
    await started.promise;
    const canceled = await tasks.cancel(task.id, "bob");
    expect(canceled.status).toBe("canceled");
    expect(isHeraldError(sawAbort)).toBe(true);
    await afterAbort.promise;
    const final = await tasks.wait(task.id, "bob");
    expect(final).toMatchObject({ status: "canceled", progress: 0, text: "", result: null });
    expect(final.seq).toBe(canceled.seq);
    expect(await codeOf(tasks.cancel(task.id, "bob"))).toBe("task_finished");
    expect(tasks.running).toBe(0);
  });

  it("canceling a queued task means its job never runs", async () => {
    const { tasks } = setup();
    let ran = false;
    const task = await tasks.start("bob", async () => {
      ran = true;
    });
    const canceled = await tasks.cancel(task.id, "bob");
    expect(canceled.status).toBe("canceled");
    expect((await tasks.wait(task.id, "bob")).status).toBe("canceled");
    expect(ran).toBe(false);
  });

  it("a job that throws fails the task with its message; a finished task cannot be canceled", async () => {
    const { tasks } = setup({ errorMessage: (e) => `boom: ${(e as Error).message}` });
    const task = await tasks.start("carol", async (ctx) => {
      ctx.step("load", "active");
      ctx.step("load", "failed");
      throw new Error("disk full");
    });
    const final = await tasks.wait(task.id, "carol");
    expect(final).toMatchObject({
      status: "failed",
      error: { message: "boom: disk full" },
      result: null,
      steps: [{ name: "load", status: "failed" }],
    });
    expect(await codeOf(tasks.cancel(task.id, "carol"))).toBe("task_finished");
    const notJson = await tasks.start("carol", async () => ({ big: 1n }));
    expect((await tasks.wait(notJson.id, "carol")).status).toBe("failed");
  });

  it("finished tasks expire after finishedTtlMs on the injected clock; running ones do not", async () => {
    let t = 1_000;
    const now = () => t;
    const { tasks } = setup({ now, store: new MemoryTaskStore({ now }), finishedTtlMs: 500 });
    const release = gate();
    const quick = await tasks.start("dan", async () => 1);
    const slow = await tasks.start("dan", () => release.promise.then(() => 2));
    await tasks.wait(quick.id, "dan");
    await waitFor(
      () => tasks.get(slow.id, "dan"),
      (s) => s.status === "running",
      "slow task running",
    );
    t += 499;
    expect((await tasks.get(quick.id, "dan")).result).toBe(1);
    t += 1;
    expect(await codeOf(tasks.get(quick.id, "dan"))).toBe("task_not_found");
    expect(await tasks.ownerOf(quick.id)).toBeNull();
    t += 1_000_000;
    expect((await tasks.get(slow.id, "dan")).status).toBe("running");
    release.open();
    await tasks.wait(slow.id, "dan");
    t += 500;
    expect(await codeOf(tasks.get(slow.id, "dan"))).toBe("task_not_found");
  });

  it("throttles progress: a tight loop publishes a handful of events and always the last value", async () => {
    const { herald: h, tasks } = setup({ now: () => 5_000 });
    const progressEvents = async (id: string) =>
      (await h.broker.read(`task-${id}`, 0, 10_000)).events
        .filter((e) => e.event === "progress")
        .map((e) => JSON.parse(e.json).progress as number);

    const to100 = await tasks.start("erin", async (ctx) => {
      for (let i = 0; i <= 100; i += 0.1) ctx.progress(Math.min(100, Math.round(i * 10) / 10));
      ctx.progress(100);
    });
    await tasks.wait(to100.id, "erin");
    const a = await progressEvents(to100.id);
    expect(a.length).toBeLessThanOrEqual(3);
    expect(a.at(-1)).toBe(100);

    // Yielding between calls lets every publish finish first, so only the time window coalesces.
    const yielding = await tasks.start("erin", async (ctx) => {
      for (let i = 1; i <= 200; i++) {
        ctx.progress(i / 4);
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    await tasks.wait(yielding.id, "erin");
    const y = await progressEvents(yielding.id);
    expect(y.length).toBeLessThan(10);
    expect(y.at(-1)).toBe(50);

    const to99 = await tasks.start("erin", async (ctx) => {
      for (let i = 0; i < 1000; i++) ctx.progress(i / 10);
      ctx.progress(99);
    });
    const final = await tasks.wait(to99.id, "erin");
    const b = await progressEvents(to99.id);
    expect(b.length).toBeLessThanOrEqual(2);
    expect(b.at(-1)).toBe(99);
    expect(final.progress).toBe(99);
  });

  it("streams long text in bounded chunks without losing a character", async () => {
    const { herald: h, tasks } = setup();
    const long = Array.from({ length: 5000 }, (_, i) => `${i};`).join("");
    const task = await tasks.start("fay", async (ctx) => {
      ctx.text(long);
      for (let i = 0; i < 200; i++) ctx.text(String(i % 10));
    });
    const final = await tasks.wait(task.id, "fay");
    const expected = long + Array.from({ length: 200 }, (_, i) => String(i % 10)).join("");
    expect(final.text).toBe(expected);
    const texts = (await h.broker.read(`task-${task.id}`, 0, 10_000)).events.filter((e) => e.event === "text");
    expect(texts.map((e) => JSON.parse(e.json).chunk).join("")).toBe(expected);
    expect(texts.length).toBeLessThan(200);
  });

  it("validates start() input", async () => {
    const { tasks } = setup();
    expect(await codeOf(tasks.start("", async () => 1))).toBe("invalid_request");
    expect(await codeOf(tasks.start("a", async () => 1, { title: "x".repeat(501) }))).toBe("invalid_request");
    expect(await codeOf(tasks.start("a", async () => 1, { steps: [""] }))).toBe("invalid_request");
    const bad = await tasks.start("a", async (ctx) => ctx.progress(101));
    expect((await tasks.wait(bad.id, "a")).error?.message).toMatch(/progress must be/);
  });
});

describe("tryStart: refusals as values, for Server Actions (issue 19 #1)", () => {
  it("answers past the cap with { ok: false, error } whose message a page can show; start still throws", async () => {
    const h = createHerald({ getUserId: () => "u" });
    herald = h;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const job = async () => gate;
    const started = [];
    for (let i = 0; i < 5; i++) started.push(await h.tasks.tryStart("u", job));
    expect(started.every((r) => r.ok && r.taskId === r.task.id && r.task.status === "queued")).toBe(true);

    const refused = await h.tasks.tryStart("u", job);
    expect(refused).toEqual({
      ok: false,
      error: {
        code: "too_many_tasks",
        status: 429,
        message: "5 tasks are running; wait for one to finish.",
        retryAfterMs: 5000,
        limit: 5,
      },
    });
    // A plain object: survives the Server Action's serialization as it is.
    expect(JSON.parse(JSON.stringify(refused))).toEqual(refused);
    await expect(h.tasks.start("u", job)).rejects.toMatchObject({ code: "too_many_tasks", status: 429 });
    expect((await h.tasks.tryStart("someone-else", async () => 1)).ok).toBe(true);

    release();
    const first = started[0]!;
    if (first.ok) await h.tasks.wait(first.taskId, "u");
    expect((await h.tasks.tryStart("u", job)).ok).toBe(true);
  });

  it("a signed-out caller (no user id) is refused with unauthorized; the job never runs", async () => {
    const h = createHerald({ getUserId: () => null });
    herald = h;
    let ran = false;
    for (const owner of [null, undefined]) {
      const result = await h.tasks.tryStart(owner, async () => {
        ran = true;
      });
      expect(result).toMatchObject({ ok: false, error: { code: "unauthorized", status: 401 } });
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toBe(false);
  });

  it("announces the start on user-{id} (task.started) like start does; bad input is a refusal, a bad job throws", async () => {
    const h = createHerald({ getUserId: () => "ann" });
    herald = h;
    const result = await h.tasks.tryStart("ann", async () => 1, { title: "t" });
    if (!result.ok) throw new Error("refused");
    const { events } = await h.history("user-ann", { limit: 10 });
    expect(events.map((e) => [e.event, e.data])).toEqual([["task.started", { id: result.taskId }]]);
    expect(await h.tasks.tryStart("ann", async () => 1, { title: "x".repeat(501) })).toMatchObject({
      ok: false,
      error: { code: "invalid_request", status: 400 },
    });
    await expect(h.tasks.tryStart("ann", "not a job" as never)).rejects.toThrow(TypeError);
  });
});
