import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createHeraldClient, type HeraldClientOptions } from "./client.js";
import { backoffDelay } from "./backoff.js";
import type { Transition } from "./state.js";

/**
 * A scripted EventSource for driving the state machine under fake timers. (The real-server tests
 * in test/ use the `eventsource` package; this one lets a test decide when a stream opens or fails.)
 */
class ScriptedEventSource {
  static instances: ScriptedEventSource[] = [];
  readyState = 0;
  closed = false;
  private listeners = new Map<string, Set<(e: MessageEvent | Event) => void>>();
  constructor(readonly url: string) {
    ScriptedEventSource.instances.push(this);
  }
  addEventListener(type: string, fn: (e: MessageEvent | Event) => void) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)!.add(fn);
  }
  removeEventListener(type: string, fn: (e: MessageEvent | Event) => void) {
    this.listeners.get(type)?.delete(fn);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  listenerCount() {
    return [...this.listeners.values()].reduce((n, s) => n + s.size, 0);
  }
  emit(type: string, data?: unknown, extra: Record<string, unknown> = {}) {
    const event = Object.assign(
      new Event(type),
      { data: data === undefined ? undefined : JSON.stringify(data) },
      extra,
    );
    for (const fn of this.listeners.get(type) ?? []) fn(event as unknown as MessageEvent);
  }
  connect(cursor = "e1-0", retry = 1000) {
    this.emit("herald:connected", { connectionId: "c", cursor, channels: [], retry });
  }
  static last() {
    return ScriptedEventSource.instances.at(-1)!;
  }
}

class FakeWindow {
  listeners = new Set<() => void>();
  addEventListener(_: "online", fn: () => void) {
    this.listeners.add(fn);
  }
  removeEventListener(_: "online", fn: () => void) {
    this.listeners.delete(fn);
  }
}

function make(extra: Partial<HeraldClientOptions> = {}) {
  const transitions: Transition[] = [];
  const win = new FakeWindow();
  const client = createHeraldClient({
    url: "http://h/sse",
    EventSource: ScriptedEventSource as never,
    random: () => 1,
    onlineTarget: win,
    now: () => Date.now(),
    ...extra,
  });
  client.on("state", (t) => transitions.push(t));
  return { client, transitions, win };
}

beforeEach(() => {
  vi.useFakeTimers();
  ScriptedEventSource.instances = [];
});
afterEach(() => {
  vi.useRealTimers();
});

/** Lets the client's async open() (token fetch) run. */
async function settle() {
  await vi.advanceTimersByTimeAsync(0);
}

describe("backoffDelay", () => {
  it("is full jitter under an exponential ceiling with a cap", () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, {}, () => 1))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
    expect(backoffDelay(3, {}, () => 0)).toBe(0);
    expect(backoffDelay(2, { baseMs: 100, capMs: 250 }, () => 0.5)).toBe(125);
  });
});

