/**
 * The Node adapter of the HTTP edge (`IncomingMessage, ServerResponse`): the fast path for custom
 * and standalone servers. SSE goes to `handleSseNode`; the JSON routes to the shared router.
 */
import { Buffer } from "node:buffer";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HeraldError } from "../../protocol/errors.js";
import type { HeraldCore } from "./edge.js";
import { errorParts } from "./responses.js";
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
import { handleSseNode, headerOf, nodeClientIp } from "./sse-node.js";

/** Serves a request it owns and returns true; returns false (and does nothing) otherwise. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** What the Node adapter needs besides the edge. */
export interface NodeRoutesOptions extends JsonRouteDeps {
  /** The signed-in user's id for a request, or null when signed out. */
  getUserId(req: IncomingMessage): Promise<string | null | undefined> | string | null | undefined;
  /** Where the routes live (default `/api/realtime`); requests elsewhere are not taken. */
  basePath?: string | undefined;
}

const BASE = "http://herald.invalid";

/** Owns every path under `basePath` (unknown ones get a JSON 404); returns false for the rest. */
export function nodeRoutes(edge: HeraldCore, options: NodeRoutesOptions): NodeHandler {
  const base = pathSegments(options.basePath ?? "/api/realtime");
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
      handleSseNode(edge, req, res).catch((error: unknown) => send(res, errorParts(error)));
      return true;
    }
    if (route.kind === "stream") {
      const gone = new AbortController();
      res.once("close", () => gone.abort());
      const incoming = { url, rawUrl: req.url ?? "/", header: (name: string) => headerOf(req, name) };
      const request = { ...incoming, ip: nodeClientIp(edge, req), method: req.method ?? "GET", signal: gone.signal };
      const write = { publisher: options.publisher, body: (limit: number) => readNodeBody(req, limit) };
      serveDurable(edge, { ...request, ...write, channel: route.channel }).then(
        (reply) => sendDurable(res, reply),
        (error: unknown) => send(res, errorParts(error)),
      );
      return true;
    }
    if (route.kind === "history") {
      const incoming = { url, rawUrl: req.url ?? "/", header: (name: string) => headerOf(req, name) };
      serveHistory(edge, { ...incoming, ip: nodeClientIp(edge, req) }).then(
        (reply) => send(res, reply),
        (error: unknown) => send(res, errorParts(error)),
      );
      return true;
    }
    if (route.kind === "poll") {
      // A flag, not an AbortController (its signal is an EventTarget: measurable on every poll), set
      // only when the client left before its answer: the hub reads it on its poll timer.
      const gone = { aborted: false };
      res.once("close", () => {
        if (!res.writableFinished) gone.aborted = true;
      });
      const incoming = { url, rawUrl: req.url ?? "/", header: (name: string) => headerOf(req, name) };
      servePoll(edge, { ...incoming, ip: nodeClientIp(edge, req), signal: gone }).then(
        (reply) => send(res, reply),
        (error: unknown) => send(res, errorParts(error)),
      );
      return true;
    }
    serveJson(
      route,
      {
        url,
        header: (name) => headerOf(req, name),
        ip: nodeClientIp(edge, req),
        userId: async () => (await options.getUserId(req)) ?? null,
        body: (limit) => readNodeBody(req, limit),
      },
      { ...options, core: edge },
    ).then(
      (reply) => send(res, reply),
      (error: unknown) => send(res, errorParts(error)),
    );
    return true;
  };
}

/** A `SessionRequest` view of a Node request, for the app's session lookup. */
export function sessionOfNode(req: IncomingMessage): SessionRequest {
  return { url: new URL(req.url ?? "/", BASE), header: (name) => headerOf(req, name) };
}

/** Writes a JSON reply unless the response is already over. */
export function send(res: ServerResponse, reply: JsonReply): void {
  if (res.writableEnded || res.destroyed) return;
  if (!res.headersSent) res.writeHead(reply.status, reply.headers);
  res.end(reply.body);
}

/** Writes a Durable Streams answer: whole, empty, or streamed (SSE) until it ends or the client leaves. */
async function sendDurable(res: ServerResponse, reply: DurableReply): Promise<void> {
  if (!reply.stream) return send(res, { status: reply.status, headers: reply.headers, body: reply.body ?? "" });
  res.writeHead(reply.status, reply.headers);
  res.flushHeaders();
  try {
    for await (const chunk of reply.stream) {
      if (res.destroyed) break;
      res.write(chunk);
    }
  } finally {
    res.end();
  }
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
