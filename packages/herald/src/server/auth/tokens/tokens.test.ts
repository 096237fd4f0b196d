import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EventSource } from "eventsource";
import { isHeraldError, type HeraldErrorCode } from "../../../protocol/errors.js";
import { defaultAuthorize } from "../authorize.js";
import { createHerald, type Herald } from "../../herald.js";
import { tokenAuthenticator } from "./authenticator.js";
import { MemoryTokenStore, type TokenRecord, type TokenStore } from "./store.js";
import { createTokens } from "./tokens.js";

async function codeOf(promise: Promise<unknown>): Promise<HeraldErrorCode | "resolved"> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    if (!isHeraldError(error)) throw error;
    return error.code;
  }
}

/** A real store that also keeps what it was asked to store, to check what is (not) kept. */
class RecordingStore extends MemoryTokenStore implements TokenStore {
  readonly records: TokenRecord[] = [];
  override put(id: string, record: TokenRecord, ttlMs: number): Promise<void> {
    this.records.push(record);
    return super.put(id, record, ttlMs);
  }
}

describe("createTokens", () => {
  it("issues <id>.<secret> tokens that verify once, then report token_used", async () => {
    const tokens = createTokens();
    const token = await tokens.issue("42");
    expect(token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    const principal = await tokens.verify(token, { channels: ["user-42"] });
    expect(principal).toEqual({ userId: "42", tokenChannels: null });
    expect(await codeOf(tokens.verify(token, { channels: ["user-42"] }))).toBe("token_used");
  });

  it("stores only a SHA-256 of the secret", async () => {
    let t = 1000;
    const store = new RecordingStore({ now: () => t });
    const tokens = createTokens({ store, now: () => t, ttlMs: 5000 });
    const token = await tokens.issue("7", { channels: ["user-7"] });
    const secret = token.split(".")[1]!;
    expect(store.records).toHaveLength(1);
    const record = store.records[0]!;
    expect(JSON.stringify(record)).not.toContain(secret);
    expect(record.secretHash).toHaveLength(43);
    expect(record).toMatchObject({ userId: "7", channels: ["user-7"], expiresAt: 6000 });
    t = 2000;
    expect((await tokens.verify(token, { channels: ["user-7"] })).userId).toBe("7");
  });

  it.each([
    ["null", null, "token_missing"],
    ["empty", "", "token_missing"],
    ["no dot", "abcdef", "token_malformed"],
    ["wrong lengths", "abc.def", "token_malformed"],
    ["too long", "a".repeat(22) + "." + "b".repeat(10_000), "token_malformed"],
    ["bad alphabet", "a".repeat(21) + "!." + "b".repeat(43), "token_malformed"],
    ["unknown id", "a".repeat(22) + "." + "b".repeat(43), "token_invalid"],
  ] as const)("rejects a %s token with %s", async (_case, token, code) => {
    const tokens = createTokens();
    expect(await codeOf(tokens.verify(token, { channels: ["a"] }))).toBe(code);
  });

  it("rejects a wrong secret with token_invalid, and the token is then burned", async () => {
    const tokens = createTokens();
    const token = await tokens.issue("1");
    const [id, secret] = token.split(".") as [string, string];
    const wrong = `${id}.${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`;
    expect(await codeOf(tokens.verify(wrong, { channels: ["x"] }))).toBe("token_invalid");
    expect(await codeOf(tokens.verify(token, { channels: ["x"] }))).toBe("token_used");
  });

  it("expires tokens on the injected clock, per token ttl too", async () => {
    let t = 0;
    const tokens = createTokens({ now: () => t, ttlMs: 1000 });
    const a = await tokens.issue("1");
    const b = await tokens.issue("1", { ttlMs: 5000 });
    const c = await tokens.issue("1");
    t = 999;
    expect((await tokens.verify(c, { channels: ["x"] })).userId).toBe("1");
    t = 1000;
    expect(await codeOf(tokens.verify(a, { channels: ["x"] }))).toBe("token_expired");
    expect((await tokens.verify(b, { channels: ["x"] })).userId).toBe("1");
  });

  it("binds tokens to channels: others are forbidden, a subset is allowed", async () => {
    const tokens = createTokens();
    const bound = await tokens.issue("5", { channels: ["user-5", "news"] });
    expect(await codeOf(tokens.verify(bound, { channels: ["user-5", "user-6"] }))).toBe("forbidden");
    const again = await tokens.issue("5", { channels: ["user-5", "news"] });
    const principal = await tokens.verify(again, { channels: ["news"] });
    expect(principal.tokenChannels).toEqual(["user-5", "news"]);
  });

  it("validates issue() input", async () => {
    const tokens = createTokens();
    expect(await codeOf(tokens.issue(""))).toBe("invalid_request");
    expect(await codeOf(tokens.issue("1", { channels: ["bad channel"] }))).toBe("invalid_channel");
    await expect(tokens.issue("1", { ttlMs: 0 })).rejects.toThrow(RangeError);
  });
});

describe("MemoryTokenStore", () => {
  it("is bounded: past maxTokens the oldest token is dropped", async () => {
    const store = new MemoryTokenStore({ maxTokens: 2 });
    const record = (userId: string): TokenRecord => ({ userId, channels: null, secretHash: "h", expiresAt: 0 });
    await store.put("a", record("a"), 10_000);
    await store.put("b", record("b"), 10_000);
    await store.put("c", record("c"), 10_000);
    expect(store.size).toBe(2);
    expect(await store.take("a")).toBeNull();
    expect((await store.take("c"))?.userId).toBe("c");
    expect(await store.take("c")).toBeNull();
  });

  it("sweeps expired entries lazily and forgets tombstones after their ttl", async () => {
    let t = 0;
    const store = new MemoryTokenStore({ maxTokens: 2, now: () => t });
    const record: TokenRecord = { userId: "u", channels: null, secretHash: "h", expiresAt: 0 };
    await store.put("old", record, 10);
    await store.put("live", record, 1000);
    t = 20;
    await store.put("new", record, 1000);
    expect(store.size).toBe(2);
    expect((await store.take("live"))?.userId).toBe("u");
    await store.markUsed("x", 100);
    expect(await store.wasUsed("x")).toBe(true);
    t = 120;
    expect(await store.wasUsed("x")).toBe(false);
  });
});

describe("tokens on a real SSE server", () => {
  let herald: Herald | undefined;
  let server: http.Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await herald?.close();
    server = herald = undefined;
  });

  async function serve(now: () => number): Promise<{ url: string; tokens: ReturnType<typeof createTokens> }> {
    const tokens = createTokens({ now, ttlMs: 1000 });
    const h = createHerald({ authenticate: tokenAuthenticator(tokens), authorize: defaultAuthorize() });
    herald = h;
    server = http.createServer((req, res) => void h.handleNode(req, res));
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sse`, tokens };
  }

  /** Opens an EventSource and resolves with the HTTP status of its failure, or "open". */
  function outcome(url: string): Promise<number | "open"> {
    return new Promise((resolve) => {
      const es = new EventSource(url);
      es.onopen = () => {
        es.close();
        resolve("open");
      };
      es.onerror = (event) => {
        es.close();
        resolve(event.code ?? -1);
      };
    });
  }

  it("accepts a valid token once: events flow, and the replay gets 401 token_used", async () => {
    const { url, tokens } = await serve(Date.now);
    const token = await tokens.issue("42");
    const es = new EventSource(`${url}?channel=user-42&token=${token}`);
    const received = new Promise<string>((resolve, reject) => {
      es.onmessage = (event) => resolve(JSON.parse(event.data).data.text);
      es.onerror = (event) => reject(new Error(`error ${event.code}`));
    });
    await new Promise<void>((resolve) => es.addEventListener("herald:connected", () => resolve()));
    await herald!.publish("user-42", "note", { text: "hello 42" });
    expect(await received).toBe("hello 42");
    es.close();
    const replay = await fetch(`${url}?channel=user-42&token=${token}`);
    expect(replay.status).toBe(401);
    expect((await replay.json()).error.code).toBe("token_used");
  });

  it("answers every token failure with its JSON error, and EventSource gives up with that status", async () => {
    let t = 0;
    const { url, tokens } = await serve(() => t);
    const expired = await tokens.issue("1");
    const bound = await tokens.issue("1", { channels: ["user-1"] });
    const wrongUser = await tokens.issue("2");
    const forEs = await tokens.issue("1", { channels: ["user-1"] });
    const valid = await tokens.issue("1");
    const [id, secret] = valid.split(".") as [string, string];
    const cases: [string, number, HeraldErrorCode][] = [
      ["?channel=user-1", 401, "token_missing"],
      ["?channel=user-1&token=nope", 401, "token_malformed"],
      [`?channel=user-1&token=${id}.${"x".repeat(43)}`, 401, "token_invalid"],
      [`?channel=user-1&token=${valid}`, 401, "token_used"],
      [`?channel=user-1&channel=news&token=${bound}`, 403, "forbidden"],
      [`?channel=user-1&token=${wrongUser}`, 403, "forbidden"],
    ];
    expect(secret).toHaveLength(43);
    for (const [query, status, code] of cases) {
      const res = await fetch(url + query);
      expect([query, res.status, res.headers.get("content-type")]).toEqual([
        query,
        status,
        "application/json; charset=utf-8",
      ]);
      expect((await res.json()).error.code).toBe(code);
    }
    t = 1000;
    const res = await fetch(`${url}?channel=user-1&token=${expired}`);
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe("token_expired");
    t = 0;
    expect(await outcome(`${url}?channel=user-1&channel=other&token=${forEs}`)).toBe(403);
    expect(await outcome(`${url}?channel=user-1&token=${forEs}`)).toBe(401);
    expect(await outcome(`${url}?channel=user-1&token=${await tokens.issue("1")}`)).toBe("open");
  });
});
