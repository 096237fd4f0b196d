/** The Node fast path for self-hosted Next.js: `createNodeHandler` and `createHeraldServer`. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { headerOf } from "../server/http/sse-node.js";
import { Buffer } from "node:buffer";
import { HeraldError } from "../protocol/errors.js";
import type { ClientPublisher } from "../server/http/client-publish.js";
import { hardenServer, HARDENED_SERVER_OPTIONS, type HardenOptions } from "../server/http/harden.js";
import type { Herald } from "../server/herald.js";
import { errorParts } from "../server/http/responses.js";
import type { Tasks } from "../server/tasks/tasks.js";
import type { Tokens } from "../server/auth/tokens/tokens.js";
import { matchRoute, pathSegments, serveJson, type JsonReply } from "../server/http/routes.js";

/** Options for {@link createNodeHandler}. */
export interface NodeHandlerOptions {
  /** The Herald instance; its `authenticate`/`authorize` options guard the SSE route. */
  herald: Herald;
  /** Enables `POST {basePath}/token`. */
  tokens?: Tokens;
  /** Enables the task routes. */
  tasks?: Tasks;
  /** Enables `POST …/publish` for client-originated messages (`createClientPublisher`). */
  publisher?: ClientPublisher;
  /** The signed-in user's id from the request (cookie session), or null when signed out (401). */
  getUserId(req: IncomingMessage): Promise<string | null> | string | null;
  /** Where the routes live (default `"/api/realtime"`); requests elsewhere are not taken. */
  basePath?: string;
}

/** Serves a request it owns and returns true; returns false (and does nothing) otherwise. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The request handler of a Next.js app: `app.getRequestHandler()`. */
export type NextRequestHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

const BASE = "http://herald.invalid";

/**
 * The routes of {@link createRouteHandlers} on Node's `http`, with SSE on `herald.handleNode` (several
 * times cheaper per event than web streams). Owns every path under `basePath`, unknown ones
 * answered with a JSON 404; returns false for the rest, so the caller can hand them to Next.
 */
export function createNodeHandler(options: NodeHandlerOptions): NodeHandler {
  const base = pathSegments(options.basePath ?? "/api/realtime");
  const deps = { tokens: options.tokens, tasks: options.tasks, publisher: options.publisher };
  return (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", BASE);
    } catch {
      return false;
    }
    const segments = pathSegments(url.pathname);
    if (segments.length < base.length || !base.every((part, i) => segments[i] === part)) return false;
    const route = matchRoute(req.method ?? "GET", segments.slice(base.length), true);
    if (route.kind === "sse") {
      options.herald.handleNode(req, res).catch((error: unknown) => send(res, errorParts(error)));
      return true;
    }
    serveJson(
      route,
      {
        url,
        header: (name) => headerOf(req, name),
        userId: async () => options.getUserId(req),
        body: (limit) => readNodeBody(req, limit),
      },
      deps,
    ).then(
      (reply) => send(res, reply),
      (error: unknown) => send(res, errorParts(error)),
    );
    return true;
  };
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
 * import { herald, tokens, tasks, getUserIdFromNode } from "./lib/realtime";
 *
 * const app = next({ dev: process.env.NODE_ENV !== "production" });
 * await app.prepare();
 * createHeraldServer({ herald, tokens, tasks, getUserId: getUserIdFromNode, next: app.getRequestHandler() })
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

function send(res: ServerResponse, reply: JsonReply): void {
  if (res.writableEnded || res.destroyed) return;
  if (!res.headersSent) res.writeHead(reply.status, reply.headers);
  res.end(reply.body);
}

/** Reads a Node request body as text, refusing more than `limit` bytes (413). */
function readNodeBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(new HeraldError("payload_too_large", `request body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
