/**
 * The write side of a channel's Durable Stream, with the official client (`@durable-streams/client`)
 * against a real server (port 0): create (`PUT`) says the stream exists for a user who may publish
 * there, append (`POST`) is an authorized client publish whose messages readers get in Herald's
 * envelope beside `herald.publish`'s events; every refusal has its code and status and publishes
 * nothing; delete is refused.
 */
import { DurableStream, stream } from "@durable-streams/client";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineChannels } from "../../src/protocol/index.js";
import { createHerald, type Herald, type HeraldOptions } from "../../src/server/index.js";
import { startRoutes } from "../helpers.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** Alice may publish on `room-*` and `typed-*`; nobody else may publish anywhere. */
const authorizePublish = (userId: string, channel: string): boolean =>
  userId === "alice" && (channel.startsWith("room-") || channel.startsWith("typed-"));

async function serve(
  options: HeraldOptions = {},
): Promise<{ herald: Herald; base: string; token(user: string): Promise<string> }> {
  const herald = createHerald({
    limits: { connectPerIp: false },
    getUserId: (request) => request.header("x-user"),
    authorizePublish,
    ...options,
  });
  const { base, close } = await startRoutes(herald);
  cleanups.push(close);
  const token = async (user: string): Promise<string> => {
    const reply = await fetch(`${base}/token`, { method: "POST", headers: { "x-user": user } });
    return ((await reply.json()) as { token: string }).token;
  };
  return { herald, base, token };
}

type Envelope = { channel: string; event: string; data: unknown; id: string; userId?: string };

/** A raw request to a stream URL with a fresh token for `user`; its status and error code. */
async function write(
  base: string,
  token: (user: string) => Promise<string>,
  channel: string,
  init: RequestInit & { user?: string; query?: string },
): Promise<{ status: number; code: string | undefined; headers: Headers }> {
  const auth = init.user === undefined ? "" : `token=${await token(init.user)}`;
  const query = [auth, init.query ?? ""].filter(Boolean).join("&");
  const reply = await fetch(`${base}/streams/${channel}${query ? `?${query}` : ""}`, init);
  const text = await reply.text();
  const code = text ? (JSON.parse(text) as { error?: { code: string } }).error?.code : undefined;
  return { status: reply.status, code, headers: reply.headers };
}

