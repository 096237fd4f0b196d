import { describe, expect, test } from "vitest";
import { applyTaskEvent, isFinalStatus, seqOfId, type TaskSnapshot } from "./task-state.js";

const base: TaskSnapshot = {
  id: "t",
  ownerId: "u",
  title: null,
  status: "running",
  progress: 10,
  steps: [{ name: "a", status: "active" }],
  text: "ab",
  result: null,
  error: null,
  createdAt: 1,
  updatedAt: 1,
  seq: 5,
  cursor: null,
};

describe("applyTaskEvent", () => {
  test("ignores events at or below the snapshot's seq", () => {
    expect(applyTaskEvent(base, "progress", { progress: 90 }, 5)).toBe(base);
    expect(applyTaskEvent(base, "text", { chunk: "c" }, 4)).toBe(base);
  });

  test("applies each event kind and moves seq", () => {
    let s = applyTaskEvent(base, "progress", { progress: 50 }, 6);
    s = applyTaskEvent(s, "step", { name: "a", status: "done" }, 7);
    s = applyTaskEvent(s, "step", { name: "b", status: "active" }, 8);
    s = applyTaskEvent(s, "text", { chunk: "c" }, 9);
    expect(s).toMatchObject({ progress: 50, text: "abc", seq: 9 });
    expect(s.steps).toEqual([
      { name: "a", status: "done" },
      { name: "b", status: "active" },
    ]);
    expect(applyTaskEvent(s, "result", { status: "succeeded", result: { n: 1 } }, 10)).toMatchObject({
      status: "succeeded",
      result: { n: 1 },
    });
    expect(applyTaskEvent(s, "error", { status: "failed", error: { message: "boom" } }, 10)).toMatchObject({
      status: "failed",
      error: { message: "boom" },
    });
    expect(applyTaskEvent(s, "status", { status: "canceled" }, 10).status).toBe("canceled");
    expect(applyTaskEvent(s, "mystery", {}, 10)).toMatchObject({ seq: 10, text: "abc" });
    expect(base.steps[0]!.status).toBe("active"); // never mutates its input
  });

  test("a queued task that reports progress, a step or text is running", () => {
    const queued: TaskSnapshot = { ...base, status: "queued" };
    expect(applyTaskEvent(queued, "progress", { progress: 20 }, 6).status).toBe("running");
    expect(applyTaskEvent(queued, "step", { name: "a", status: "active" }, 6).status).toBe("running");
    expect(applyTaskEvent(queued, "text", { chunk: "x" }, 6).status).toBe("running");
    expect(applyTaskEvent(queued, "other", {}, 6).status).toBe("queued");
    expect(applyTaskEvent({ ...base, status: "canceled" }, "progress", { progress: 20 }, 6).status).toBe("canceled");
  });

  test("seqOfId and isFinalStatus", () => {
    expect(seqOfId("mabc123-42")).toBe(42);
    expect(seqOfId("junk")).toBe(-1);
    expect(["succeeded", "failed", "canceled"].every(isFinalStatus)).toBe(true);
    expect(isFinalStatus("running")).toBe(false);
  });
});
