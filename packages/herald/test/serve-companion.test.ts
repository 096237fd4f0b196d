/**
 * `herald serve` as the companion of an app that cannot hold connections (a serverless Next.js
 * app): the app signs connection tokens with a secret it shares with serve (signConnectionToken);
 * the browser connects to serve's /sse or /poll with one and follows its user channel and a
 * presence room; the app publishes through serve's HTTP API (the `pusher` SDK). Refusals: a
 * replayed token, another user's channel, a forged signature, no token. A real `herald serve`
 * child process, Herald's client, the official SDK.
 */
import type { ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { createHeraldClient, type HeraldClient } from "../src/client/index.js";
import { signConnectionToken, verifyConnectionToken } from "../src/server/index.js";
import { sdkFor } from "./pusher/fixture.js";
import { startServe } from "./pusher/serve-process.js";
import { waitFor } from "./helpers.js";

const SECRET = "a-secret-the-app-and-serve-share-0123456789";
const children: ChildProcess[] = [];
const clients: HeraldClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

/** What the app's token route does: sign a token for its signed-in user. */
const tokenFor =
  (userId: string, channels: string[] = ["presence-lobby"]) =>
  () =>
    signConnectionToken({ userId, channels }, SECRET);

function browser(url: string, userId: string, transport: "sse" | "poll"): HeraldClient {
  const client = createHeraldClient({
    url: `${url}/sse`,
    transport,
    poll: { wait: 2 },
    getToken: tokenFor(userId),
    onlineTarget: null,
    visibilityTarget: null,
  });
  clients.push(client);
  return client;
}

describe("herald serve beside a serverless app (connection tokens)", () => {
  it("serves a user channel and a presence room on /sse and /poll to tokens the app signed", async () => {
    const { port, url } = await startServe(children, { HERALD_TOKEN_SECRET: SECRET });
    const sdk = sdkFor(port);
    const alice = browser(url, "alice", "sse");
    const bob = browser(url, "bob", "poll");
    const got = { alice: [] as number[], bob: [] as number[] };
    alice.subscribe<{ n: number }>("user-alice", (e) => got.alice.push(e.data.n));
    alice.subscribe("presence-lobby", () => undefined);
    bob.subscribe<{ n: number }>("user-bob", (e) => got.bob.push(e.data.n));
    await waitFor(() => alice.state === "connected" && bob.state === "connected", 15_000, "both connected");
    expect(bob.transport).toBe("poll");

    // The app publishes through serve's HTTP API, as a serverless function would.
    for (let n = 0; n < 3; n++) {
      await sdk.trigger("user-alice", "notify", { n });
      await sdk.trigger("user-bob", "notify", { n });
    }
    // Polls keep going with the tokens serve renews in each answer.
    await waitFor(() => got.alice.length === 3 && got.bob.length === 3, 15_000, "every notification");
    expect(got).toEqual({ alice: [0, 1, 2], bob: [0, 1, 2] });
    await sdk.trigger("user-bob", "notify", { n: 3 });
    await waitFor(() => got.bob.length === 4, 15_000, "a notification after several polls");

    // Presence: a second SSE user joins the room; alice sees her, once.
    const carol = browser(url, "carol", "sse");
    carol.subscribe("presence-lobby", () => undefined);
    await waitFor(
      () => (alice.presence!("presence-lobby")?.members ?? []).map((m) => m.id).join() === "alice,carol",
      15_000,
      "carol in the room",
    );
  }, 60_000);

  it("refuses a replayed token, another user's channel, a forged token, and private channels without one", async () => {
    const { url } = await startServe(children, { HERALD_TOKEN_SECRET: SECRET });
    const open = async (query: string) => {
      const response = await fetch(`${url}/sse?${query}`);
      if (response.headers.get("content-type")?.includes("json")) {
        return { status: response.status, body: (await response.json()) as unknown };
      }
      await response.body?.cancel(); // a stream: its head is the answer
      return { status: response.status, body: null };
    };
    const token = signConnectionToken({ userId: "alice" }, SECRET);
    expect((await open(`channel=user-alice&token=${token}`)).status).toBe(200);
    expect(await open(`channel=user-alice&token=${token}`)).toMatchObject({
      status: 401,
      body: { error: { code: "token_used" } },
    });
    const bobs = signConnectionToken({ userId: "bob" }, SECRET);
    expect(await open(`channel=user-alice&token=${bobs}`)).toMatchObject({
      status: 403,
      body: { error: { code: "forbidden" } },
    });
    const forged = signConnectionToken({ userId: "alice" }, "another-secret-that-is-long-enough-00000");
    expect(await open(`channel=user-alice&token=${forged}`)).toMatchObject({
      status: 401,
      body: { error: { code: "token_invalid" } },
    });
    expect((await open("channel=user-alice")).status).toBe(403);
    expect((await open("channel=presence-lobby")).status).toBe(403);
    expect((await open("channel=news")).status).toBe(200); // public channels need no token
  }, 30_000);
});

describe("connection tokens", () => {
  it("expire, refuse malformed input and short secrets, and carry only what the app signed", () => {
    const now = 1_800_000_000_000;
    const token = signConnectionToken({ userId: "alice", channels: ["presence-lobby"] }, SECRET, {
      ttlSeconds: 60,
      now: () => now,
    });
    expect(verifyConnectionToken(token, SECRET, now + 59_000)).toMatchObject({ sub: "alice", ch: ["presence-lobby"] });
    expect(() => verifyConnectionToken(token, SECRET, now + 60_000)).toThrow(
      expect.objectContaining({ code: "token_expired" }),
    );
    for (const bad of ["", "a.b", "a.b.c.d", `${token}x`, "x".repeat(5000)]) {
      expect(() => verifyConnectionToken(bad, SECRET, now), bad.slice(0, 20)).toThrow(
        expect.objectContaining({ code: expect.stringMatching(/^token_(malformed|invalid)$/) }),
      );
    }
    // A payload edited to another user keeps the signature of the first: refused.
    const [head, , sig] = token.split(".");
    const edited = Buffer.from(JSON.stringify({ sub: "mallory", ch: [], exp: 9e9, jti: "x" })).toString("base64url");
    expect(() => verifyConnectionToken(`${head}.${edited}.${sig}`, SECRET, now)).toThrow(
      expect.objectContaining({ code: "token_invalid" }),
    );
    expect(() => signConnectionToken({ userId: "alice" }, "short")).toThrow(RangeError);
    expect(() => signConnectionToken({ userId: "alice", channels: ["bad name"] }, SECRET)).toThrow(
      expect.objectContaining({ code: "invalid_channel" }),
    );
  });
});
