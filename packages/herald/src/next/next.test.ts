import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EventSource, type FetchLike } from "eventsource";
import { defaultAuthorize } from "../server/auth/authorize.js";
import { createHerald, type Herald } from "../server/herald.js";
import { createTasks, type Tasks } from "../server/tasks/tasks.js";
import { tokenAuthenticator } from "../server/auth/tokens/authenticator.js";
import { createTokens, type Tokens } from "../server/auth/tokens/tokens.js";
import { createHeraldServer, createNodeHandler } from "./node-handler.js";
import { createRouteHandlers } from "./route-handlers.js";

/** The app's session lookup, as a cookie `session=<userId>`. */
function userFromCookie(cookie: string | null | undefined): string | null {
  return /(?:^|;\s*)session=([^;]+)/.exec(cookie ?? "")?.[1] ?? null;
}

interface App {
  herald: Herald;
  tokens: Tokens;
  tasks: Tasks;
}

function createApp(): App {
  const tokens = createTokens();
  const ref: { tasks?: Tasks } = {};
  const herald = createHerald({
    authenticate: tokenAuthenticator(tokens),
    authorize: defaultAuthorize({ tasks: { ownerOf: (id) => ref.tasks!.ownerOf(id) } }),
  });
  const tasks = (ref.tasks = createTasks(herald, { onError: () => {} }));
  return { herald, tokens, tasks };
}

/** How a test reaches the routes: a fetch function and the URL they are mounted at. */
interface Client {
  base: string;
  fetch: FetchLike & ((url: string, init?: RequestInit) => Promise<Response>);
}

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

/** Drives the Fetch route handlers directly with `Request` objects, as Next.js does. */
function viaRequests(app: App, basePath?: string): Client {
  const { GET, POST } = createRouteHandlers({
    ...app,
    basePath,
    getUserId: async (request) => userFromCookie(request.headers.get("cookie")),
  });
  const call = async (url: string | URL, init?: RequestInit) => {
    const request = new Request(url, init);
    return request.method === "POST" ? POST(request) : GET(request);
  };
  return { base: "http://app.test/api/realtime", fetch: call as Client["fetch"] };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A real node:http server: Herald's Node fast path in front of a stand-in for Next's handler. */
async function viaNodeServer(app: App): Promise<Client> {
  const server = createHeraldServer({
    ...app,
    getUserId: (req: IncomingMessage) => userFromCookie(req.headers.cookie),
    next: (_req, res) => {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end("from next");
    },
  });
  const origin = await listen(server);
  return {
    base: `${origin}/api/realtime`,
    fetch: ((url: string, init?: RequestInit) => fetch(url, init)) as Client["fetch"],
  };
}

async function errorOf(response: Response): Promise<[number, string]> {
  expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
  return [response.status, ((await response.json()) as { error: { code: string } }).error.code];
}

const as = (user: string, extra: Record<string, string> = {}) => ({ headers: { cookie: `session=${user}`, ...extra } });

describe.each([
  ["Fetch route handlers driven by Request objects", false],
  ["createHeraldServer on a real node:http server", true],
])("%s", (_name, node) => {
  async function setup(): Promise<App & { client: Client }> {
    const app = createApp();
    cleanups.push(() => app.herald.close());
    const client = node ? await viaNodeServer(app) : viaRequests(app);
    return { ...app, client };
  }

  it("serves SSE with a token issued by POST /token, to the real eventsource client", async () => {
    const { herald, client } = await setup();
    const issued = await client.fetch(`${client.base}/token`, { method: "POST", ...as("alice") });
    expect(issued.status).toBe(200);
    const { token } = (await issued.json()) as { token: string };
    const es = new EventSource(`${client.base}/sse?channel=user-alice&token=${token}`, { fetch: client.fetch });
    cleanups.push(() => es.close());
    const message = new Promise<unknown>((resolve, reject) => {
      es.onmessage = (event) => resolve(JSON.parse(event.data));
      es.onerror = (event) => reject(new Error(`EventSource error ${event.code}`));
    });
    await new Promise<void>((resolve) => es.addEventListener("herald:connected", () => resolve()));
    const id = await herald.publish("user-alice", "hello", { n: 1 });
    expect(await message).toMatchObject({ channel: "user-alice", event: "hello", data: { n: 1 }, id });
    const replay = await client.fetch(`${client.base}/sse?channel=user-alice&token=${token}`);
    expect(await errorOf(replay)).toEqual([401, "token_used"]);
  });

  it("rejects SSE without a token, and tokens bound to other channels, with JSON errors", async () => {
    const { client } = await setup();
    expect(await errorOf(await client.fetch(`${client.base}/sse?channel=user-alice`))).toEqual([401, "token_missing"]);
    const bound = await client.fetch(`${client.base}/token?channel=user-alice`, { method: "POST", ...as("alice") });
    const { token } = (await bound.json()) as { token: string };
    const url = `${client.base}/sse?channel=user-alice&channel=news&token=${token}`;
    expect(await errorOf(await client.fetch(url))).toEqual([403, "forbidden"]);
    expect(await errorOf(await client.fetch(`${client.base}/token`, { method: "POST" }))).toEqual([
      401,
      "unauthorized",
    ]);
  });

  it("serves task snapshots, lists and cancels for the owner only", async () => {
    const { tasks, client } = await setup();
    let aborted = false;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const task = await tasks.start(
      "alice",
      (ctx) =>
        new Promise((resolve) => {
          started();
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
            resolve(null);
          });
        }),
      { title: "Wait" },
    );
    await running;
    const url = `${client.base}/tasks/${task.id}`;
    const snapshot = await client.fetch(url, as("alice"));
    expect(snapshot.status).toBe(200);
    expect(snapshot.headers.get("cache-control")).toBe("no-store");
    expect(await snapshot.json()).toMatchObject({ id: task.id, ownerId: "alice", title: "Wait" });
    const list = (await (await client.fetch(`${client.base}/tasks`, as("alice"))).json()) as {
      tasks: { id: string }[];
    };
    expect(list.tasks.map((t) => t.id)).toEqual([task.id]);

    expect(await errorOf(await client.fetch(url))).toEqual([401, "unauthorized"]);
    expect(await errorOf(await client.fetch(url, as("mallory")))).toEqual([404, "task_not_found"]);
    expect(await errorOf(await client.fetch(`${client.base}/tasks/nope`, as("alice")))).toEqual([
      404,
      "task_not_found",
    ]);
    expect(await errorOf(await client.fetch(`${url}/cancel`, { method: "POST", ...as("mallory") }))).toEqual([
      404,
      "task_not_found",
    ]);
    const crossSite = await client.fetch(`${url}/cancel`, {
      method: "POST",
      ...as("alice", { origin: "https://evil.test" }),
    });
    expect(await errorOf(crossSite)).toEqual([403, "origin_not_allowed"]);

    const canceled = await client.fetch(`${url}/cancel`, { method: "POST", ...as("alice") });
    expect(canceled.status).toBe(200);
    expect(await canceled.json()).toMatchObject({ id: task.id, status: "canceled" });
    expect(aborted).toBe(true);
    expect(await errorOf(await client.fetch(`${url}/cancel`, { method: "POST", ...as("alice") }))).toEqual([
      409,
      "task_finished",
    ]);
  });

  it("answers unknown routes and wrong methods with a JSON 404", async () => {
    const { client } = await setup();
    for (const [path, method] of [
      ["/nope", "GET"],
      ["/sse", "POST"],
      ["/token", "GET"],
      ["/tasks/x/cancel", "GET"],
      ["/tasks/x", "POST"],
      ["/tasks/a/b/c", "GET"],
      ["/%E0%A4%A", "GET"],
    ] as const) {
      const response = await client.fetch(`${client.base}${path}`, { method, ...as("alice") });
      expect([path, method, ...(await errorOf(response))]).toEqual([path, method, 404, "not_found"]);
    }
  });
});

