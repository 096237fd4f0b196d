/**
 * The HTTP API through the `pusher` SDK (and hand-signed requests for what the SDK will not send):
 * signatures, limits, channel queries, batch events, terminating a user's connections; webhooks
 * checked with the SDK's own `pusher.webhook(...).isValid()`.
 */
import { createHash, createHmac } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { WebhookEvent } from "../../src/pusher/index.js";
import { Webhooks } from "../../src/pusher/webhooks.js";
import { APP, closeAll, connected, next, open, sdkFor, startPusher, subscribed, waitFor } from "./fixture.js";

afterEach(closeAll);

/** Signs a request by the auth-signatures page, independently of the SDK. */
function signedUrl(
  base: string,
  method: string,
  path: string,
  body: string,
  opts: { timestamp?: number; secret?: string; params?: Record<string, string>; md5?: string } = {},
): string {
  const params: Record<string, string> = {
    auth_key: APP.key,
    auth_timestamp: String(opts.timestamp ?? Math.floor(Date.now() / 1000)),
    auth_version: "1.0",
    ...opts.params,
  };
  if (body) params.body_md5 = opts.md5 ?? createHash("md5").update(body).digest("hex");
  const query = Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join("&");
  const signature = createHmac("sha256", opts.secret ?? APP.secret)
    .update(`${method}\n${path}\n${query}`)
    .digest("hex");
  return `${base}${path}?${query}&auth_signature=${signature}`;
}

const post = (url: string, body: string) =>
  fetch(url, { method: "POST", body, headers: { "Content-Type": "application/json" } });

describe("HTTP API signatures", () => {
  it("accepts a correct signature and refuses a wrong secret, a stale timestamp, a bad body_md5, an unknown app", async () => {
    const f = await startPusher();
    const path = `/apps/${APP.appId}/events`;
    const body = JSON.stringify({ name: "e", channel: "c", data: "{}" });
    expect((await post(signedUrl(f.url, "POST", path, body), body)).status).toBe(200);
    expect((await post(signedUrl(f.url, "POST", path, body, { secret: "wrong" }), body)).status).toBe(401);
    const stale = Math.floor(Date.now() / 1000) - 90;
    const staleRes = await post(signedUrl(f.url, "POST", path, body, { timestamp: stale }), body);
    expect(staleRes.status).toBe(401);
    expect(await staleRes.text()).toMatch(/Timestamp expired/);
    expect((await post(signedUrl(f.url, "POST", path, body, { md5: "0".repeat(32) }), body)).status).toBe(401);
    // Within the 60 s window is fine.
    expect(
      (await post(signedUrl(f.url, "POST", path, body, { timestamp: Math.floor(Date.now() / 1000) - 45 }), body))
        .status,
    ).toBe(200);
    const other = `/apps/other-app/events`;
    expect((await post(signedUrl(f.url, "POST", other, body), body)).status).toBe(404);
    // And through the SDK: a wrong secret and a wrong key are 401s.
    await expect(sdkFor(f.port, { secret: "wrong" }).trigger("c", "e", {})).rejects.toMatchObject({ status: 401 });
    await expect(sdkFor(f.port, { key: "nope" }).trigger("c", "e", {})).rejects.toMatchObject({ status: 401 });
  });

  it("answers 413 for event data over 10 KB and 400 for malformed events", async () => {
    const f = await startPusher();
    await expect(f.sdk.trigger("c", "e", "x".repeat(10 * 1024 + 1))).rejects.toMatchObject({ status: 413 });
    await expect(f.sdk.trigger("c", "e", "x".repeat(10 * 1024))).resolves.toBeDefined();
    const path = `/apps/${APP.appId}/events`;
    const noData = JSON.stringify({ name: "e", channel: "c" });
    expect((await post(signedUrl(f.url, "POST", path, noData), noData)).status).toBe(400);
    const many = JSON.stringify({ name: "e", channels: Array.from({ length: 101 }, (_, i) => `c${i}`), data: "1" });
    expect((await post(signedUrl(f.url, "POST", path, many), many)).status).toBe(400);
    const badName = JSON.stringify({ name: "e", channel: "bad name!", data: "1" });
    expect((await post(signedUrl(f.url, "POST", path, badName), badName)).status).toBe(400);
  });
});

