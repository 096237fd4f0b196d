/**
 * Typed channels: one map (channels.fixture.ts: zod 4, valibot 1 and a hand-written asynchronous
 * Standard Schema) checks every way an event is published, on a real server (port 0), and its types
 * are checked by `tsc` (types.check.ts: wrong event names and payloads must not compile).
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { defineChannels } from "../../src/protocol/index.js";
import { createHerald, isHeraldError, type Herald, type HeraldOptions } from "../../src/server/index.js";
import { receiver } from "../../src/react/validate.js";
import type { EventEnvelope } from "../../src/protocol/index.js";
import { startRoutes, waitFor } from "../helpers.js";
import { channels } from "./channels.fixture.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..", "..", "..");
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function serve(options: HeraldOptions = {}): Promise<{ herald: Herald; base: string }> {
  const herald = createHerald({ channels, ...options });
  const { base, close } = await startRoutes(herald);
  cleanups.push(close);
  return { herald, base };
}

/** The error `promise` rejects with (fails when it resolves). */
async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string; details: unknown }> {
  const error: unknown = await promise.then(
    () => {
      throw new Error("expected a refusal");
    },
    (e: unknown) => e,
  );
  if (!isHeraldError(error)) throw error;
  return { code: error.code, message: error.message, details: error.details };
}

describe("publish on a typed channel", () => {
  it("publishes valid data as the schema's output (zod, valibot, an async hand-written schema)", async () => {
    const { herald } = await serve();
    await herald.publish("room-lobby", "message", { text: "hello" });
    await herald.publish("notifications", "count", 2.6);
    await herald.publish("payments", "paid", { amount: 12 });
    expect((await herald.history("room-lobby")).events.map((e) => e.data)).toEqual([
      { text: "hello", from: "anonymous" }, // zod's default filled in
    ]);
    expect((await herald.history("notifications")).events.map((e) => e.data)).toEqual([3]); // valibot's transform
    expect((await herald.history("payments")).events.map((e) => e.data)).toEqual([{ amount: 12 }]);
  });

  it("refuses invalid data with invalid_event_data and its issues, publishing nothing", async () => {
    const { herald } = await serve();
    const before = await herald.position();
    const zod = await refusal(herald.publish("room-lobby", "message", { text: "" }));
    expect(zod.code).toBe("invalid_event_data");
    expect(zod.message).toMatch(/^invalid data for "message" on "room-lobby": .+ at text$/);
    expect(zod.details).toMatchObject({ channel: "room-lobby", event: "message", issues: [{ path: ["text"] }] });
    const valibot = await refusal(herald.publish("notifications", "alert", { level: "fatal", text: "x" } as never));
    expect(valibot.code).toBe("invalid_event_data");
    expect(valibot.details).toMatchObject({ issues: [{ path: ["level"] }] });
    const async = await refusal(herald.publish("payments", "paid", { amount: -1 }));
    expect(async).toMatchObject({ code: "invalid_event_data", message: expect.stringMatching(/positive/) });
    // The most specific pattern decides: room-vip-* requires a tier that room-* does not know.
    const vip = await refusal(herald.publish("room-vip-7", "message", { text: "hi" } as never));
    expect(vip.details).toMatchObject({ issues: [{ path: ["tier"] }] });
    await herald.publish("room-vip-7", "message", { text: "hi", tier: "gold" });

    const undeclared = await refusal(herald.publish("room-lobby", "shout" as never, { text: "HI" } as never));
    expect(undeclared).toMatchObject({ code: "invalid_event", details: { channel: "room-lobby", event: "shout" } });
    // Only the vip message was stored.
    expect((await herald.position()).seq).toBe(before.seq + 1);
    expect(herald.stats().counters.publishes).toMatchObject({ rejected: 5 });
  });

  it("leaves undeclared channels untyped, and Herald's own task events unchecked", async () => {
    const typed = defineChannels({ "user-*": { notification: channels.map.notifications.alert } });
    const { herald } = await serve({ channels: typed });
    await herald.publish("lobby", "anything", { at: 1 });
    const task = await herald.tasks.start("alice", async () => "done");
    const announced = await herald.history("user-alice");
    expect(announced.events.map((e) => [e.event, e.data])).toEqual([["task.started", { id: task.id }]]);
  });

  it("validates what browsers publish on POST …/publish (400 invalid_event_data) and the Pusher path (publishJson)", async () => {
    const { herald, base } = await serve({ getUserId: () => "ann", authorizePublish: () => true });
    const post = (data: unknown) =>
      fetch(`${base}/publish`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ channel: "private-chat-1", event: "client-message", data }),
      });
    const bad = await post({ text: 5 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("invalid_event_data");
    const good = await post({ text: "hi" });
    expect(good.status).toBe(200);
    const page = await herald.history("private-chat-1");
    expect(page.events.map((e) => [e.data, e.userId])).toEqual([[{ text: "hi" }, "ann"]]);

    const json = await refusal(herald.publishJson("notifications", "count", '"three"'));
    expect(json.code).toBe("invalid_event_data");
    await herald.publishJson("notifications", "count", "1.2");
    expect((await herald.history("notifications")).events.map((e) => e.data)).toEqual([1]);
  });

  it("refuses a map that is not one", () => {
    expect(() => defineChannels({ "a-*-*": {} })).toThrow(/more than one "\*"/);
    expect(() => defineChannels({ room: { message: { parse: () => 1 } as never } })).toThrow(/not a Standard Schema/);
  });
});

it("validation on receive keeps the order of events with an asynchronous schema, dropping the invalid", async () => {
  const delivered: unknown[] = [];
  const refused: string[] = [];
  const take = receiver({ channels, onInvalid: (_e, envelope) => refused.push(envelope.id) }, (envelope) =>
    delivered.push(envelope.data),
  );
  const envelope = (id: string, channel: string, event: string, data: unknown): EventEnvelope =>
    ({ channel, event, data, id, ts: 0 }) as EventEnvelope;
  take(envelope("e-1", "payments", "paid", { amount: 1 }));
  take(envelope("e-2", "payments", "paid", { amount: -2 }));
  take(envelope("e-3", "room-a", "typing", { user: "sync, but queued behind the async ones" }));
  take(envelope("e-4", "payments", "paid", { amount: 4 }));
  await waitFor(() => delivered.length === 3, 5000, "three deliveries");
  expect(delivered).toEqual([{ amount: 1 }, { user: "sync, but queued behind the async ones" }, { amount: 4 }]);
  expect(refused).toEqual(["e-2"]);
});

it("types: wrong event names and payloads do not compile, inference does (tsc on types.check.ts)", () => {
  const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const result = spawnSync(process.execPath, [tsc, "-p", path.join(HERE, "tsconfig.json")], {
    cwd: ROOT,
    encoding: "utf8",
  });
  expect(result.stdout + result.stderr).toBe("");
  expect(result.status).toBe(0);
}, 120_000);