describe("createRouteHandlers", () => {
  it("matches exactly below basePath when one is given", async () => {
    const app = createApp();
    cleanups.push(() => app.herald.close());
    const client = viaRequests(app, "/api/realtime");
    const outside = await client.fetch("http://app.test/other/sse?channel=news");
    expect(await errorOf(outside)).toEqual([404, "not_found"]);
    const deeper = await client.fetch("http://app.test/api/realtime/x/sse?channel=news");
    expect(await errorOf(deeper)).toEqual([404, "not_found"]);
    const sse = await client.fetch("http://app.test/api/realtime/sse");
    expect(await errorOf(sse)).toEqual([400, "invalid_request"]);
  });

  it("without basePath, the last path segments decide (any mount point works)", async () => {
    const app = createApp();
    cleanups.push(() => app.herald.close());
    const client = viaRequests(app);
    const sse = await client.fetch("http://app.test/deep/mount/sse");
    expect(await errorOf(sse)).toEqual([400, "invalid_request"]);
  });

  it("turns a throwing getUserId into a 500 without details", async () => {
    const app = createApp();
    cleanups.push(() => app.herald.close());
    const { GET } = createRouteHandlers({
      ...app,
      getUserId: () => {
        throw new Error("db password is hunter2");
      },
    });
    const response = await GET(new Request("http://app.test/api/realtime/tasks"));
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body).error.code).toBe("internal");
    expect(body).not.toContain("hunter2");
  });
});

