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

/** A window (online/offline) or a document (visibilitychange): listeners by type, fired by hand. */
class FakeTarget {
  visibilityState = "visible";
  listeners = new Map<string, Set<() => void>>();
  addEventListener(type: string, fn: () => void) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)!.add(fn);
  }
  removeEventListener(type: string, fn: () => void) {
    this.listeners.get(type)?.delete(fn);
  }
  fire(type: string) {
    for (const fn of [...(this.listeners.get(type) ?? [])]) fn();
  }
  count() {
    return [...this.listeners.values()].reduce((n, s) => n + s.size, 0);
  }
}

function make(extra: Partial<HeraldClientOptions> = {}) {
  const transitions: Transition[] = [];
  const win = new FakeTarget();
  const doc = new FakeTarget();
  const client = createHeraldClient({
    url: "http://h/sse",
    EventSource: ScriptedEventSource as never,
    random: () => 1,
    onlineTarget: win,
    visibilityTarget: doc,
    now: () => Date.now(),
    ...extra,
  });
  client.on("state", (t) => transitions.push(t));
  return { client, transitions, win, doc };
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
  it("folds a removal into the next change: a task that ends and the next that starts cost one reconnect", async () => {
    const { client } = make({ connectTimeoutMs: 120_000 });
    client.subscribe("user-1", () => {});
    const offTask = client.subscribe("task-a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().connect();
    expect(ScriptedEventSource.instances).toHaveLength(1);
    offTask(); // the task ended: no reconnect yet
    await vi.advanceTimersByTimeAsync(1000);
    expect(ScriptedEventSource.instances).toHaveLength(1);
    client.subscribe("task-b", () => {}); // the next task starts: one connection for both changes
    await vi.advanceTimersByTimeAsync(20);
    expect(ScriptedEventSource.instances).toHaveLength(2);
    expect(new URL(ScriptedEventSource.last().url).searchParams.getAll("channel")).toEqual(["task-b", "user-1"]);
    // A removal alone still applies, after removeDebounceMs.
    ScriptedEventSource.last().connect();
    const offB = client.subscribe("task-c", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().connect();
    const count = ScriptedEventSource.instances.length;
    offB();
    await vi.advanceTimersByTimeAsync(1000);
    expect(ScriptedEventSource.instances).toHaveLength(count);
    await vi.advanceTimersByTimeAsync(4100);
    expect(ScriptedEventSource.instances).toHaveLength(count + 1);
    expect(new URL(ScriptedEventSource.last().url).searchParams.getAll("channel")).toEqual(["task-b", "user-1"]);
    client.close();
  });

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
    const { client } = make({ getToken: async () => `tok${++n}`, connectTimeoutMs: 120_000 });
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
    win.fire("online");
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
    const { client, transitions, win, doc } = make();
    const off = client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().connect();
    ScriptedEventSource.last().emit("error"); // a retry timer is pending
    client.subscribe("b", () => {}); // and a debounce timer
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    client.close();
    off();
    expect(vi.getTimerCount()).toBe(0);
    expect(win.count()).toBe(0);
    expect(doc.count()).toBe(0);
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

/** A scripted source that, like FetchEventSource, reports every chunk as `activity`. */
class ActiveEventSource extends ScriptedEventSource {
  readonly reportsActivity = true;
  /** Silent on purpose (polling on a hidden page). */
  paused = false;
  connectWithHeartbeat(cursor = "e1-0", heartbeat = 1000) {
    this.emit("herald:connected", { connectionId: "c", cursor, channels: [], retry: 1000, heartbeat });
  }
}
const lastActive = () => ScriptedEventSource.last() as ActiveEventSource;

describe("failure taxonomy", () => {
  it("a failing getToken backs off and retries instead of failing", async () => {
    let calls = 0;
    const { client, transitions } = make({
      getToken: async () => {
        if (++calls <= 3) throw new TypeError("fetch failed");
        return "tok";
      },
    });
    const errors: string[] = [];
    client.on("error", (e) => errors.push(e.code));
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    expect(client.state).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(1000 + 2000 + 4000);
    expect(ScriptedEventSource.instances).toHaveLength(1);
    ScriptedEventSource.last().connect();
    expect(client.state).toBe("connected");
    expect(errors).toEqual(["token_fetch_failed", "token_fetch_failed", "token_fetch_failed"]);
    expect(transitions.some((t) => t.next === "failed")).toBe(false);
    client.close();
  });

  it("a getToken slower than tokenTimeoutMs counts as a failed attempt", async () => {
    let calls = 0;
    let answer = false;
    const { client, transitions } = make({
      tokenTimeoutMs: 3000,
      getToken: () => (++calls, answer ? "tok" : new Promise<string>(() => {})),
    });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20 + 3000);
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", reason: "token_timeout" });
    expect(calls).toBe(3); // at 0, 1 s and 2 s: each unanswered call was hedged
    answer = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(ScriptedEventSource.instances).toHaveLength(1);
    client.close();
  });

  it("a getToken call that hangs is hedged: the next call's token is used and the hung one aborted", async () => {
    const signals: AbortSignal[] = [];
    const { client } = make({
      tokenTimeoutMs: 8000,
      getToken: ({ signal }) => (signals.push(signal), signals.length === 1 ? new Promise<string>(() => {}) : "tok2"),
    });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20 + 2000); // a quarter of the timeout: the second call
    expect(ScriptedEventSource.instances).toHaveLength(1);
    expect(ScriptedEventSource.instances[0]!.url).toContain("token=tok2");
    expect(signals.map((s) => s.aborted)).toEqual([true, true]);
    client.close();
  });

  it("a connection that gets no answer times out and is retried", async () => {
    const { client, transitions } = make({ connectTimeoutMs: 5000 });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20 + 5000);
    expect(ScriptedEventSource.instances[0]!.closed).toBe(true);
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", reason: "connect_timeout" });
    client.close();
  });

  it("5xx and 429 retry; 429's Retry-After is a floor", async () => {
    const { client, transitions } = make();
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().emit("error", undefined, { code: 503 });
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", delayMs: 1000 });
    await vi.advanceTimersByTimeAsync(1000);
    ScriptedEventSource.last().emit("error", undefined, { code: 429, retryAfter: 7, errorCode: "rate_limited" });
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", reason: "rate_limited", delayMs: 7500 });
    client.close();
  });

  it("a stale token (token_used) is retried once with a fresh one; a second refusal is final", async () => {
    const { client, transitions } = make({ getToken: () => "t" });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().emit("error", undefined, { code: 401, errorCode: "token_used" });
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting" });
    await vi.advanceTimersByTimeAsync(1000);
    ScriptedEventSource.last().emit("error", undefined, { code: 401, errorCode: "token_used" });
    expect(transitions.at(-1)).toMatchObject({ next: "failed", reason: "token_used" });
    client.close();
  });

  it("leaves failed on online, on the page becoming visible, and on reconnect()", async () => {
    const { client, transitions, win, doc } = make();
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    const refuse = () => ScriptedEventSource.last().emit("error", undefined, { code: 401 });
    refuse();
    expect(client.state).toBe("failed");
    win.fire("online");
    await settle();
    expect(transitions.at(-1)).toMatchObject({ prev: "failed", next: "connecting", reason: "online" });
    refuse();
    doc.visibilityState = "hidden";
    doc.fire("visibilitychange");
    expect(client.state).toBe("failed");
    doc.visibilityState = "visible";
    doc.fire("visibilitychange");
    await settle();
    expect(transitions.at(-1)).toMatchObject({ next: "connecting", reason: "visible" });
    refuse();
    client.reconnect();
    await settle();
    expect(transitions.at(-1)).toMatchObject({ next: "connecting", reason: "retry" });
    expect(ScriptedEventSource.instances).toHaveLength(4);
    client.close();
  });

  it("reconnect() while connected (the session changed) drops the stream at once and starts the count over", async () => {
    let n = 0;
    const { client, transitions } = make({ getToken: () => `tok${++n}` });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().emit("error");
    await vi.advanceTimersByTimeAsync(1000);
    const first = ScriptedEventSource.last();
    first.connect();
    expect(client.attempt).toBe(1);
    client.reconnect();
    await settle();
    expect(first.closed).toBe(true);
    expect(client.attempt).toBe(0);
    expect(new URL(ScriptedEventSource.last().url).searchParams.get("token")).toBe("tok3");
    expect(transitions.at(-1)).toMatchObject({ prev: "connected", next: "reconnecting", reason: "retry" });
    client.close();
  });

  it("the attempt count survives a short connection and a channel change, and resets after a stable one", async () => {
    const { client, transitions } = make({ EventSource: ActiveEventSource as never });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    lastActive().connectWithHeartbeat("e1-0", 1000);
    for (let i = 0; i < 4; i++) {
      ScriptedEventSource.last().emit("error");
      await vi.advanceTimersByTimeAsync(transitions.at(-1)!.delayMs);
    }
    expect(client.attempt).toBe(4);
    lastActive().connectWithHeartbeat("e1-0", 1000);
    await vi.advanceTimersByTimeAsync(1000);
    client.subscribe("b", () => {}); // channel change: make before break
    await vi.advanceTimersByTimeAsync(20);
    lastActive().connectWithHeartbeat("e1-0", 1000);
    ScriptedEventSource.last().emit("error"); // dropped 1 s after the outage: keeps counting
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", attempt: 5 });
    await vi.advanceTimersByTimeAsync(transitions.at(-1)!.delayMs);
    lastActive().connectWithHeartbeat("e1-0", 1000);
    for (let i = 0; i < 6; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      lastActive().emit("activity");
    }
    client.subscribe("c", () => {});
    await vi.advanceTimersByTimeAsync(20);
    lastActive().connectWithHeartbeat("e1-0", 1000);
    ScriptedEventSource.last().emit("error"); // after 6 s of live bytes: a fresh start
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", attempt: 1, delayMs: 1000 });
    client.close();
  });
});

