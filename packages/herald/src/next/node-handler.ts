/** The Node fast path for self-hosted Next.js: `createNodeHandler` and `createHeraldServer`. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { ClientPublisher } from "../server/http/client-publish.js";
import { hardenServer, HARDENED_SERVER_OPTIONS, type HardenOptions } from "../server/http/harden.js";
import type { Herald } from "../server/herald.js";
import { nodeRoutes, send, sessionOfNode, type NodeHandler } from "../server/http/node-adapter.js";
import { errorParts } from "../server/http/responses.js";
import type { Tasks } from "../server/tasks/tasks.js";
import type { Tokens } from "../server/auth/tokens/tokens.js";
import { observabilityOf } from "./observability.js";

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
    getUserId: options.getUserId ?? ((req) => herald.userId(sessionOfNode(req))),
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
  const handler = createNodeHandler(options);
  const server = createServer(HARDENED_SERVER_OPTIONS, (req, res) => {
    if (handler(req, res)) return;
    Promise.resolve()
      .then(() => options.next(req, res))
      .catch((error: unknown) => {
        console.error(`herald: next request handler failed: ${error instanceof Error ? error.message : String(error)}`);
        send(res, errorParts(error));
      });
  });
  return hardenServer(server, options.harden);
}
