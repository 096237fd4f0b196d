/**
 * pusher-js (its Node build, unchanged) against Herald's Pusher server, with the `pusher` SDK
 * triggering through the HTTP API: public, private, presence, cache and user channels.
 */
import { afterEach, describe, expect, it } from "vitest";
import { closeAll, collect, connected, next, startPusher, subscribed, waitFor } from "./fixture.js";

afterEach(closeAll);

describe("public channels", () => {
  it("delivers an SDK trigger to pusher-js, data as the app sent it", async () => {
    const f = await startPusher();
    const client = f.client();
    await connected(client);
    expect(client.connection.socket_id).toMatch(/^\d+\.\d+$/);
    const channel = await subscribed(client, "news");
    const got = next(channel, "headline");
    await f.sdk.trigger("news", "headline", { title: "hello" });
    expect(await got).toEqual({ title: "hello" });
    const text = next(channel, "plain");
    await f.sdk.trigger("news", "plain", "just a string");
    expect(await text).toBe("just a string");
  });

  it("stops delivering after unsubscribe, and leaves out the socket_id given to trigger", async () => {
    const f = await startPusher();
    const [a, b] = [f.client(), f.client()];
    await Promise.all([connected(a), connected(b)]);
    const [ca, cb] = await Promise.all([subscribed(a, "room"), subscribed(b, "room")]);
    const gotA = collect(ca, "e");
    const gotB = next(cb, "e");
    await f.sdk.trigger("room", "e", { n: 1 }, { socket_id: a.connection.socket_id });
    expect(await gotB).toEqual({ n: 1 });
    await new Promise((r) => setTimeout(r, 100));
    expect(gotA).toEqual([]);
    b.unsubscribe("room");
    await waitFor(() => f.pusher.connectionCount() === 2 && (f.herald.broker as unknown) !== null);
    const late = collect(cb, "e");
    await f.sdk.trigger("room", "e", { n: 2 });
    await waitFor(() => gotA.length === 1);
    expect(late).toEqual([]);
  });

  it("refuses Herald's guarded names (user-*, task-*) as public Pusher channels", async () => {
    const f = await startPusher();
    const client = f.client();
    await connected(client);
    await expect(subscribed(client, "user-42")).rejects.toThrow(/subscription_error/);
    await expect(subscribed(client, "task-abc")).rejects.toThrow(/subscription_error/);
  });
});

describe("private channels", () => {
  it("subscribes with a good signature and refuses a wrong secret or another socket's signature", async () => {
    const f = await startPusher();
    const good = f.client();
    const wrong = f.client({ mode: "wrong-secret" });
    const other = f.client({ mode: "other-socket" });
    await Promise.all([connected(good), connected(wrong), connected(other)]);
    const channel = await subscribed(good, "private-orders");
    const got = next(channel, "placed");
    await f.sdk.trigger("private-orders", "placed", { id: 7 });
    expect(await got).toEqual({ id: 7 });
    const e1 = await subscribed(wrong, "private-orders").catch((e: { detail: unknown }) => e.detail);
    expect(e1).toMatchObject({ status: 401 });
    const e2 = await subscribed(other, "private-orders").catch((e: { detail: unknown }) => e.detail);
    expect(e2).toMatchObject({ status: 401 });
    expect(f.herald.broker).toBeDefined();
  });
});

describe("presence channels", () => {
  it("adds and removes members once per user across several connections; REST lists the users", async () => {
    const f = await startPusher();
    const alice1 = f.client({ user_id: "alice" });
    const alice2 = f.client({ user_id: "alice" });
    const bob = f.client({ user_id: "bob" });
    await Promise.all([connected(alice1), connected(alice2), connected(bob)]);
    const bobChannel = await subscribed(bob, "presence-lobby");
    const added = collect(bobChannel, "pusher:member_added");
    const removed = collect(bobChannel, "pusher:member_removed");

    const a1 = await subscribed(alice1, "presence-lobby");
    await waitFor(() => added.length === 1);
    const a2 = alice2.subscribe("presence-lobby");
    const members = await new Promise<{ count: number; me: { id: string } }>((resolve) =>
      a2.bind("pusher:subscription_succeeded", resolve),
    );
    expect(members.count).toBe(2);
    expect(members.me.id).toBe("alice");
    expect((a1 as unknown as { members: { count: number } }).members.count).toBe(2);
    await new Promise((r) => setTimeout(r, 100));
    expect(added).toEqual([{ id: "alice", info: { name: "User alice" } }]);

    const res = await f.sdk.get({ path: "/channels/presence-lobby/users" });
    const users = ((await res.json()) as { users: { id: string }[] }).users.map((u) => u.id).sort();
    expect(users).toEqual(["alice", "bob"]);
    const info = await (
      await f.sdk.get({ path: "/channels/presence-lobby", params: { info: "user_count,subscription_count" } })
    ).json();
    expect(info).toEqual({ occupied: true, user_count: 2, subscription_count: 3 });

    alice1.disconnect();
    await new Promise((r) => setTimeout(r, 200));
    expect(removed).toEqual([]);
    alice2.unsubscribe("presence-lobby");
    await waitFor(() => removed.length === 1);
    expect(removed).toEqual([{ id: "alice", info: { name: "User alice" } }]);
  });
});

describe("cache channels", () => {
  it("sends the last event on subscribe, or pusher:cache_miss", async () => {
    const f = await startPusher();
    const client = f.client();
    await connected(client);
    const miss = client.subscribe("cache-empty");
    await new Promise<void>((resolve) => miss.bind("pusher:cache_miss", () => resolve()));
    await f.sdk.trigger("cache-price", "tick", { price: 1 });
    await f.sdk.trigger("cache-price", "tick", { price: 2 });
    const hit = client.subscribe("cache-price");
    expect(await next(hit, "tick")).toEqual({ price: 2 });
  });
});

describe("user sign-in", () => {
  it("signs in, and sendToUser and herald.publish on user-{id} reach the user", async () => {
    const f = await startPusher();
    const client = f.client({ user_id: "u42" });
    await connected(client);
    client.signin();
    await (client.user as unknown as { signinDonePromise: Promise<void> }).signinDonePromise;
    expect((client.user as unknown as { user_data: unknown }).user_data).toEqual({
      id: "u42",
      user_info: { name: "User u42" },
    });
    const messages: unknown[] = [];
    client.user.bind("note", (data: unknown) => messages.push(data));
    // pusher-js subscribes #server-to-user-u42 after sign-in: wait for it to be live.
    await waitFor(() => {
      const c = (client.user as unknown as { serverToUserChannel?: { subscribed: boolean } }).serverToUserChannel;
      return c?.subscribed === true;
    });
    await f.sdk.sendToUser("u42", "note", { text: "from the SDK" });
    await f.herald.publish("user-u42", "note", { text: "from herald.publish" });
    await waitFor(() => messages.length === 2);
    expect(messages).toEqual([{ text: "from the SDK" }, { text: "from herald.publish" }]);
  });
});
