// @vitest-environment happy-dom
/**
 * `useHistory` against a real Herald server on port 0 (tokens, the channel rules, every route on
 * the Node fast path), over the memory broker and a real redis-server: a late joiner gets the last
 * 50 events and then the live ones, while publishes go on the whole time, with none missing and
 * none twice; `loadOlder` pages backwards; a refused channel is an error, not a hang.
 */
import { EventSource } from "eventsource";
import type { ReactNode } from "react";
import { createRoot } from "react-dom/client";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { RedisBroker } from "../../src/brokers/redis.js";
import { MemoryBroker } from "../../src/brokers/memory.js";
import type { Broker } from "../../src/brokers/types.js";
import type { EventSourceFactory } from "../../src/client/index.js";
import { createHeraldHooks, HeraldProvider, useHistory, type HistoryState } from "../../src/react/index.js";
import { createHerald, type Herald } from "../../src/server/index.js";
import { startRedis, type TestRedis } from "../redis/redis-server.js";
import { channels } from "../channels/channels.fixture.js";
import { startRoutes } from "../helpers.js";

let redis: TestRedis;
let prefixes = 0;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The Herald served last: the provider's tokens come from it. */
let current: Herald;
/** How to stop each served Herald (and its server). */
const stops = new Map<Herald, () => Promise<void>>();

/**
 * A Herald whose only user is alice, every route served (on `port`, default any), with happy-dom's
 * page on its origin.
 */
async function serve(broker: Broker, typed = false, port = 0): Promise<Herald> {
  const herald = createHerald({
    broker,
    getUserId: () => "alice",
    limits: { connectPerIp: false },
    ...(typed && { channels }),
  });
  current = herald;
  return listen(herald, port);
}

async function listen(herald: Herald, port: number): Promise<Herald> {
  const { origin, close } = await startRoutes(herald, port);
  (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL(`${origin}/`);
  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= close());
  stops.set(herald, stop);
  cleanups.push(stop);
  return herald;
}

function mount(node: ReactNode): void {
  const container = document.createElement("div");
  document.body.append(container);
  const root = createRoot(container);
  root.render(
    <HeraldProvider
      getToken={() => current.tokens.issue("alice")}
      options={{
        EventSource: EventSource as unknown as EventSourceFactory,
        transport: "sse",
        backoff: { baseMs: 50, capMs: 200 },
      }}
    >
      {node}
    </HeraldProvider>,
  );
  cleanups.push(() => {
    root.unmount();
    container.remove();
  });
}

