/**
 * Hosted relays, with the real SDKs and no internet (none is reachable from here): the Pusher relay
 * is pointed at Herald's own Pusher server standing in for hosted Pusher, with pusher-js on it;
 * the Ably relay at a local HTTP endpoint that records what the `ably` REST client sends.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import * as Ably from "ably";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryBroker, createHerald } from "../../src/server/index.js";
import { relayBroker, type RelayedEvent } from "../../src/pusher/index.js";
import { closeAll, connected, next, open, sdkFor, startPusher, subscribed, waitFor } from "./fixture.js";

afterEach(closeAll);

describe("Pusher relay", () => {
  it("forwards herald.publish to hosted Pusher (here: Herald's Pusher server), user channels via sendToUser", async () => {
    const hosted = await startPusher();
    const app = createHerald({ broker: relayBroker(new MemoryBroker(), { pusher: sdkFor(hosted.port) }) });
    open.push({ close: () => app.close() });
    const client = hosted.client({ user_id: "42" });
    await connected(client);
    const channel = await subscribed(client, "news");
    client.signin();
    await (client.user as unknown as { signinDonePromise: Promise<void> }).signinDonePromise;
    await waitFor(
      () =>
        (client.user as unknown as { serverToUserChannel?: { subscribed: boolean } }).serverToUserChannel
          ?.subscribed === true,
    );
    const mine: unknown[] = [];
    client.user.bind("task.started", (d: unknown) => mine.push(d));

    const got = next(channel, "story");
    const id = await app.publish("news", "story", { title: "relayed" });
    expect(id).toMatch(/^[a-z0-9]+-1$/);
    expect(await got).toEqual({ title: "relayed" });
    await app.publish("user-42", "task.started", { id: "t1" });
    await waitFor(() => mine.length === 1);
    expect(mine).toEqual([{ id: "t1" }]);
  });

  it("reports a failing relay through onError and keeps the event in Herald's log", async () => {
    const failures: [string, RelayedEvent][] = [];
    const app = createHerald({
      broker: relayBroker(new MemoryBroker(), {
        pusher: sdkFor(1), // nothing listens on port 1
        onError: (_e, target, event) => failures.push([target, event]),
      }),
    });
    open.push({ close: () => app.close() });
    const id = await app.publish("news", "story", { n: 1 });
    expect(failures).toEqual([["pusher", { channel: "news", event: "story", id }]]);
    expect((await app.broker.read("news", 0, 10)).events).toHaveLength(1);
  });
});

describe("Ably relay", () => {
  it("forwards herald.publish through the ably REST client (recorded by a local endpoint)", async () => {
    const requests: { method: string; url: string; body: string; auth: string | undefined }[] = [];
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        requests.push({ method: req.method!, url: req.url!, body, auth: req.headers.authorization });
        res.writeHead(201, { "Content-Type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    open.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
    const ably = new Ably.Rest({
      token: "test-token",
      restHost: "127.0.0.1",
      port: (server.address() as AddressInfo).port,
      tls: false,
      useBinaryProtocol: false,
      fallbackHosts: [],
    });
    const app = createHerald({
      broker: relayBroker(new MemoryBroker(), { ably, channels: (c) => c !== "local-only" }),
    });
    open.push({ close: () => app.close() });
    const id = await app.publish("orders", "placed", { id: 7, items: ["a"] });
    await app.publish("local-only", "x", 1);
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request!.method).toBe("POST");
    expect(request!.url.split("?")[0]).toBe("/channels/orders/messages");
    expect(request!.auth).toMatch(/^Bearer /);
    const body = JSON.parse(request!.body) as unknown;
    const message = (Array.isArray(body) ? body[0] : body) as {
      name: string;
      data: unknown;
      id: string;
      encoding?: string;
    };
    expect(message.name).toBe("placed");
    expect(message.id).toBe(id);
    const data = message.encoding === "json" ? JSON.parse(message.data as string) : message.data;
    expect(data).toEqual({ id: 7, items: ["a"] });
  });
});
