// @vitest-environment happy-dom
/**
 * `usePresence` and `useClientEvent` over the WebSocket transport: two Herald clients (two users)
 * against Herald's Pusher server, each under its own `HeraldProvider`, rendered with react-dom in
 * happy-dom.
 */
import { createRoot, type Root } from "react-dom/client";
import { afterEach, beforeEach, expect, test } from "vitest";
import type { HeraldClient, PresenceState } from "../../src/client/index.js";
import { HeraldProvider, useClientEvent, usePresence } from "../../src/react/index.js";
import { startWs, waitFor, type WsFixture } from "./fixture.js";

let fx: WsFixture;
const roots: Root[] = [];

beforeEach(async () => {
  fx = await startWs();
  // The page is on the app's origin: the auth endpoint and the poll route are same-origin.
  (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL(`${fx.origin}/`);
});
afterEach(async () => {
  for (const root of roots.splice(0)) root.unmount();
  await fx.close();
});

interface Seen {
  presence: PresenceState;
  send: ((data: { typing: boolean }) => boolean) | null;
  typing: string[];
}

function Room({ seen }: { seen: Seen }) {
  seen.presence = usePresence("presence-room");
  seen.send = useClientEvent<{ typing: boolean }>("presence-room", "client-typing", (data, e) => {
    if (data.typing) seen.typing.push(e.userId ?? "?");
  });
  return null;
}

function render(client: HeraldClient, seen: Seen, show = true): Root {
  const container = document.createElement("div");
  document.body.append(container);
  const root = createRoot(container);
  root.render(<HeraldProvider client={client}>{show ? <Room seen={seen} /> : null}</HeraldProvider>);
  roots.push(root);
  return root;
}

const fresh = (): Seen => ({ presence: { members: [], me: null, count: 0 }, send: null, typing: [] });

test("usePresence: members join and leave once per user; useClientEvent: typing reaches the other user only", async () => {
  const alice = fresh();
  const bob = fresh();
  const aliceClient = fx.client({ user: "alice" });
  const bobClient = fx.client({ user: "bob" });
  render(aliceClient, alice);
  await waitFor(() => alice.presence.count === 1, 5000, "alice alone");
  expect(alice.presence.me).toEqual({ id: "alice", info: { name: "User alice" } });

  const bobRoot = render(bobClient, bob);
  await waitFor(() => alice.presence.count === 2 && bob.presence.count === 2, 5000, "both see two");
  expect(alice.presence.members.map((m) => m.id)).toEqual(["alice", "bob"]);
  expect(bob.presence.me?.id).toBe("bob");

  // Presence comes with the subscription; sending waits for the connection (catch-up done).
  await waitFor(() => bobClient.state === "connected", 5000, "bob connected");
  expect(bob.send!({ typing: true })).toBe(true);
  await waitFor(() => alice.typing.length === 1, 5000, "alice sees bob typing");
  expect(alice.typing).toEqual(["bob"]);
  await new Promise((r) => setTimeout(r, 100));
  expect(bob.typing).toEqual([]); // not echoed

  // Bob's component goes away: the channel is left, alice sees him go.
  bobRoot.render(
    <HeraldProvider client={bobClient}>
      <></>
    </HeraldProvider>,
  );
  await waitFor(() => alice.presence.count === 1, 5000, "bob left");
  expect(alice.presence.members.map((m) => m.id)).toEqual(["alice"]);
});

test("useClientEvent on SSE sends the event as a request (this app has no authorizePublish: the client's error event says so)", async () => {
  const { createHeraldClient } = await import("../../src/client/index.js");
  const { EventSource } = await import("eventsource");
  const sse = createHeraldClient({
    url: `${fx.origin}/api/realtime/sse`,
    EventSource: EventSource as never,
    onlineTarget: null,
    visibilityTarget: null,
  });
  const errors: { status?: number }[] = [];
  sse.on("error", (e) => errors.push(e));
  const seen = fresh();
  render(sse, seen);
  try {
    await waitFor(() => sse.state === "connected", 5000, "SSE connected");
    expect(seen.send!({ typing: true })).toBe(true);
    await waitFor(() => errors.length === 1, 5000, "the refusal");
    expect(errors[0]).toMatchObject({ status: 404 });
    expect(seen.presence.count).toBe(0); // an anonymous stream (this app has no sessions) joins no room
  } finally {
    sse.close();
  }
});