describe("liveness", () => {
  it("closes a connection silent for 2 heartbeats + margin and resumes from the cursor", async () => {
    const { client, transitions } = make({ EventSource: ActiveEventSource as never });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    const first = lastActive();
    first.connectWithHeartbeat("e1-7", 1000);
    // Heartbeats keep it alive.
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      first.emit("activity");
    }
    expect(client.state).toBe("connected");
    // Silence: dead after 2 × 1,000 + 1,000 ms, not before.
    await vi.advanceTimersByTimeAsync(2999);
    expect(client.state).toBe("connected");
    await vi.advanceTimersByTimeAsync(1);
    expect(first.closed).toBe(true);
    expect(transitions.at(-1)).toMatchObject({ prev: "connected", next: "reconnecting", reason: "stalled" });
    await vi.advanceTimersByTimeAsync(transitions.at(-1)!.delayMs);
    expect(new URL(ScriptedEventSource.last().url).searchParams.get("lastEventId")).toBe("e1-7");
    client.close();
  });

  it("does not count a source that is silent on purpose (polling paused on a hidden page) as stalled", async () => {
    const { client, transitions } = make({ EventSource: ActiveEventSource as never });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    const source = lastActive();
    source.connectWithHeartbeat("e1-1", 1000);
    source.paused = true;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(client.state).toBe("connected");
    expect(source.closed).toBe(false);
    // Polling again, and silent: a stall as usual.
    source.paused = false;
    await vi.advanceTimersByTimeAsync(6000);
    expect(transitions.at(-1)).toMatchObject({ prev: "connected", next: "reconnecting", reason: "stalled" });
    client.close();
  });

  it("judges a silent stream by the heartbeat the server announced, on a transport that hides comments", async () => {
    const { client, transitions } = make();
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().emit("herald:connected", {
      connectionId: "c",
      cursor: "e1-0",
      channels: [],
      retry: 1000,
      heartbeat: 1000,
    });
    // Heartbeat events keep it alive...
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(1000);
      ScriptedEventSource.last().emit("herald:heartbeat", {});
    }
    expect(client.state).toBe("connected");
    // ...and their absence, about two intervals and a margin later, ends it.
    await vi.advanceTimersByTimeAsync(3500);
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", reason: "stalled" });
    client.close();
  });

  it("does not judge a stream from a server that announces no heartbeat, unless heartbeat events arrive", async () => {
    const { client, transitions } = make();
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    ScriptedEventSource.last().emit("herald:connected", {
      connectionId: "c",
      cursor: "e1-0",
      channels: [],
      retry: 1000,
    });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(client.state).toBe("connected");
    expect(transitions.some((t) => t.reason === "stalled")).toBe(false);
    client.close();
  });

  it("offline drops the stream at once; online retries at once", async () => {
    const { client, transitions, win } = make({ EventSource: ActiveEventSource as never });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    lastActive().connectWithHeartbeat();
    win.fire("offline");
    expect(ScriptedEventSource.instances[0]!.closed).toBe(true);
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", reason: "offline" });
    win.fire("online");
    await settle();
    expect(ScriptedEventSource.instances).toHaveLength(2);
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", reason: "online", delayMs: 0 });
    client.close();
  });

  it("a page back from sleep (the watchdog fires far too late) checks at once and resumes", async () => {
    let skew = 0;
    const { client, transitions } = make({ EventSource: ActiveEventSource as never, now: () => Date.now() + skew });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    lastActive().connectWithHeartbeat("e1-0", 15_000);
    skew = 10 * 60_000; // ten minutes pass while the timers are frozen
    await vi.advanceTimersByTimeAsync(35_000);
    expect(transitions.at(-1)).toMatchObject({ prev: "connected", next: "reconnecting" });
    expect(["wake", "stalled"]).toContain(transitions.at(-1)!.reason);
    client.close();
  });

  it("becoming visible checks a connected stream at once", async () => {
    let skew = 0;
    const { client, transitions, doc } = make({
      EventSource: ActiveEventSource as never,
      now: () => Date.now() + skew,
    });
    client.subscribe("a", () => {});
    await vi.advanceTimersByTimeAsync(20);
    lastActive().connectWithHeartbeat("e1-0", 15_000);
    skew = 60_000;
    doc.fire("visibilitychange");
    expect(transitions.at(-1)).toMatchObject({ next: "reconnecting", reason: "stalled" });
    client.close();
  });
});
