// @vitest-environment happy-dom
/**
 * The hooks against a real Herald server on port 0 (tokens, tasks, the `herald/next` Node routes),
 * with the `eventsource` npm package as the EventSource, rendered with react-dom in happy-dom.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { EventSource } from "eventsource";
import { StrictMode, type ReactNode } from "react";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { createRoot, type Root } from "react-dom/client";
import type { ClientEvents, EventEnvelope, EventSourceFactory, HeraldClient } from "../client/index.js";
import type { TaskContext } from "../server/index.js";
import {
  HeraldProvider,
  useChannel,
  useConnectionStatus,
  useEvent,
  useTask,
  useTasks,
  type ChannelState,
  type ConnectionStatus,
  type TaskState,
  type TasksState,
} from "./index.js";
import { createNodeHandler } from "../next/index.js";
import {
  createHerald,
  createTasks,
  createTokens,
  defaultAuthorize,
  tokenAuthenticator,
  type Herald,
  type Tasks,
  type Tokens,
} from "../server/index.js";

/** A running test server. */
interface TestServer {
  herald: Herald;
  tokens: Tokens;
  tasks: Tasks;
  origin: string;
  /** SSE requests received so far. */
  sseRequests: number;
  /** Task snapshot reads (`GET …/tasks/{id}`) received so far. */
  snapshotReads: number;
  close(): Promise<void>;
}

