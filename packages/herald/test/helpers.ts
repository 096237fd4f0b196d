/** Test helpers: real servers on port 0 and small waiting utilities. */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { Herald } from "../src/server/index.js";

export interface TestServer {
  url: string;
  server: http.Server;
  sockets: Set<Socket>;
  /** Destroys every open connection (a network cut, from the server side). */
  cutAll(): void;
  close(): Promise<void>;
}

/** Serves `herald` on the Node fast path, or on the Fetch handler (bridged onto node:http) when `fetch` is true. */
export async function startServer(herald: Herald, opts: { fetch?: boolean } = {}): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    if (opts.fetch) void bridgeFetch(herald, req, res);
    else void herald.handleNode(req, res);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    server,
    sockets,
    cutAll: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Runs the Fetch handler behind node:http, the way Next.js does: pipes the Response body to `res`. */
async function bridgeFetch(herald: Herald, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const controller = new AbortController();
  res.on("close", () => controller.abort());
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
  const response = await herald.handleRequest(
    new Request(`http://${req.headers.host}${req.url}`, { headers, signal: controller.signal }),
  );
  await pipeResponse(res, response);
}

/** Writes a Fetch `Response` onto `res`, streaming its body until it ends or the client leaves. */
export async function pipeResponse(res: http.ServerResponse, response: Response): Promise<void> {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (!response.body) return void res.end(await response.text());
  const reader = response.body.getReader();
  res.on("close", () => void reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      res.write(value);
    }
  } catch {
    /* stream errored: connection is gone */
  }
  res.end();
}

/**
 * Listens on 127.0.0.1, port 0, keeping track of the open sockets: `close()` destroys them (open
 * streams included) and closes the server.
 */
export async function listenTracked(server: http.Server): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Polls `predicate` until it is true (or throws after `timeoutMs`). */
export async function waitFor(predicate: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Reads an SSE response body as text until `until(text)` or timeout. */
export async function readUntil(body: ReadableStream<Uint8Array>, until: (text: string) => boolean, timeoutMs = 5000) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const end = Date.now() + timeoutMs;
  while (!until(text)) {
    if (Date.now() > end) throw new Error(`timed out; got: ${text.slice(0, 500)}`);
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return { text, reader };
}

/** Opens one SSE request on `herald`'s Fetch handler and returns its events up to `herald:connected`. */
export async function openUntilConnected(herald: Herald, query: string): Promise<EventSourceMessage[]> {
  const res = await herald.handleRequest(new Request(`http://x/?${query}`));
  const { text, reader } = await readUntil(res.body!, (t) => t.includes("herald:connected"));
  await reader.cancel();
  const events: EventSourceMessage[] = [];
  createParser({ onEvent: (e) => events.push(e) }).feed(text);
  return events;
}

/** Deterministic PRNG (mulberry32) so a failing randomized run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A `node:http` server (listening on port 0) serving `herald`'s routes on the Node path, or through
 * `herald.routes.GET` as a Fetch handler (the response buffered), for tests of both paths.
 */
export async function routesServer(herald: Herald, path: "node" | "fetch"): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (path === "node") {
      if (!herald.handleNodeRoutes(req, res)) res.writeHead(404).end();
      return;
    }
    const controller = new AbortController();
    res.on("close", () => controller.abort());
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
    void herald.routes
      .GET(new Request(`http://${req.headers.host}${req.url}`, { headers, signal: controller.signal }))
      .then(async (response) => {
        res.writeHead(response.status, Object.fromEntries(response.headers));
        res.end(response.body ? Buffer.from(await response.arrayBuffer()) : undefined);
      });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

/**
 * Serves every route of `herald` (`herald.handleNodeRoutes`, under `/api/realtime`) on a real
 * server, on `port` (default: any free one). `cut()` destroys every open connection (a network cut); `close()` closes the
 * server and the Herald.
 */
export async function startRoutes(
  herald: Herald,
  port = 0,
): Promise<{ origin: string; base: string; cut(): void; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (!herald.handleNodeRoutes(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    base: `${origin}/api/realtime`,
    cut: () => server.closeAllConnections(),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await herald.close();
    },
  };
}