describe("writing a channel's Durable Stream", () => {
  it("creates and appends with the official client; readers get every event in Herald's envelope", async () => {
    const { herald, base, token } = await serve();
    const url = `${base}/streams/room-lobby`;
    const handle = await DurableStream.create({
      url,
      contentType: "application/json",
      params: { token: () => token("alice") },
    });
    // Create again: idempotent.
    await handle.create({ contentType: "application/json" });
    await herald.publish("room-lobby", "announcement", { text: "welcome" });
    // Appended together, the client batches them into one POST (a JSON array): one event each.
    await Promise.all([handle.append(JSON.stringify({ text: "hi" })), handle.append(JSON.stringify({ text: "yo" }))]);
    await handle.append(JSON.stringify("plain string"));

    const res = await stream<Envelope>({ url, params: { token: () => token("alice") }, live: false });
    const events = await res.json();
    expect(events.map(({ event, data, userId }) => ({ event, data, userId }))).toEqual([
      { event: "announcement", data: { text: "welcome" }, userId: undefined },
      { event: "client-message", data: { text: "hi" }, userId: "alice" },
      { event: "client-message", data: { text: "yo" }, userId: "alice" },
      { event: "client-message", data: "plain string", userId: "alice" },
    ]);
    expect(events.every((e) => e.channel === "room-lobby")).toBe(true);
    // The same events, the same way, on Herald's side.
    const history = await herald.history("room-lobby");
    expect(history.events.map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  it("answers create 201 then 200, append 204 with the offset to read after, and honours ?event=client-…", async () => {
    const { herald, base, token } = await serve();
    const json = { "Content-Type": "application/json" };
    const created = await write(base, token, "room-a", { method: "PUT", headers: json, user: "alice" });
    expect([created.status, created.headers.get("content-type")]).toEqual([201, "application/json"]);
    expect(created.headers.get("location")).toBe(`${new URL(base).pathname}/streams/room-a`);
    await herald.publish("room-a", "announcement", { n: 1 });
    const again = await write(base, token, "room-a", { method: "PUT", user: "alice" });
    expect(again.status).toBe(200);

    const appended = await write(base, token, "room-a", {
      method: "POST",
      headers: { "Content-Type": "application/json; charset=utf-8" },
      body: JSON.stringify({ text: "typing" }),
      user: "alice",
      query: "event=client-typing",
    });
    expect(appended.status).toBe(204);
    const offset = appended.headers.get("stream-next-offset")!;
    await herald.publish("room-a", "announcement", { n: 2 });
    const after = await fetch(`${base}/streams/room-a?offset=${offset}&token=${await token("alice")}`);
    expect(((await after.json()) as Envelope[]).map((e) => e.data)).toEqual([{ n: 2 }]);
    const all = await herald.history("room-a");
    expect(all.events.map((e) => e.event)).toEqual(["announcement", "client-typing", "announcement"]);

    // A create with a body appends it.
    const seeded = await write(base, token, "room-b", {
      method: "PUT",
      headers: json,
      body: JSON.stringify([{ n: 1 }, { n: 2 }]),
      user: "alice",
    });
    expect(seeded.status).toBe(201);
    expect((await herald.history("room-b")).events.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it("refuses what it cannot honour with a code and the right status, publishing nothing", async () => {
    const channels = defineChannels({ "typed-*": { "client-message": z.object({ text: z.string() }) } });
    const { herald, base, token } = await serve({ channels });
    const json = { "Content-Type": "application/json" };
    const post = (channel: string, init: RequestInit & { user?: string; query?: string }) =>
      write(base, token, channel, { method: "POST", headers: json, ...init });
    const refusals: [string, Awaited<ReturnType<typeof write>>][] = [
      ["signed out", await post("room-a", { body: "{}" })],
      ["not allowed to publish", await post("room-a", { body: "{}", user: "bob" })],
      ["not allowed to publish there", await post("news", { body: "{}", user: "alice" })],
      [
        "text/plain append",
        await post("room-a", { body: "hi", headers: { "Content-Type": "text/plain" }, user: "alice" }),
      ],
      [
        "text/plain create",
        await write(base, token, "room-a", { method: "PUT", headers: { "Content-Type": "text/plain" }, user: "alice" }),
      ],
      ["no content type", await post("room-a", { body: new TextEncoder().encode("{}"), headers: {}, user: "alice" })],
      ["not JSON", await post("room-a", { body: "{nope", user: "alice" })],
      ["empty body", await post("room-a", { body: "", user: "alice" })],
      ["empty array", await post("room-a", { body: "[]", user: "alice" })],
      ["server event name", await post("room-a", { body: "{}", user: "alice", query: "event=announcement" })],
      ["too deep", await post("room-a", { body: `${"[".repeat(40)}${"]".repeat(40)}`, user: "alice" })],
      ["too large", await post("room-a", { body: JSON.stringify({ text: "x".repeat(20_000) }), user: "alice" })],
      [
        "a batch with one invalid message",
        await post("typed-1", { body: '[{"text":"ok"},{"text":3}]', user: "alice" }),
      ],
      [
        "a batch over the rate",
        await post("room-a", { body: JSON.stringify(Array(21).fill({ n: 1 })), user: "alice" }),
      ],
      [
        "a writer sequence",
        await post("room-a", { body: "{}", headers: { ...json, "Stream-Seq": "1" }, user: "alice" }),
      ],
      [
        "an idempotent producer",
        await post("room-a", { body: "{}", headers: { ...json, "Producer-Id": "p" }, user: "alice" }),
      ],
      [
        "a TTL",
        await write(base, token, "room-a", { method: "PUT", headers: { ...json, "Stream-TTL": "60" }, user: "alice" }),
      ],
      ["closing", await post("room-a", { body: "{}", headers: { ...json, "Stream-Closed": "true" }, user: "alice" })],
      ["delete", await write(base, token, "room-a", { method: "DELETE", user: "alice" })],
    ];
    expect(refusals.map(([what, { status, code }]) => [what, status, code])).toEqual([
      ["signed out", 401, "unauthorized"],
      ["not allowed to publish", 403, "forbidden"],
      ["not allowed to publish there", 403, "forbidden"],
      ["text/plain append", 409, "conflict"],
      ["text/plain create", 409, "conflict"],
      ["no content type", 400, "invalid_request"],
      ["not JSON", 400, "invalid_data"],
      ["empty body", 400, "invalid_data"],
      ["empty array", 400, "invalid_data"],
      ["server event name", 400, "invalid_event"],
      ["too deep", 400, "invalid_data"],
      ["too large", 413, "payload_too_large"],
      ["a batch with one invalid message", 400, "invalid_event_data"],
      ["a batch over the rate", 429, "rate_limited"],
      ["a writer sequence", 400, "invalid_request"],
      ["an idempotent producer", 400, "invalid_request"],
      ["a TTL", 400, "invalid_request"],
      ["closing", 400, "invalid_request"],
      ["delete", 405, "method_not_allowed"],
    ]);
    for (const channel of ["room-a", "news", "typed-1"]) expect((await herald.history(channel)).events).toEqual([]);
  });

  it("counts writes against the publish route's rate, as POST …/publish is", async () => {
    const publish = { perUser: { capacity: 2, refillPerSecond: 0.001 }, perIp: false as const };
    const { herald, base, token } = await serve({ limits: { connectPerIp: false, routes: { publish } } });
    const init = { method: "POST", headers: { "Content-Type": "application/json" }, user: "alice" };
    const statuses: number[] = [];
    for (let n = 1; n <= 3; n++)
      statuses.push((await write(base, token, "room-a", { ...init, body: `{"n":${n}}` })).status);
    expect(statuses).toEqual([204, 204, 429]);
    expect((await herald.history("room-a")).events.map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it("refuses writes (405) when the app lets no one publish (no authorizePublish)", async () => {
    const { herald, base, token } = await serve({ authorizePublish: undefined });
    const put = await write(base, token, "room-a", { method: "PUT", user: "alice" });
    const post = await write(base, token, "room-a", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
      user: "alice",
    });
    expect([put.status, put.code, post.status, post.code]).toEqual([
      405,
      "method_not_allowed",
      405,
      "method_not_allowed",
    ]);
    expect((await herald.history("room-a")).events).toEqual([]);
  });
});