describe("client state machine", () => {
  it("connects once for many channels and reports idle → connecting → connected", async () => {
    const { client, transitions } = make();
    client.subscribe("a", () => {});
    client.subscribe("b", () => {});
    await vi.advanceTimersByTimeAsync(20);
    expect(ScriptedEventSource.instances).toHaveLength(1);
    expect(new URL(ScriptedEventSource.last().url).searchParams.getAll("channel")).toEqual(["a", "b"]);
    ScriptedEventSource.last().connect();
    expect(transitions.map((t) => [t.prev, t.next, t.reason])).toEqual([
      ["idle", "connecting", "connect"],
      ["connecting", "connected", "open"],
    ]);
    client.close();
  });

  it("backs off exponentially with the server's retry as base, up to the cap, then fails at maxAttempts", async () => {
    const { client, transitions } = make({ maxAttempts: 7 });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().connect("e1-5", 1000);
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      ScriptedEventSource.last().emit("error");
      const t = transitions.at(-1)!;
      if (t.next === "failed") break;
      delays.push(t.delayMs);
      expect(client.nextRetryAt).toBe(Date.now() + t.delayMs);
      const before = ScriptedEventSource.instances.length;
      await vi.advanceTimersByTimeAsync(t.delayMs - 1);
      expect(ScriptedEventSource.instances.length).toBe(before);
      await vi.advanceTimersByTimeAsync(1);
      expect(ScriptedEventSource.instances.length).toBe(before + 1);
      expect(new URL(ScriptedEventSource.last().url).searchParams.get("lastEventId")).toBe("e1-5");
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(transitions.at(-1)).toMatchObject({ next: "failed", reason: "max_attempts", attempt: 7 });
    expect(vi.getTimerCount()).toBe(0);
    client.close();
  });

  it("resets the attempt count after a stable connection", async () => {
    const { client, transitions } = make({ stableAfterMs: 5000 });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().connect();
    ScriptedEventSource.last().emit("error");
    await vi.advanceTimersByTimeAsync(1000);
    ScriptedEventSource.last().emit("error"); // failed before connecting: attempt 2
    expect(transitions.at(-1)!.delayMs).toBe(2000);
    await vi.advanceTimersByTimeAsync(2000);
    ScriptedEventSource.last().connect();
    await vi.advanceTimersByTimeAsync(6000); // stable
    ScriptedEventSource.last().emit("error");
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", delayMs: 1000, attempt: 1 });
    client.close();
  });

  it("fetches a fresh token before every (re)connect", async () => {
    let n = 0;
    const { client } = make({ getToken: async () => `tok${++n}` });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    for (let i = 0; i < 3; i++) {
      ScriptedEventSource.last().emit("error");
      await vi.advanceTimersByTimeAsync(60_000);
    }
    expect(ScriptedEventSource.instances.map((es) => new URL(es.url).searchParams.get("token"))).toEqual([
      "tok1",
      "tok2",
      "tok3",
      "tok4",
    ]);
    client.close();
  });

  it("treats 401/403 from the server as terminal, with the reason", async () => {
    const { client, transitions } = make();
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().emit("error", undefined, { code: 403 });
    expect(transitions.at(-1)).toMatchObject({ next: "failed", reason: "forbidden" });
    expect(vi.getTimerCount()).toBe(0);
    client.reconnect();
    await settle();
    expect(ScriptedEventSource.instances).toHaveLength(2);
    client.close();
  });

  it("reconnects at once on the browser's online event", async () => {
    const { client, transitions, win } = make();
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().connect();
    ScriptedEventSource.last().emit("error");
    expect(transitions.at(-1)!.delayMs).toBe(1000);
    for (const fn of win.listeners) fn();
    await settle();
    expect(ScriptedEventSource.instances).toHaveLength(2);
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", reason: "online", delayMs: 0 });
    client.close();
  });

  it("reconnects once (debounced) when channels change, keeping the old stream until the new one is live", async () => {
    const { client, transitions } = make();
    const got: unknown[] = [];
    client.subscribe("a", (e) => got.push(e.data));
    await vi.advanceTimersByTimeAsync(20);
    const first = ScriptedEventSource.last();
    first.connect("e1-3");
    client.subscribe("b", () => {});
    client.subscribe("c", () => {});
    await vi.advanceTimersByTimeAsync(20);
    expect(ScriptedEventSource.instances).toHaveLength(2);
    const second = ScriptedEventSource.last();
    expect(new URL(second.url).searchParams.getAll("channel")).toEqual(["a", "b", "c"]);
    expect(new URL(second.url).searchParams.get("lastEventId")).toBe("e1-3");
    expect(first.closed).toBe(false);
    // The same event arriving on both streams is delivered once.
    const env = { channel: "a", event: "x", data: 1, id: "e1-4", ts: 0 };
    first.emit("message", env);
    second.emit("message", env);
    second.connect("e1-4");
    expect(first.closed).toBe(true);
    expect(got).toEqual([1]);
    expect(transitions.map((t) => t.next)).toEqual(["connecting", "connected"]);
    client.close();
  });

  it("a refused channel change ends in failed instead of retrying in a loop", async () => {
    const { client, transitions } = make();
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    const first = ScriptedEventSource.last();
    first.connect("e1-3");
    client.subscribe("secret", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().emit("error", undefined, { code: 403, errorCode: "forbidden" });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ScriptedEventSource.instances).toHaveLength(2);
    expect(first.closed).toBe(true);
    expect(transitions.at(-1)).toMatchObject({ next: "failed", reason: "forbidden" });
    client.close();
  });

  it("a replacement that fails on the network backs off like any failure, resuming from the cursor", async () => {
    const { client, transitions } = make();
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().connect("e1-3");
    client.subscribe("b", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().emit("error");
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", delayMs: 1000 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(ScriptedEventSource.instances).toHaveLength(3);
    const url = new URL(ScriptedEventSource.last().url);
    expect(url.searchParams.getAll("channel")).toEqual(["a", "b"]);
    expect(url.searchParams.get("lastEventId")).toBe("e1-3");
    client.close();
  });

  it("close() leaves no timers, listeners or connections behind", async () => {
    const { client, transitions, win } = make();
    const off = client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().connect();
    ScriptedEventSource.last().emit("error"); // a retry timer is pending
    client.subscribe("b", () => {}); // and a debounce timer
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    client.close();
    off();
    expect(vi.getTimerCount()).toBe(0);
    expect(win.listeners.size).toBe(0);
    expect(ScriptedEventSource.instances.every((es) => es.closed && es.listenerCount() === 0)).toBe(true);
    expect(transitions.at(-1)).toMatchObject({ next: "closed", reason: "close" });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ScriptedEventSource.instances).toHaveLength(1);
    expect(() => client.subscribe("c", () => {})).toThrow();
  });

  it("does not open a connection if close() happens while the token is being fetched", async () => {
    let release!: (t: string) => void;
    const { client } = make({ getToken: () => new Promise<string>((r) => (release = r)) });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    client.close();
    release("tok");
    await settle();
    expect(ScriptedEventSource.instances).toHaveLength(0);
  });

  it("reconnects immediately, without backoff, when the server rotates the stream", async () => {
    const { client, transitions } = make();
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().connect("e1-9");
    ScriptedEventSource.last().emit("herald:rotate", { reason: "rotate" });
    await settle();
    expect(ScriptedEventSource.instances).toHaveLength(2);
    expect(new URL(ScriptedEventSource.last().url).searchParams.get("lastEventId")).toBe("e1-9");
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", reason: "rotate", delayMs: 0 });
    client.close();
  });

  it("rejects invalid channel names before touching the network", () => {
    const { client } = make();
    expect(() => client.subscribe("bad name", () => {})).toThrow(expect.objectContaining({ code: "invalid_channel" }));
    client.close();
  });
});
