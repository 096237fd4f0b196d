/** The Node fast path for self-hosted Next.js: `createNodeHandler` and `createHeraldServer`. */
import { AsyncLocalStorage } from "node:async_hooks";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import type { ClientPublisher } from "../server/http/client-publish.js";
import { hardenServer, HARDENED_SERVER_OPTIONS, type HardenOptions } from "../server/http/harden.js";
import type { Herald } from "../server/herald.js";
import { nodeRoutes, send, sessionOfNode, type NodeHandler } from "../server/http/node-adapter.js";
import { errorParts } from "../server/http/responses.js";
import type { Tasks } from "../server/tasks/tasks.js";
import type { Tokens } from "../server/auth/tokens/tokens.js";
import { observabilityOf } from "./observability.js";

// A custom server imports its `lib/herald.ts` (and with it `next/headers`) before Next has loaded
// its server environment, which sets this global; Next's request storage modules read it once, when
// first loaded, and without it every page fails with "Invariant: AsyncLocalStorage accessed in
// runtime where it is not available". Importing `herald/next` first sets it, as Next itself would.
const withStorage = globalThis as { AsyncLocalStorage?: typeof AsyncLocalStorage };
withStorage.AsyncLocalStorage ??= AsyncLocalStorage;

/** Options for {@link createNodeHandler}. Every field but `herald` defaults to what the Herald instance owns. */
export interface NodeHandlerOptions {
  /** The Herald instance; its `authenticate`/`authorize` options guard the SSE route. */
  herald: Herald;
  /** Issues tokens on `POST {basePath}/token` (default: `herald.tokens`). */
  tokens?: Tokens;
  /** Serves the task routes (default: `herald.tasks`). */
  tasks?: Tasks;
  /** Enables `POST …/publish` for client-originated messages (`createClientPublisher`). */
  publisher?: ClientPublisher;
  /** The signed-in user's id (default: the instance's `getUserId`); null when signed out (401). */
  getUserId?(req: IncomingMessage): Promise<string | null | undefined> | string | null | undefined;
  /** Where the routes live (default `"/api/realtime"`); requests elsewhere are not taken. */
  basePath?: string;
}

export type { NodeHandler };

/** The request handler of a Next.js app: `app.getRequestHandler()`. */
export type NextRequestHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * The routes of {@link createRouteHandlers} on Node's `http`, with SSE on the Node fast path (several
 * times cheaper per event than web streams). Owns every path under `basePath`, unknown ones
 * answered with a JSON 404; returns false for the rest, so the caller can hand them to Next.
 */
export function createNodeHandler(options: NodeHandlerOptions): NodeHandler {
  const { herald } = options;
  return nodeRoutes(herald.core, {
    tokens: options.tokens ?? herald.tokens,
    tasks: options.tasks ?? herald.tasks,
    publisher: options.publisher ?? herald.publisher,
    getUserId: warnOutsideRequestScope(options.getUserId ?? ((req) => herald.userId(sessionOfNode(req)))),
    basePath: options.basePath,
    observability: observabilityOf(herald),
  });
}

/** Options for {@link createHeraldServer}. */
export interface HeraldServerOptions extends NodeHandlerOptions {
  /** Handles every request Herald does not own: `app.getRequestHandler()`. */
  next: NextRequestHandler;
  /** Request timeouts and limits against slowloris and oversized requests (defaults: see `hardenServer`). */
  harden?: HardenOptions;
}

/**
 * An `http.Server` that serves Herald's routes on the Node fast path and passes everything else to
 * Next. Call `listen()` on it. A whole custom server:
 *
 * @example
 * ```ts
 * // server.ts, run with `node --import tsx server.ts` (or compile it)
 * import next from "next";
 * import { createHeraldServer } from "herald/next";
 * import { herald } from "./lib/herald";
 *
 * const app = next({ dev: process.env.NODE_ENV !== "production" });
 * await app.prepare();
 * createHeraldServer({ herald, next: app.getRequestHandler() })
 *   .listen(Number(process.env.PORT ?? 3000));
 * ```
 */