/** Starts a Herald server whose only user is `alice`, and points happy-dom's window at it. */
async function startTestServer(): Promise<TestServer> {
  const tokens = createTokens();
  const lookup = { ownerOf: (id: string) => tasks.ownerOf(id) };
  const herald = createHerald({
    authenticate: tokenAuthenticator(tokens),
    authorize: defaultAuthorize({ tasks: lookup }),
    heartbeatMs: 60_000,
  });
  const tasks = createTasks(herald, { progressIntervalMs: 0 });
  const handler = createNodeHandler({ herald, tokens, tasks, getUserId: () => "alice", basePath: "/api/realtime" });
  const state: TestServer = {
    herald,
    tokens,
    tasks,
    origin: "",
    sseRequests: 0,
    snapshotReads: 0,
    async close() {
      await herald.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith("/api/realtime/sse")) state.sseRequests++;
    if (req.method === "GET" && req.url?.startsWith("/api/realtime/tasks/")) state.snapshotReads++;
    if (!handler(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL(`${state.origin}/`);
  return state;
}

/** A mounted React tree. */
interface Mounted {
  root: Root;
  rerender(node: ReactNode): Promise<void>;
  unmount(): Promise<void>;
}

/** Renders `node` into a fresh container inside `act`. */
async function mount(node: ReactNode): Promise<Mounted> {
  const container = document.createElement("div");
  document.body.append(container);
  const root = createRoot(container);
  root.render(node);
  await settle();
  return {
    root,
    async rerender(next) {
      root.render(next);
      await settle();
    },
    async unmount() {
      root.unmount();
      await settle();
      container.remove();
    },
  };
}

/** Waits (letting React and the network work) until `check` returns true. */
async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
}

/** Lets React render what the last updates scheduled (no act(): updates also come from the network). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

// ---------------------------------------------------------------------------------------------

let server: TestServer;
const mounted: Mounted[] = [];

beforeAll(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  for (const m of mounted.splice(0)) await m.unmount();
  await waitFor(() => server.herald.stats().subscribers === 0, "every subscriber to leave");
});
afterAll(async () => {
  await server.close();
});

function Providers({ children, maxAttempts }: { children: ReactNode; maxAttempts?: number }) {
  return (
    <HeraldProvider
      url="/api/realtime/sse"
      getToken={() => server.tokens.issue("alice")}
      options={{
        EventSource: EventSource as unknown as EventSourceFactory,
        backoff: { baseMs: 50, capMs: 200 },
        maxAttempts,
      }}
    >
      {children}
    </HeraldProvider>
  );
}

async function render(node: ReactNode, strict = false): Promise<Mounted> {
  const m = await mount(strict ? <StrictMode>{node}</StrictMode> : node);
  mounted.push(m);
  return m;
}

/** Renders a hook's value into `out.current` on every render. */
function Probe<T>({ use, out }: { use: () => T; out: { current: T | null } }) {
  out.current = use();
  return null;
}

describe("useEvent and useChannel", () => {
  test("events published on the server reach the hooks, in order, filtered by event name", async () => {
    const channel: { current: ChannelState<{ n: number }> | null } = { current: null };
    const headlines: number[] = [];
    const all: string[] = [];
    function Headlines() {
      useEvent<{ n: number }>("news", "headline", (data) => headlines.push(data.n));
      useEvent("news", "*", (_data, envelope) => all.push(envelope.event));
      return null;
    }
    await render(
      <Providers>
        <Probe use={() => useChannel<{ n: number }>("news", { limit: 3 })} out={channel} />
        <Headlines />
      </Providers>,
    );
    await waitFor(() => channel.current?.status === "live", "the channel to be live");
    for (let n = 1; n <= 4; n++) await server.herald.publish("news", "headline", { n });
    await server.herald.publish("news", "weather", { n: 0 });
    await waitFor(() => all.length === 5, "five events");
    expect(headlines).toEqual([1, 2, 3, 4]);
    expect(all).toEqual(["headline", "headline", "headline", "headline", "weather"]);
    // limit 3: the oldest are dropped
    expect(channel.current!.events.map((e) => e.data.n)).toEqual([3, 4, 0]);
    expect(channel.current!.events[0]!.channel).toBe("news");
  });

  test("the latest handler is called without resubscribing", async () => {
    const seen: string[] = [];
    function Label({ label }: { label: string }) {
      useEvent("labels", "ping", () => seen.push(label));
      return null;
    }
    const status: { current: ConnectionStatus | null } = { current: null };
    const tree = (label: string) => (
      <Providers>
        <Probe use={useConnectionStatus} out={status} />
        <Label label={label} />
      </Providers>
    );
    const m = await render(tree("first"));
    await waitFor(() => status.current?.state === "connected", "connected");
    const requests = server.sseRequests;
    await m.rerender(tree("second"));
    await server.herald.publish("labels", "ping", {});
    await waitFor(() => seen.length === 1, "one event");
    expect(seen).toEqual(["second"]);
    expect(server.sseRequests).toBe(requests);
  });

  test("unmounting closes the subscription on the server", async () => {
    const channel: { current: ChannelState | null } = { current: null };
    const m = await render(
      <Providers>
        <Probe use={() => useChannel("leaving")} out={channel} />
      </Providers>,
    );
    await waitFor(() => channel.current?.status === "live", "live");
    expect(server.herald.subscriberCount("leaving")).toBe(1);
    await m.unmount();
    mounted.splice(mounted.indexOf(m), 1);
    await waitFor(() => server.herald.stats().subscribers === 0, "the server to see the subscriber leave");
    expect(server.herald.subscriberCount("leaving")).toBe(0);
  });

  test("StrictMode's double mount makes exactly one server connection", async () => {
    const a: { current: ChannelState | null } = { current: null };
    const b: { current: ChannelState | null } = { current: null };
    const before = server.sseRequests;
    await render(
      <Providers>
        <Probe use={() => useChannel("strict-a")} out={a} />
        <Probe use={() => useChannel("strict-b")} out={b} />
      </Providers>,
      true,
    );
    await waitFor(() => a.current?.status === "live" && b.current?.status === "live", "both channels live");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.sseRequests - before).toBe(1);
    expect(server.herald.stats().subscribers).toBe(1);
    await server.herald.publish("strict-a", "x", 1);
    await waitFor(() => a.current!.events.length === 1, "the event");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(a.current!.events).toHaveLength(1); // delivered once, not once per mount
  });
});

describe("useConnectionStatus", () => {
  test("reports connected, then reconnecting when the stream drops, then connected again without loss", async () => {
    const status: { current: ConnectionStatus | null } = { current: null };
    const channel: { current: ChannelState<number> | null } = { current: null };
    const states: string[] = [];
    function Watch() {
      const s = useConnectionStatus();
      status.current = s;
      if (states[states.length - 1] !== s.state) states.push(s.state);
      return null;
    }
    await render(
      <Providers maxAttempts={5}>
        <Watch />
        <Probe use={() => useChannel<number>("counter", { limit: 100 })} out={channel} />
      </Providers>,
    );
    await waitFor(() => status.current?.state === "connected", "connected");
    expect(status.current!.maxAttempts).toBe(5);
    await server.herald.publish("counter", "n", 1);
    await waitFor(() => channel.current!.events.length === 1, "first event");
    // Drop every stream from the server side, and publish while the client is away.
    server.herald.core.hub.closeAll();
    await server.herald.publish("counter", "n", 2);
    await server.herald.publish("counter", "n", 3);
    await waitFor(() => channel.current!.events.length === 3, "events missed during the cut");
    await waitFor(() => status.current?.state === "connected", "connected again");
    expect(states).toContain("reconnecting");
    expect(channel.current!.events.map((e) => e.data)).toEqual([1, 2, 3]);
  });
});

describe("useTask", () => {
  /** A job the test drives step by step. */
  function controlledJob() {
    const gates: Array<() => void> = [];
    let ctx: TaskContext | null = null;
    const next = () => new Promise<void>((resolve) => gates.push(resolve));
    const job = async (c: TaskContext) => {
      ctx = c;
      await next();
      return { rows: 3 };
    };
    return {
      job,
      get ctx() {
        return ctx!;
      },
      release: () => gates.shift()?.(),
    };
  }

  test("shows the snapshot first, then live events, until succeeded", async () => {
    const control = controlledJob();
    const snapshot = await server.tasks.start("alice", control.job, { title: "Report", steps: ["load", "sum"] });
    await waitFor(() => control.ctx !== null, "the job to start");
    control.ctx.step("load", "active");
    control.ctx.progress(40);
    control.ctx.text("Hello");
    control.ctx.step("load", "done");
    // Let the pipeline commit before the hook reads the snapshot.
    await new Promise((resolve) => setTimeout(resolve, 50));

    const task: { current: TaskState<{ rows: number }> | null } = { current: null };
    const seen: Array<[string, number]> = [];
    function Watch() {
      const t = useTask<{ rows: number }>(snapshot.id);
      task.current = t;
      seen.push([t.status, t.progress]);
      return null;
    }
    await render(
      <Providers>
        <Watch />
      </Providers>,
      true,
    );
    await waitFor(() => task.current?.status === "running", "the snapshot");
    expect(seen[0]![0]).toBe("loading");
    // The first non-loading render already has the snapshot's progress: never 0 after loading.
    const firstLoaded = seen.find(([status]) => status !== "loading")!;
    expect(firstLoaded).toEqual(["running", 40]);
    expect(task.current!.title).toBe("Report");
    expect(task.current!.text).toBe("Hello");
    expect(task.current!.steps).toEqual([
      { name: "load", status: "done" },
      { name: "sum", status: "pending" },
    ]);
    await waitFor(() => server.herald.subscriberCount(`task-${snapshot.id}`) === 1, "the task subscription");

    control.ctx.step("sum", "active");
    control.ctx.text(", world");
    control.ctx.progress(100);
    control.ctx.step("sum", "done");
    control.release();
    await waitFor(() => task.current?.status === "succeeded", "succeeded");
    expect(task.current!.progress).toBe(100);
    expect(task.current!.text).toBe("Hello, world");
    expect(task.current!.result).toEqual({ rows: 3 });
    expect(task.current!.steps.every((s) => s.status === "done")).toBe(true);
    // Progress never went backwards.
    const progress = seen.map(([, p]) => p).filter((_, i) => seen[i]![0] !== "loading");
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    // Finished: the hook stops following the task.
    await waitFor(() => server.herald.subscriberCount(`task-${snapshot.id}`) === 0, "unsubscribed after the end");
  });

  test("cancel() cancels the task and aborts its job", async () => {
    let aborted = false;
    const snapshot = await server.tasks.start("alice", (ctx) => {
      return new Promise((_resolve, reject) => {
        ctx.progress(10);
        ctx.signal.addEventListener("abort", () => {
          aborted = true;
          reject(new Error("aborted"));
        });
      });
    });
    const task: { current: TaskState | null } = { current: null };
    await render(
      <Providers>
        <Probe use={() => useTask(snapshot.id)} out={task} />
      </Providers>,
    );
    await waitFor(() => task.current?.status === "running" && task.current.progress === 10, "running at 10%");
    await task.current!.cancel();
    await waitFor(() => task.current?.status === "canceled", "canceled");
    expect(aborted).toBe(true);
    await expect(task.current!.cancel()).rejects.toMatchObject({ code: "task_finished", status: 409 });
  });

  test("an unknown task is status error, and subscribes to nothing", async () => {
    const task: { current: TaskState | null } = { current: null };
    const status: { current: ConnectionStatus | null } = { current: null };
    await render(
      <Providers>
        <Probe use={() => useTask("nope")} out={task} />
        <Probe use={useConnectionStatus} out={status} />
      </Providers>,
    );
    await waitFor(() => task.current?.status === "error", "error");
    expect(task.current!.error).toMatchObject({ code: "task_not_found" });
    expect(status.current!.state).toBe("idle");
  });

  test("an initial snapshot renders at once, without a loading state", async () => {
    const control = controlledJob();
    const snapshot = await server.tasks.start("alice", control.job, { title: "Fast" });
    const task: { current: TaskState | null } = { current: null };
    const statuses: string[] = [];
    function Watch() {
      const t = useTask(snapshot.id, { initial: snapshot });
      task.current = t;
      statuses.push(t.status);
      return null;
    }
    await render(
      <Providers>
        <Watch />
      </Providers>,
    );
    expect(statuses[0]).toBe("queued");
    await waitFor(() => control.ctx !== null, "the job");
    control.release();
    await waitFor(() => task.current?.status === "succeeded", "succeeded");
    expect(statuses).not.toContain("loading");
  });
});

describe("useTask with a scripted client", () => {
  /** A client whose stream the test plays by hand: which events arrive, and when a gap happens. */
  function scriptedClient() {
    const handlers = new Map<string, (e: EventEnvelope) => void>();
    const listeners = new Map<string, Set<(p: unknown) => void>>();
    const client: HeraldClient = {
      state: "connected",
      cursor: null,
      attempt: 0,
      nextRetryAt: null,
      transport: "sse",
      subscribe(channel, handler) {
        handlers.set(channel, handler as (e: EventEnvelope) => void);
        return () => handlers.delete(channel);
      },
      on(type, listener) {
        if (!listeners.has(type)) listeners.set(type, new Set());
        listeners.get(type)!.add(listener as (p: unknown) => void);
        return () => listeners.get(type)!.delete(listener as (p: unknown) => void);
      },
      reconnect() {},
      close() {},
    };
    const emit = async <K extends keyof ClientEvents>(type: K, payload: ClientEvents[K]) => {
      for (const l of [...(listeners.get(type) ?? [])]) l(payload);
      await settle();
    };
    const deliver = async (channel: string, event: string, data: unknown, seq: number) => {
      handlers.get(channel)?.({ channel, event, data, id: `e-${seq}`, ts: Date.now() });
      await settle();
    };
    return { client, handlers, emit, deliver };
  }

  test("applies only events above the snapshot's seq, and reads the snapshot again after a gap", async () => {
    const control: { ctx: TaskContext | null; finish?: () => void } = { ctx: null };
    const snapshot = await server.tasks.start(
      "alice",
      (ctx) =>
        new Promise((resolve) => {
          control.ctx = ctx;
          control.finish = () => resolve("done");
        }),
      { steps: ["a"] },
    );
    await waitFor(() => control.ctx !== null, "the job");
    control.ctx!.progress(30);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const channel = `task-${snapshot.id}`;
    const script = scriptedClient();
    const task: { current: TaskState | null } = { current: null };
    const reads = server.snapshotReads;
    mounted.push(
      await mount(
        <HeraldProvider url="/unused" client={script.client}>
          <Probe use={() => useTask(snapshot.id)} out={task} />
        </HeraldProvider>,
      ),
    );
    await waitFor(() => task.current?.progress === 30 && script.handlers.has(channel), "snapshot and subscription");
    expect(server.snapshotReads - reads).toBe(1);
    // The stream serving the channel opens: the snapshot is read again, now authoritative.
    await script.emit("connected", {
      connectionId: "c",
      cursor: "e-0",
      channels: [channel],
      retry: 1000,
      heartbeat: 15000,
    });
    await waitFor(() => server.snapshotReads - reads === 2, "a second read");
    const seq = task.current!.task!.seq;
    // Events at or below the snapshot's position are already in it.
    await script.deliver(channel, "progress", { progress: 5 }, seq);
    expect(task.current!.progress).toBe(30);
    await script.deliver(channel, "progress", { progress: 60 }, seq + 1);
    expect(task.current!.progress).toBe(60);
    await script.deliver(channel, "text", { chunk: "x" }, seq + 1); // a duplicate
    expect(task.current!.text).toBe("");
    // A reconnection that lost events for the channel: a gap, then the snapshot again.
    control.ctx!.progress(75);
    control.ctx!.step("a", "done");
    await new Promise((resolve) => setTimeout(resolve, 50));
    await script.emit("gap", { channel, reason: "retention", cursor: "e-1" });
    await script.emit("connected", {
      connectionId: "d",
      cursor: "e-9",
      channels: [channel],
      retry: 1000,
      heartbeat: 15000,
    });
    await waitFor(() => task.current?.progress === 75, "the refreshed snapshot");
    expect(server.snapshotReads - reads).toBe(3);
    expect(task.current!.steps).toEqual([{ name: "a", status: "done" }]);
    // A reconnection without a gap resumes losslessly: no new read.
    await script.emit("connected", {
      connectionId: "e",
      cursor: "e-9",
      channels: [channel],
      retry: 1000,
      heartbeat: 15000,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.snapshotReads - reads).toBe(3);
    control.finish!();
    await waitFor(() => server.tasks.running === 0, "the job to end");
  });
});

describe("useTasks().start (issue 19 #1)", () => {
  test("shows a started task at once, keeps a refusal as a value, and turns a throwing action into one", async () => {
    const out: { current: TasksState | null } = { current: null };
    await render(
      <Providers>
        <Probe use={() => useTasks()} out={out} />
      </Providers>,
    );
    await waitFor(() => out.current?.status === "ready", "the list");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const job = async () => gate;
    const running = server.tasks.running;
    const started: string[] = [];
    for (let i = running; i < 5; i++) {
      const result = await out.current!.start(() => server.tasks.tryStart("alice", job));
      if (!result.ok) throw new Error(result.error.message);
      started.push(result.taskId);
    }
    await waitFor(() => started.every((id) => out.current!.tasks.some((t) => t.id === id)), "the started tasks");
    expect(out.current!.refusal).toBeNull();

    const refused = await out.current!.start(() => server.tasks.tryStart("alice", job));
    expect(refused.ok).toBe(false);
    await waitFor(() => out.current!.refusal !== null, "the refusal");
    expect(out.current!.refusal).toMatchObject({
      code: "too_many_tasks",
      message: "5 tasks are running; wait for one to finish.",
    });
    expect(out.current!.starting).toBe(false);

    const thrown = await out.current!.start(() =>
      Promise.reject(new Error("An error occurred in the Server Components render")),
    );
    expect(thrown).toMatchObject({
      ok: false,
      error: { code: "internal", message: "The task could not be started; try again." },
    });

    release();
    await Promise.all(started.map((id) => server.tasks.wait(id, "alice")));
    const ok = await out.current!.start(() => server.tasks.tryStart("alice", async () => 1));
    expect(ok.ok).toBe(true);
    await waitFor(() => out.current!.refusal === null, "the refusal to clear");
  });
});
