import { afterEach, describe, expect, it } from "vitest";
import { EventSource } from "eventsource";
import type { Herald } from "../../src/server/index.js";
import { createHeraldClient, type Transition } from "../../src/client/index.js";
import { readUntil, startServer, waitFor, type TestServer } from "../helpers.js";
import { secureHerald } from "./fixture.js";

let herald: Herald;
let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  await herald?.close();
});

async function get(url: string) {
  const res = await fetch(url);
  const body = res.headers.get("content-type")?.startsWith("application/json") ? await res.json() : null;
  if (!body) await res.body?.cancel();
  return { status: res.status, body };
}

describe("channel authorization", () => {
  it("lets a user follow their own user- channel and refuses another user's, naming the channel", async () => {
    const app = secureHerald();
    herald = app.herald;
    server = await startServer(herald);
    const mine = await app.tokens.issue("alice");
    const res = await fetch(`${server.url}?channel=user-alice&token=${mine}`);
    expect(res.status).toBe(200);
    await res.body!.cancel();
    const other = await app.tokens.issue("alice");
    const denied = await get(`${server.url}?channel=news&channel=user-bob&token=${other}`);
    expect(denied).toMatchObject({ status: 403, body: { error: { code: "forbidden", channel: "user-bob" } } });
    // Anonymous subscribers get public channels only.
    expect((await get(`${server.url}?channel=user-alice`)).status).toBe(403);
  });

  it("refuses a whole multi-channel request when one channel fails, and opens nothing", async () => {
    const app = secureHerald();
    herald = app.herald;
    server = await startServer(herald);
    const token = await app.tokens.issue("alice");
    const denied = await get(`${server.url}?channel=news&channel=user-alice&channel=private-team-bob&token=${token}`);
    expect(denied).toMatchObject({ status: 403, body: { error: { channel: "private-team-bob" } } });
    expect(herald.stats()).toMatchObject({ subscribers: 0, channels: 0 });
  });

  it("lets only a task's owner follow task-{id}", async () => {
    const app = secureHerald();
    herald = app.herald;
    server = await startServer(herald);
    const task = await app.tasks.start("alice", async (ctx) => {
      await new Promise((r) => ctx.signal.addEventListener("abort", r));
    });
    const bob = await app.tokens.issue("bob");
    expect(await get(`${server.url}?channel=task-${task.id}&token=${bob}`)).toMatchObject({
      status: 403,
      body: { error: { code: "forbidden", channel: `task-${task.id}` } },
    });
    const alice = await app.tokens.issue("alice");
    const ok = await fetch(`${server.url}?channel=task-${task.id}&token=${alice}`);
    expect(ok.status).toBe(200);
    await ok.body!.cancel();
    await app.tasks.cancel(task.id, "alice");
  });

  it("sends private- and presence- channels through the app callback", async () => {
    const app = secureHerald();
    herald = app.herald;
    server = await startServer(herald);
    const t1 = await app.tokens.issue("alice");
    const ok = await fetch(`${server.url}?channel=private-team-alice&token=${t1}`);
    expect(ok.status).toBe(200);
    await ok.body!.cancel();
    const t2 = await app.tokens.issue("alice");
    expect((await get(`${server.url}?channel=presence-lobby&token=${t2}`)).status).toBe(403);
  });

  it("checks authorization again on every reconnect (a revoked right ends in failed, not a retry loop)", async () => {
    let allowed = true;
    const app = secureHerald({
      authorize: (principal, channel) => channel !== "vip" || (principal !== null && allowed),
    });
    herald = app.herald;
    server = await startServer(herald);
    const transitions: Transition[] = [];
    const client = createHeraldClient({
      url: server.url,
      getToken: () => app.tokens.issue("alice"),
      backoff: { baseMs: 5, capMs: 10 },
      onlineTarget: null,
    });
    client.on("state", (t) => transitions.push(t));
    client.subscribe("vip", () => {});
    await waitFor(() => client.state === "connected");
    allowed = false;
    server.cutAll();
    await waitFor(() => client.state === "failed", 10_000, "failed");
    expect(transitions.at(-1)).toMatchObject({ next: "failed", reason: "forbidden" });
    client.close();
  });
});