export function createHeraldServer(options: HeraldServerOptions): Server {
  warnIfNextStorageIsFake();
  const handler = createNodeHandler(options);
  const { herald } = options;
  const getUserId = options.getUserId ?? ((req: IncomingMessage) => herald.userId(sessionOfNode(req)));
  const base = (options.basePath ?? "/api/realtime").replace(/\/+$/, "");
  /**
   * Whether the session routes go to Next: decided by the first of them, true when `getUserId`
   * needs Next's request scope (`cookies()`, `headers()` from `next/headers`).
   */
  let sessionInNext: boolean | undefined;
  let warnedNoRoute = false;
  const toNext = (req: IncomingMessage, res: ServerResponse): void => {
    Promise.resolve()
      .then(() => options.next(req, res))
      .catch((error: unknown) => {
        console.error(`herald: next request handler failed: ${error instanceof Error ? error.message : String(error)}`);
        send(res, errorParts(error));
      });
  };
  const sessionToNext = (req: IncomingMessage, res: ServerResponse): void => {
    res.once("finish", () => {
      if (res.statusCode !== 404 || warnedNoRoute) return;
      warnedNoRoute = true;
      console.error(
        `herald: ${req.method} ${req.url?.split("?")[0]} answered 404. The getUserId of your Herald reads ` +
          `the session with next/headers, which works only inside Next's request scope, so the custom ` +
          `server hands ${base}/{token,tasks,publish} to Next: add the catch-all route ` +
          `app${base}/[...herald]/route.ts (export const { GET, POST } = herald.routes), or give ` +
          `createHeraldServer a getUserId(req) that reads req.headers.cookie.`,
      );
    });
    toNext(req, res);
  };
  const server = createServer(HARDENED_SERVER_OPTIONS, (req, res) => {
    if (isSessionRoute(req.url, base)) {
      if (sessionInNext) return sessionToNext(req, res);
      if (sessionInNext === undefined) {
        void needsRequestScope(getUserId, req).then((inNext) => {
          sessionInNext ??= inNext;
          if (inNext) sessionToNext(req, res);
          else if (!handler(req, res)) toNext(req, res);
        });
        return;
      }
    }
    if (handler(req, res)) return;
    toNext(req, res);
  });
  return hardenServer(server, options.harden);
}

/** The routes whose answer depends on the session (`getUserId`): `token`, `tasks…`, `publish`. */
function isSessionRoute(url: string | undefined, base: string): boolean {
  const pathname = (url ?? "/").split("?")[0]!;
  if (!pathname.startsWith(`${base}/`)) return false;
  const first = pathname.slice(base.length + 1).split("/")[0];
  return first === "token" || first === "tasks" || first === "publish";
}

/** True for what `cookies()` and `headers()` throw outside Next's request scope. */
function isOutsideRequestScope(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /outside a request scope|next-dynamic-api-wrong-context|AsyncLocalStorage accessed|requestAsyncStorage/.test(
    message,
  );
}

/** True when `getUserId` fails because it needs Next's request scope. */
async function needsRequestScope(getUserId: (req: IncomingMessage) => unknown, req: IncomingMessage): Promise<boolean> {
  try {
    await getUserId(req);
    return false;
  } catch (error) {
    return isOutsideRequestScope(error);
  }
}

let warnedScope = false;

/** `getUserId`, saying once how to fix it when it reads next/headers on the Node path (then a 500). */
function warnOutsideRequestScope(getUserId: NonNullable<NodeHandlerOptions["getUserId"]>): typeof getUserId {
  return async (req) => {
    try {
      return await getUserId(req);
    } catch (error) {
      if (!warnedScope && isOutsideRequestScope(error)) {
        warnedScope = true;
        console.error(
          "herald: getUserId reads the session with next/headers (cookies(), headers()), which works only " +
            "inside a Next request, and this route is served on Node outside one. Use createHeraldServer " +
            "(it hands the session routes to your catch-all route), or pass a getUserId(req) that reads " +
            "req.headers.cookie.",
        );
      }
      throw error;
    }
  };
}

let warnedStorage = false;

/**
 * Says how to fix it when Next's request storage was created before the global it needs was set
 * (`next/headers` imported before `herald/next` and before Next's server environment): every page
 * of the app would fail with "Invariant: AsyncLocalStorage accessed in runtime where it is not available".
 */
function warnIfNextStorageIsFake(): void {
  if (warnedStorage) return;
  try {
    const require = createRequire(path.join(process.cwd(), "package.json"));
    const resolved = require.resolve("next/dist/server/app-render/work-async-storage-instance.js");
    const loaded = require.cache[resolved]?.exports as { workAsyncStorageInstance?: object } | undefined;
    const instance = loaded?.workAsyncStorageInstance;
    if (!instance || instance instanceof AsyncLocalStorage) return;
    warnedStorage = true;
    console.error(
      "herald: next/headers was loaded before Next's server environment, so every page will fail with " +
        '"Invariant: AsyncLocalStorage accessed in runtime where it is not available". In your custom ' +
        'server, import "herald/next" before the module that imports next/headers (your lib/herald.ts), ' +
        "or import that module after `await app.prepare()`.",
    );
  } catch {
    // Next is not resolvable from here, or its layout differs: nothing to check.
  }
}
