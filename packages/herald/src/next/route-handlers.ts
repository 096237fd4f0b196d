/** `createRouteHandlers`: every Herald route behind one Next.js App Router catch-all route file. */
import type { Herald } from "../server/herald.js";
import { HeraldError } from "../protocol/errors.js";
import { Buffer } from "node:buffer";
import type { ClientPublisher } from "../server/http/client-publish.js";
import { errorResponse } from "../server/http/responses.js";
import type { Tasks } from "../server/tasks/tasks.js";
import type { Tokens } from "../server/auth/tokens/tokens.js";
import { matchRoute, pathSegments, serveJson, type JsonReply } from "../server/http/routes.js";

/** Options for {@link createRouteHandlers}. */
export interface RouteHandlersOptions {
  /** The Herald instance; its `authenticate`/`authorize` options guard the SSE route. */
  herald: Herald;
  /** Enables `POST …/token`, which issues a token to the signed-in user. */
  tokens?: Tokens;
  /** Enables `GET …/tasks`, `GET …/tasks/{id}` and `POST …/tasks/{id}/cancel`. */
  tasks?: Tasks;
  /** Enables `POST …/publish` for client-originated messages (`createClientPublisher`). */
  publisher?: ClientPublisher;
  /** The signed-in user's id from the request (cookie session), or null when signed out (401). */
  getUserId(request: Request): Promise<string | null> | string | null;
  /**
   * Where the catch-all is mounted (for example `"/api/realtime"`). When given, paths must match
   * exactly below it; when not, the last path segments decide the route.
   */
  basePath?: string;
}

/** Reads a Fetch request body as text, refusing more than `limit` bytes (413) without buffering it all. */
async function readRequestBody(request: Request, limit: number): Promise<string> {
  const declared = Number(request.headers.get("content-length"));
  if (declared > limit) throw new HeraldError("payload_too_large", `request body is larger than ${limit} bytes`);
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new HeraldError("payload_too_large", `request body is larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** A Next.js route handler. */
export type RouteHandler = (request: Request) => Promise<Response>;

/**
 * Route handlers for a single catch-all route file. Routes, relative to where it is mounted:
 * - `GET  …/sse?channel=…&token=…`: the SSE stream (`herald.handleRequest`);
 * - `POST …/token[?channel=…]`: `{ token }` for the signed-in user (with `tokens`);
 * - `GET  …/tasks`: `{ tasks }`, the user's tasks (with `tasks`);
 * - `GET  …/tasks/{id}`: the task's snapshot, owner only;
 * - `POST …/tasks/{id}/cancel`: cancels it, answering with the canceled snapshot;
 * - anything else: 404 `{ error: { code: "not_found", message } }`.
 * Errors are JSON `{ error: { code, message } }` with the code's status (401 when signed out).
 *
 * Next reads route segment config only from literal exports in the route file (a re-export is
 * ignored with a warning), so write `dynamic` and `runtime` in the file yourself:
 *
 * @example
 * ```ts
 * // app/api/realtime/[...herald]/route.ts
 * import { createRouteHandlers } from "herald/next";
 * import { herald, tokens, tasks, getUserId } from "@/lib/realtime";
 *
 * export const dynamic = "force-dynamic";
 * export const runtime = "nodejs";
 * export const { GET, POST } = createRouteHandlers({ herald, tokens, tasks, getUserId });
 * ```
 */
export function createRouteHandlers(options: RouteHandlersOptions): { GET: RouteHandler; POST: RouteHandler } {
  const base = options.basePath === undefined ? null : pathSegments(options.basePath);
  const deps = { tokens: options.tokens, tasks: options.tasks, publisher: options.publisher };

  const handle = async (request: Request): Promise<Response> => {
    try {
      const url = new URL(request.url);
      let segments = pathSegments(url.pathname);
      if (base) {
        const under = base.every((part, i) => segments[i] === part);
        segments = under ? segments.slice(base.length) : ["\u0000"];
      }
      const route = matchRoute(request.method, segments, base !== null);
      if (route.kind === "sse") return await options.herald.handleRequest(request);
      const reply = await serveJson(
        route,
        {
          url,
          header: (name) => request.headers.get(name),
          userId: async () => options.getUserId(request),
          body: (limit) => readRequestBody(request, limit),
        },
        deps,
      );
      return toResponse(reply);
    } catch (error) {
      return errorResponse(error);
    }
  };
  return { GET: handle, POST: handle };
}

function toResponse(reply: JsonReply): Response {
  return new Response(reply.body, { status: reply.status, headers: reply.headers });
}