describe("tokens at the door", () => {
  it.each([
    ["replayed", async (t: string) => t, "token_used"],
    ["forged id", async () => `${"A".repeat(22)}.${"B".repeat(43)}`, "token_invalid"],
    ["malformed", async () => "not-a-token", "token_malformed"],
    ["oversized", async () => "a".repeat(1000), "token_malformed"],
  ])("a %s token gets 401 with its code", async (_name, mutate, code) => {
    const app = secureHerald();
    herald = app.herald;
    server = await startServer(herald);
    const token = await app.tokens.issue("alice");
    const first = await fetch(`${server.url}?channel=user-alice&token=${token}`);
    expect(first.status).toBe(200);
    await first.body!.cancel();
    const res = await get(`${server.url}?channel=user-alice&token=${encodeURIComponent(await mutate(token))}`);
    expect(res).toMatchObject({ status: 401, body: { error: { code } } });
  });

  it("a token with a forged secret gets 401 token_invalid, and is burned for its holder", async () => {
    const app = secureHerald();
    herald = app.herald;
    server = await startServer(herald);
    const token = await app.tokens.issue("alice");
    const forged = `${token.split(".")[0]}.${"A".repeat(43)}`;
    expect(await get(`${server.url}?channel=user-alice&token=${forged}`)).toMatchObject({
      status: 401,
      body: { error: { code: "token_invalid" } },
    });
    expect((await get(`${server.url}?channel=user-alice&token=${token}`)).status).toBe(401);
  });

  it("an expired token gets 401 token_expired", async () => {
    let now = 1_000_000;
    const { createTokens, createHerald, tokenAuthenticator } = await import("../../src/server/index.js");
    const tokens = createTokens({ now: () => now });
    herald = createHerald({ authenticate: tokenAuthenticator(tokens) });
    server = await startServer(herald);
    const token = await tokens.issue("alice");
    now += 61_000;
    expect(await get(`${server.url}?channel=a&token=${token}`)).toMatchObject({
      status: 401,
      body: { error: { code: "token_expired" } },
    });
  });

  it("a token bound to channels cannot open others (foreign use)", async () => {
    const app = secureHerald();
    herald = app.herald;
    server = await startServer(herald);
    const token = await app.tokens.issue("alice", { channels: ["news"] });
    expect(await get(`${server.url}?channel=news&channel=sport&token=${token}`)).toMatchObject({ status: 403 });
  });

  it("the client surfaces a 401 as a terminal state with the reason, instead of retrying forever", async () => {
    const app = secureHerald();
    herald = app.herald;
    server = await startServer(herald);
    const client = createHeraldClient({ url: server.url, getToken: () => "bogus.token", onlineTarget: null });
    const errors: string[] = [];
    client.on("error", (e) => errors.push(e.code));
    client.subscribe("news", () => {});
    await waitFor(() => client.state === "failed");
    expect(errors).toEqual(["token_malformed"]);
    client.close();
  });
});

describe("tokens are not the session and are never echoed", () => {
  it("does not include the token in any response body or header", async () => {
    const app = secureHerald();
    herald = app.herald;
    server = await startServer(herald);
    const token = await app.tokens.issue("alice");
    const res = await fetch(`${server.url}?channel=user-alice&token=${token}`);
    const { text, reader } = await readUntil(res.body!, (t) => t.includes("herald:connected"));
    await reader.cancel();
    expect(text).not.toContain(token.split(".")[1]);
    expect(JSON.stringify([...res.headers])).not.toContain(token.split(".")[1]);
    const replay = await fetch(`${server.url}?channel=user-alice&token=${token}`);
    expect(await replay.text()).not.toContain(token.split(".")[1]);
    void EventSource;
  });
});
