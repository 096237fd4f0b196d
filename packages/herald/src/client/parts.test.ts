/** The client's small parts on their own: the failure decision, the resettable timer, the presence book. */
import { describe, expect, it } from "vitest";
import { decide, type Failure } from "./failure.js";
import { PresenceBook } from "./presence-state.js";
import { Timer } from "./timer.js";
import type { Timers } from "./types.js";

const failure = (extra: Partial<Failure>): Failure => ({ connected: false, staleTokenRetried: false, ...extra });

describe("decide (the failure taxonomy)", () => {
  it("ends in failed only for what a retry cannot fix", () => {
    expect(decide(failure({ status: 401 }))).toMatchObject({ action: "fail", reason: "unauthorized" });
    expect(decide(failure({ status: 403, errorCode: "forbidden" }))).toMatchObject({ action: "fail" });
    expect(decide(failure({ status: 400, errorCode: "invalid_channel" }))).toMatchObject({
      action: "fail",
      code: "invalid_channel",
    });
    expect(decide(failure({ status: 414 }))).toMatchObject({ action: "fail", code: "http_error" });
  });

  it("retries a stale token once, then gives up", () => {
    const first = decide(failure({ status: 401, errorCode: "token_used" }));
    expect(first).toMatchObject({ action: "retry", staleRetry: true, code: "token_used" });
    expect(decide(failure({ status: 401, errorCode: "token_expired", staleTokenRetried: true }))).toMatchObject({
      action: "fail",
      reason: "token_expired",
    });
  });

  it("retries network errors, 5xx and 429, with the server's Retry-After as a floor", () => {
    expect(decide(failure({}))).toEqual({
      action: "retry",
      reason: "connect_failed",
      code: null,
      retryAfterMs: 0,
      staleRetry: false,
    });
    expect(decide(failure({ connected: true }))).toMatchObject({ action: "retry", reason: "error" });
    expect(decide(failure({ status: 503 }))).toMatchObject({ action: "retry", code: "http_error" });
    expect(decide(failure({ status: 429, errorCode: "rate_limited", retryAfter: 7 }))).toMatchObject({
      action: "retry",
      reason: "rate_limited",
      retryAfterMs: 7000,
    });
  });
});

/** Timers that run only when told to. */
function manualTimers(): Timers & { due: Map<number, () => void>; run(): void } {
  let next = 0;
  const due = new Map<number, () => void>();
  return {
    due,
    setTimeout: (fn) => {
      due.set(++next, fn);
      return next;
    },
    clearTimeout: (h) => void due.delete(h as number),
    run() {
      for (const [h, fn] of [...due]) {
        due.delete(h);
        fn();
      }
    },
  };
}

describe("Timer", () => {
  it("keeps one pending callback: set replaces, clear cancels, armed tells", () => {
    const timers = manualTimers();
    const timer = new Timer(timers);
    const ran: string[] = [];
    expect(timer.armed).toBe(false);
    timer.set(10, () => ran.push("a"));
    timer.set(10, () => ran.push("b"));
    expect(timers.due.size).toBe(1);
    expect(timer.armed).toBe(true);
    timers.run();
    expect(ran).toEqual(["b"]);
    expect(timer.armed).toBe(false);
    timer.set(10, () => ran.push("c"));
    timer.clear();
    timer.clear();
    timers.run();
    expect(ran).toEqual(["b"]);
  });
});

describe("PresenceBook", () => {
  it("builds members from the list and its changes, and hands out the same state until a change", () => {
    const book = new PresenceBook();
    expect(book.get("presence-a")).toBeNull();
    book.apply({ channel: "presence-a", type: "members", members: [{ id: "ann", info: 1 }], me: "ann" });
    const first = book.get("presence-a");
    expect(first).toEqual({ members: [{ id: "ann", info: 1 }], me: { id: "ann", info: 1 }, count: 1 });
    expect(book.get("presence-a")).toBe(first);
    book.apply({ channel: "presence-a", type: "added", member: { id: "bob", info: 2 } });
    expect(book.get("presence-a")!.count).toBe(2);
    book.apply({ channel: "presence-a", type: "removed", member: { id: "ann", info: 1 } });
    expect(book.get("presence-a")).toEqual({ members: [{ id: "bob", info: 2 }], me: null, count: 1 });
    book.forget("presence-a");
    expect(book.get("presence-a")).toBeNull();
  });
});