function Probe<T>({ use, out }: { use: () => T; out: { current: T | null } }) {
  out.current = use();
  return null;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

type Message = { n: number };
const numbers = (state: HistoryState | null): number[] => state?.events.map((e) => (e.data as Message).n) ?? [];

const BROKERS: [string, () => Broker][] = [
  ["memory", () => new MemoryBroker()],
  ["redis", () => new RedisBroker({ url: redis.url, prefix: `usehist${++prefixes}` })],
];

describe.each(BROKERS)("useHistory on the %s broker", (_name, makeBroker) => {
  test("a late joiner sees the last 50, then every live one, once each, while publishes go on", async () => {
    const herald = await serve(makeBroker());
    let published = 0;
    let stop = false;
    const publishing = (async () => {
      while (!stop) {
        await herald.publish("room-lobby", "message", { n: ++published });
        if (published % 5 === 0) await herald.publish("room-other", "message", { n: -published });
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    await waitFor(() => published >= 120, "120 messages before the late joiner");

    const out: { current: HistoryState<Message> | null } = { current: null };
    const atMount = published;
    mount(<Probe use={() => useHistory<Message>("room-lobby", { limit: 50 })} out={out} />);
    await waitFor(() => out.current?.status === "ready", "the history");
    // At least the 50 read from the log (live ones may already follow them).
    expect(out.current!.events.length).toBeGreaterThanOrEqual(50);
    const readyAt = published;
    await waitFor(() => published >= readyAt + 60, "60 more messages after the history");
    stop = true;
    await publishing;
    await waitFor(() => numbers(out.current).at(-1) === published, "the last message");

    const shown = numbers(out.current);
    const first = shown[0]!;
    // Nothing missing, nothing twice: one run of consecutive messages up to the last published.
    expect(shown).toEqual(Array.from({ length: published - first + 1 }, (_, i) => first + i));
    // It started with history: the 50 before the read, from before the component mounted or since.
    expect(first).toBeLessThanOrEqual(readyAt - 49);
    expect(first).toBeGreaterThanOrEqual(atMount - 49);
    const ids = out.current!.events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(out.current!.events.every((e) => e.channel === "room-lobby")).toBe(true);
    expect(out.current!.more).toBe(true);

    // loadOlder puts the 50 before the first in front.
    await out.current!.loadOlder();
    await waitFor(() => numbers(out.current)[0] === first - 50, "the older page");
    expect(numbers(out.current)).toEqual(Array.from({ length: published - first + 51 }, (_, i) => first - 50 + i));
  });
});

test("a channel the user may not follow ends in error with the server's code, showing nothing", async () => {
  const herald = await serve(new MemoryBroker());
  await herald.publish("user-bob", "notification", { n: 1 });
  const out: { current: HistoryState | null } = { current: null };
  mount(<Probe use={() => useHistory("user-bob")} out={out} />);
  await waitFor(() => out.current?.status === "error", "the refusal");
  expect(out.current!.error?.code).toBe("forbidden");
  expect(out.current!.events).toEqual([]);
});

test("typed hooks with validate: what the schemas refuse is dropped, live and from history, and reported", async () => {
  const herald = await serve(new MemoryBroker(), true);
  const { useEvent, useHistory: useTypedHistory } = createHeraldHooks(channels, {
    validate: true,
    onInvalid: (_error, envelope) => invalid.push(envelope.id),
  });
  const invalid: string[] = [];
  const received: string[] = [];
  // A foreign writer on the broker bypasses the server's validation: the hooks catch it.
  await herald.broker.publish("room-lobby", "message", JSON.stringify({ text: "" }));
  await herald.publish("room-lobby", "message", { text: "first" });
  const out: { current: ReturnType<typeof useTypedHistory<"room-lobby">> | null } = { current: null };
  function Room() {
    useEvent("room-lobby", "message", (data) => received.push(data.text));
    out.current = useTypedHistory("room-lobby");
    return null;
  }
  mount(<Room />);
  await waitFor(() => out.current?.status === "ready", "the history");
  await herald.broker.publish("room-lobby", "message", JSON.stringify({ text: 7 }));
  await herald.publish("room-lobby", "message", { text: "second", from: "bea" });
  await waitFor(() => received.length === 1 && out.current!.events.length === 2, "the valid live event");
  expect(received).toEqual(["second"]);
  expect(out.current!.events.map((e) => e.event === "message" && [e.data.text, e.data.from])).toEqual([
    ["first", "anonymous"],
    ["second", "bea"],
  ]);
  // The history's invalid event once, the live one twice (useEvent and useHistory each refuse it).
  expect(invalid).toHaveLength(3);
});

test("after the server's log restarted (a gap), the history is read again: what was published meanwhile is shown", async () => {
  const first = await serve(new MemoryBroker());
  for (let n = 1; n <= 5; n++) await first.publish("room-restart", "message", { n });
  const out: { current: HistoryState<Message> | null } = { current: null };
  mount(<Probe use={() => useHistory<Message>("room-restart")} out={out} />);
  await waitFor(() => out.current?.status === "ready" && out.current.events.length === 5, "the first history");

  // The process restarts: a new in-memory log (a new epoch) on the same port, with events
  // published before any client is back (no stream can deliver them live).
  const port = Number(new URL(window.location.href).port);
  await stops.get(first)!();
  const second = createHerald({ getUserId: () => "alice", limits: { connectPerIp: false } });
  current = second;
  for (let n = 6; n <= 8; n++) await second.publish("room-restart", "message", { n });
  await listen(second, port);

  await waitFor(() => numbers(out.current).length === 8, "the events published while away");
  await second.publish("room-restart", "message", { n: 9 });
  await waitFor(() => numbers(out.current).length === 9, "a live one after");
  expect(numbers(out.current)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
});