describe("createNodeHandler", () => {
  it("takes only requests under basePath and leaves the rest to the caller", async () => {
    const app = createApp();
    cleanups.push(() => app.herald.close());
    const handle = createNodeHandler({ ...app, basePath: "/rt", getUserId: () => null });
    const { createServer } = await import("node:http");
    const taken: string[] = [];
    const origin = await listen(
      createServer((req, res) => {
        if (handle(req, res)) return void taken.push(req.url!);
        res.writeHead(418).end("not mine");
      }),
    );
    expect((await fetch(`${origin}/api/realtime/sse?channel=a`)).status).toBe(418);
    expect((await fetch(`${origin}/rtx/sse?channel=a`)).status).toBe(418);
    expect(await errorOf(await fetch(`${origin}/rt/sse?channel=user-a`))).toEqual([401, "token_missing"]);
    expect(await errorOf(await fetch(`${origin}/rt/tasks`))).toEqual([401, "unauthorized"]);
    expect(await errorOf(await fetch(`${origin}/rt`))).toEqual([404, "not_found"]);
    expect(taken).toEqual(["/rt/sse?channel=user-a", "/rt/tasks", "/rt"]);
  });

  it("createHeraldServer passes everything else to Next's handler", async () => {
    const app = createApp();
    cleanups.push(() => app.herald.close());
    const client = await viaNodeServer(app);
    const origin = new URL(client.base).origin;
    const page = await fetch(`${origin}/dashboard`);
    expect([page.status, await page.text()]).toEqual([200, "from next"]);
  });
});

describe("createHeraldServer with a getUserId that reads next/headers (issue 19 #7)", () => {
  /** What `cookies()` throws outside a Next request. */
  const outsideScope = () => {
    throw new Error(
      "`cookies` was called outside a request scope. Read more: https://nextjs.org/docs/messages/next-dynamic-api-wrong-context",
    );
  };

  async function serve(getUserId: () => string | null, nextStatus: number) {
    const app = createApp();
    cleanups.push(() => app.herald.close());
    const toNext: string[] = [];
    const server = createHeraldServer({
      ...app,
      getUserId,
      next: (req, res) => {
        toNext.push(`${req.method} ${req.url}`);
        res.writeHead(nextStatus, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ from: "next" }));
      },
    });
    return { origin: await listen(server), toNext };
  }

  it("hands the session routes to Next's catch-all route; streams stay on the Node path", async () => {
    const { origin, toNext } = await serve(outsideScope, 200);
    for (const [method, path] of [
      ["POST", "/api/realtime/token"],
      ["GET", "/api/realtime/tasks"],
      ["POST", "/api/realtime/tasks/abc/cancel"],
      ["POST", "/api/realtime/publish"],
    ] as const) {
      const response = await fetch(`${origin}${path}`, { method });
      expect([response.status, await response.json()]).toEqual([200, { from: "next" }]);
    }
    expect(toNext).toEqual([
      "POST /api/realtime/token",
      "GET /api/realtime/tasks",
      "POST /api/realtime/tasks/abc/cancel",
      "POST /api/realtime/publish",
    ]);
    expect(await errorOf(await fetch(`${origin}/api/realtime/sse?channel=user-a`))).toEqual([401, "token_missing"]);
    expect(toNext).toHaveLength(4);
  });

  it("says what to add when Next has no route there (a 404)", async () => {
    const logged: string[] = [];
    const original = console.error;
    console.error = (message: unknown) => void logged.push(String(message));
    try {
      const { origin } = await serve(outsideScope, 404);
      expect((await fetch(`${origin}/api/realtime/token`, { method: "POST" })).status).toBe(404);
      expect((await fetch(`${origin}/api/realtime/tasks`)).status).toBe(404);
    } finally {
      console.error = original;
    }
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/app\/api\/realtime\/\[\.\.\.herald\]\/route\.ts/);
  });

  it("createNodeHandler (no Next to hand to) says once what to change; the answer is a 500", async () => {
    const app = createApp();
    cleanups.push(() => app.herald.close());
    const handler = createNodeHandler({ ...app, getUserId: outsideScope });
    const origin = await listen(createServer((req, res) => void handler(req, res)));
    const logged: string[] = [];
    const original = console.error;
    console.error = (message: unknown) => void logged.push(String(message));
    try {
      expect((await fetch(`${origin}/api/realtime/token`, { method: "POST" })).status).toBe(500);
      expect((await fetch(`${origin}/api/realtime/tasks`)).status).toBe(500);
    } finally {
      console.error = original;
    }
    expect(logged.filter((line) => line.includes("next/headers"))).toHaveLength(1);
    expect(logged.join("\n")).toMatch(/createHeraldServer/);
  });

  it("keeps every route on Node when getUserId works there", async () => {
    const { origin, toNext } = await serve(() => "ann", 200);
    expect((await fetch(`${origin}/api/realtime/tasks`)).status).toBe(200);
    const token = await fetch(`${origin}/api/realtime/token`, { method: "POST" });
    expect(((await token.json()) as { userId: string }).userId).toBe("ann");
    expect(toNext).toEqual([]);
  });
});
