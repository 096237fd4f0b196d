/**
 * The Fetch adapter of the HTTP edge (`Request → Response`): what `herald.routes` and
 * `herald/next`'s `createRouteHandlers` serve. SSE goes to `handleSseFetch`; the JSON routes to the
 * shared router (`serveJson`).
 */
import { Buffer } from "node:buffer";
import { HeraldError } from "../../protocol/errors.js";
import type { HeraldCore } from "./edge.js";
import { errorResponse } from "./responses.js";
import {
  matchRoute,
  pathSegments,
  serveJson,
  type JsonReply,
  type JsonRouteDeps,
  type SessionRequest,
} from "./routes.js";
import { servePoll } from "./poll.js";
import { serveHistory } from "./history.js";
import { serveDurable, type DurableReply } from "./durable.js";
import { fetchClientIp, handleSseFetch } from "./sse-fetch.js";

/** A route handler: `GET`/`POST` of a Next.js catch-all route file, or any Fetch server. */
export type RouteHandler = (request: Request) => Promise<Response>;

/** What the Fetch adapter needs besides the edge. */
export interface FetchRoutesOptions extends JsonRouteDeps {
  /** The signed-in user's id for a request, or null when signed out. */
  getUserId(request: Request): Promise<string | null | undefined> | string | null | undefined;
  /** Mount point (e.g. `/api/realtime`): paths must match exactly below it. Without it the last segments decide. */
  basePath?: string | undefined;
}

/** One handler for every route (SSE, token, tasks, cancel, publish). */
export function fetchRoutes(edge: HeraldCore, options: FetchRoutesOptions): RouteHandler {
  const base = options.basePath === undefined ? null : pathSegments(options.basePath);
  return async (request) => {
    try {
      const url = new URL(request.url);
      let segments = pathSegments(url.pathname);
      if (base) {
        const under = base.every((part, i) => segments[i] === part);
        segments = under ? segments.slice(base.length) : ["\u0000"];
      }
      const route = matchRoute(request.method, segments, base !== null);
      if (route.kind === "sse") return await handleSseFetch(edge, request);
      if (route.kind === "stream") {
        const incoming = { url, rawUrl: request.url, header: (name: string) => request.headers.get(name) };
        const ip = fetchClientIp(edge, request);
        const { method, signal } = request;
        const write = { publisher: options.publisher, body: (limit: number) => readFetchBody(request, limit) };
        return durableResponse(
          await serveDurable(edge, { ...incoming, ...write, ip, method, signal, channel: route.channel }),
        );
      }
      if (route.kind === "poll" || route.kind === "history") {
        const incoming = { url, rawUrl: request.url, header: (name: string) => request.headers.get(name) };
        const ip = fetchClientIp(edge, request);
        if (route.kind === "history") return toResponse(await serveHistory(edge, { ...incoming, ip }));
        return toResponse(await servePoll(edge, { ...incoming, ip, signal: request.signal }));
      }
      const reply = await serveJson(
        route,
        {
          url,
          header: (name) => request.headers.get(name),
          ip: fetchClientIp(edge, request),
          userId: async () => (await options.getUserId(request)) ?? null,
          body: (limit) => readFetchBody(request, limit),
        },
        { ...options, core: edge },
      );
      return toResponse(reply);
    } catch (error) {
      return errorResponse(error);
    }
  };
}

/** A `SessionRequest` view of a Fetch request, for the app's session lookup. */
export function sessionOfFetch(request: Request): SessionRequest {
  return { url: new URL(request.url), header: (name) => request.headers.get(name) };
}

/** Reads a Fetch request body as text, refusing more than `limit` bytes (413) without buffering it all. */
async function readFetchBody(request: Request, limit: number): Promise<string> {
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

/** A Durable Streams answer as a `Response`: whole, empty, or streamed (SSE; cancelling ends the generator). */
function durableResponse(reply: DurableReply): Response {
  const encoder = new TextEncoder();
  const iterator = reply.stream?.[Symbol.asyncIterator]();
  const body = iterator
    ? new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { value, done } = await iterator.next();
          if (done) controller.close();
          else controller.enqueue(encoder.encode(value));
        },
        async cancel() {
          await iterator.return?.();
        },
      })
    : (reply.body ?? null);
  return new Response(body, { status: reply.status, headers: reply.headers });
}

function toResponse(reply: JsonReply): Response {
  const body = reply.status === 304 ? null : reply.body;
  return new Response(body, { status: reply.status, headers: reply.headers });
}
