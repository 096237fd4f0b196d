import { afterEach, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createClientPublisher, createHerald, type Herald } from "../../src/server/index.js";
import { createNodeHandler, createRouteHandlers } from "../../src/next/index.js";

let herald: Herald;
let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(null)));
  server = undefined;
  await herald?.close();
});

function setup(capacity: number) {
  herald = createHerald();
  const publisher = createClientPublisher(herald, {
    authorizePublish: (userId, channel) => channel === `private-room-${userId}` || channel === "private-room-shared",
    rate: { capacity, refillPerSecond: 0.5 },
    maxDepth: 8,
  });
  return publisher;
}

describe.each(["node", "fetch"])("client-originated messages (%s)", (kind) => {
  async function post(body: string, headers: Record<string, string> = {}, capacity = 100) {
    const publisher = setup(capacity);
    const getUser = (h: (n: string) => string | null) => h("x-user");
    if (kind === "node") {
      const handler = createNodeHandler({
        herald,
        publisher,
        getUserId: (req) => getUser((n) => (req.headers[n] as string) ?? null),
      });
      server = http.createServer((req, res) => void (handler(req, res) || res.writeHead(404).end()));
      await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
      const port = (server.address() as AddressInfo).port;
      return (b = body, h = headers) =>
        fetch(`http://127.0.0.1:${port}/api/realtime/publish`, { method: "POST", body: b, headers: h });
    }
    const { POST } = createRouteHandlers({ herald, publisher, getUserId: (r) => getUser((n) => r.headers.get(n)) });
    return (b = body, h = headers) =>
      POST(new Request("http://app.local/api/realtime/publish", { method: "POST", body: b, headers: h }));
  }

  const alice = { "x-user": "alice", "content-type": "application/json" };
  const msg = (over: Record<string, unknown> = {}) =>
    JSON.stringify({ channel: "private-room-alice", event: "client-typing", data: { on: true }, ...over });

  it("publishes an authorized client- event, and refuses each kind of hostile body with a clear code", async () => {
    const send = await post(msg(), alice);
    const ok = await send();
    expect(ok.status).toBe(200);
    const okId = (await ok.json()).id;
    let deep: unknown = 1;
    for (let i = 0; i < 50; i++) deep = { d: deep };
    const cases: [string, Record<string, string>, number, string][] = [
      [msg({ channel: "private-room-bob" }), alice, 403, "forbidden"],
      [msg({ channel: "user-bob" }), alice, 403, "forbidden"],
      [msg({ event: "herald:connected" }), alice, 400, "invalid_event"],
      [msg({ event: "notification" }), alice, 400, "invalid_event"],
      [msg({ data: deep }), alice, 400, "invalid_data"],
      ["{not json", alice, 400, "invalid_data"],
      ["[1,2]", alice, 400, "invalid_data"],
      // Names are validated before authorizePublish sees them (issue 13, item 11).
      [msg({ channel: "private-room-alice\r\nevent: x" }), alice, 400, "invalid_channel"],
      [msg(), { "content-type": "application/json" }, 401, "unauthorized"],
      [msg(), { ...alice, origin: "https://evil.example" }, 403, "origin_not_allowed"],
    ];
    for (const [body, headers, status, code] of cases) {
      const res = await send(body, headers);
      expect([body.slice(0, 40), res.status]).toEqual([body.slice(0, 40), status]);
      expect((await res.json()).error.code).toBe(code);
    }
    const { events } = await herald.broker.read("private-room-alice", 0, 10);
    expect(events.map((e) => e.event)).toEqual(["client-typing"]);
    expect(okId).toMatch(/-\d+$/);
  });

  it("refuses a huge body with 413 before parsing it", async () => {
    const send = await post(msg(), alice);
    const res = await send(
      JSON.stringify({ channel: "private-room-alice", event: "client-x", data: "x".repeat(200_000) }),
    );
    expect(res.status).toBe(413);
    expect((await res.json()).error.code).toBe("payload_too_large");
  });

  it("rate-limits each user with 429 and Retry-After, without affecting others", async () => {
    const send = await post(msg(), alice, 5);
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 8; i++) {
      const res = await send();
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(Number(limited!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const bob = await send(msg({ channel: "private-room-shared" }), { ...alice, "x-user": "bob" });
    expect(bob.status).toBe(200);
  });
});