describe("HTTP API queries and commands", () => {
  it("lists occupied channels by prefix with user counts, and answers channel info", async () => {
    const f = await startPusher();
    const a = f.client({ user_id: "a" });
    await connected(a);
    await Promise.all([subscribed(a, "presence-one"), subscribed(a, "news"), subscribed(a, "private-x")]);
    const all = (await (await f.sdk.get({ path: "/channels" })).json()) as { channels: Record<string, unknown> };
    expect(Object.keys(all.channels).sort()).toEqual(["news", "presence-one", "private-x"]);
    const presence = await (
      await f.sdk.get({ path: "/channels", params: { filter_by_prefix: "presence-", info: "user_count" } })
    ).json();
    expect(presence).toEqual({ channels: { "presence-one": { user_count: 1 } } });
    await expect(f.sdk.get({ path: "/channels", params: { info: "user_count" } })).rejects.toMatchObject({
      status: 400,
    });
    const empty = await (await f.sdk.get({ path: "/channels/nobody", params: { info: "subscription_count" } })).json();
    expect(empty).toEqual({ occupied: false, subscription_count: 0 });
    await expect(f.sdk.get({ path: "/channels/news/users" })).rejects.toMatchObject({ status: 400 });
  });

  it("triggers batches, returns info when asked, and terminates a user's connections", async () => {
    const f = await startPusher();
    const u = f.client({ user_id: "u9" });
    const v = f.client({ user_id: "u9" });
    await Promise.all([connected(u), connected(v)]);
    u.signin();
    v.signin();
    await (u.user as unknown as { signinDonePromise: Promise<void> }).signinDonePromise;
    await (v.user as unknown as { signinDonePromise: Promise<void> }).signinDonePromise;
    const channel = await subscribed(u, "batch");
    const got: unknown[] = [];
    channel.bind("b", (d: unknown) => got.push(d));
    await f.sdk.triggerBatch([
      { channel: "batch", name: "b", data: { n: 1 } },
      { channel: "batch", name: "b", data: { n: 2 } },
    ]);
    await waitFor(() => got.length === 2);
    expect(got).toEqual([{ n: 1 }, { n: 2 }]);
    const withInfo = await (await f.sdk.trigger("batch", "b", { n: 3 }, { info: "subscription_count" })).json();
    expect(withInfo).toEqual({ channels: { batch: { subscription_count: 1 } } });

    const closed = new Promise<unknown>((resolve) => u.connection.bind("error", resolve));
    await f.sdk.terminateUserConnections("u9");
    expect(await closed).toMatchObject({ data: { code: 4009 } });
    await waitFor(() => f.pusher.connectionCount() === 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(f.pusher.connectionCount()).toBe(0);
  });
});

describe("webhooks", () => {
  it("POSTs batched, signed webhooks the SDK validates: occupied, member added, client event, removed, vacated", async () => {
    const received: { headers: http.IncomingHttpHeaders; rawBody: string }[] = [];
    const receiver = http.createServer((req, res) => {
      let rawBody = "";
      req.on("data", (c: Buffer) => (rawBody += c.toString()));
      req.on("end", () => {
        received.push({ headers: req.headers, rawBody });
        res.writeHead(received.length === 1 ? 500 : 200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    open.push({ close: () => new Promise<void>((r) => receiver.close(() => r())) });
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    const f = await startPusher({ webhooks: { url, batchMs: 20, vacateDelayMs: 100 } });
    const [a, b] = [f.client({ user_id: "a" }), f.client({ user_id: "b" })];
    await Promise.all([connected(a), connected(b)]);
    const [ca, cb] = await Promise.all([subscribed(a, "presence-hooks"), subscribed(b, "presence-hooks")]);
    const got = next(cb, "client-ping");
    ca.trigger("client-ping", { p: 1 });
    await got;
    a.disconnect();
    b.disconnect();
    const events = (): WebhookEvent[] =>
      [...new Set(received.map((r) => r.rawBody))].flatMap(
        (raw) => (JSON.parse(raw) as { events: WebhookEvent[] }).events,
      );
    await waitFor(() => events().some((e) => e.name === "channel_vacated"), 8000, "channel_vacated");
    // The first delivery got a 500: it is retried (after ~1 s) with the same body.
    await waitFor(() => received.filter((r) => r.rawBody === received[0]!.rawBody).length === 2, 5000, "the retry");
    for (const r of received) {
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.headers["x-pusher-key"]).toBe(APP.key);
      const webhook = f.sdk.webhook({ headers: r.headers as Record<string, string>, rawBody: r.rawBody });
      expect(webhook.isValid()).toBe(true);
      expect(webhook.getTime()).toBeInstanceOf(Date);
    }
    expect(
      f.sdk
        .webhook({ headers: received[0]!.headers as Record<string, string>, rawBody: received[0]!.rawBody + " " })
        .isValid(),
    ).toBe(false);
    const names = events().map((e) => `${e.name}${"user_id" in e && e.user_id ? `:${e.user_id}` : ""}`);
    expect(names.filter((n) => n === "channel_occupied")).toHaveLength(1);
    expect(names).toEqual(
      expect.arrayContaining([
        "member_added:a",
        "member_added:b",
        "client_event:a",
        "member_removed:a",
        "member_removed:b",
      ]),
    );
    expect(names[names.length - 1], names.join()).toBe("channel_vacated");
    const clientEvent = events().find((e) => e.name === "client_event")!;
    expect(clientEvent).toMatchObject({
      channel: "presence-hooks",
      event: "client-ping",
      data: '{"p":1}',
      user_id: "a",
    });
  });
});

describe("webhooks against a failing receiver", () => {
  /** A receiver that answers `status`, or never answers when `status` is null; counts requests. */
  async function receiver(status: number | null) {
    const state = { requests: 0 };
    const server = http.createServer((req, res) => {
      state.requests++;
      req.resume();
      if (status !== null) res.writeHead(status).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    open.push({
      close: () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    });
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, state };
  }

  it("keeps at most maxPendingBytes of batches for a retry while the receiver answers 503", async () => {
    const { url, state } = await receiver(503);
    const hooks = new Webhooks({ url, batchMs: 1, maxPendingBytes: 2048 }, APP.key, APP.secret);
    open.push({ close: () => hooks.close() });
    for (let i = 0; i < 60; i++) {
      hooks.emit({ name: "channel_occupied", channel: `room-${i}` });
      await new Promise((r) => setTimeout(r, 2)); // one batch each
    }
    await waitFor(() => state.requests >= 20 && hooks.dropped > 0);
    expect(hooks.pendingBytes).toBeLessThanOrEqual(2048);
  });

  it("gives up on a delivery the receiver never answers after timeoutMs, and retries it", async () => {
    const { url, state } = await receiver(null);
    const hooks = new Webhooks({ url, batchMs: 1, timeoutMs: 100 }, APP.key, APP.secret);
    open.push({ close: () => hooks.close() });
    hooks.emit({ name: "channel_occupied", channel: "room" });
    // The first request hangs; the retry (after 1 s of backoff) can only come once it timed out.
    await waitFor(() => state.requests >= 2, 15_000);
    expect(state.requests).toBe(2);
  });
});
