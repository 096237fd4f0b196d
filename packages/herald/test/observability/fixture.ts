/**
 * Test fixture for the observability tests: one Herald with sessions (the `x-user` header is the
 * session), metrics in a real prom-client registry, a real pino logger writing JSON lines into an
 * array, and the Pusher server, all on one real `node:http` server on port 0. Plus small real
 * clients: an SSE reader over fetch, a raw Pusher WebSocket, and a scrape parser.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Writable } from "node:stream";
import pino from "pino";
import { Registry } from "prom-client";
import { createHerald, type Herald, type HeraldOptions } from "../../src/server/index.js";
import { createPusherServer, type PusherServer, type PusherServerOptions } from "../../src/pusher/index.js";
import { waitFor } from "../helpers.js";

export const APP = { appId: "app-id", key: "app-key", secret: "app-secret" };

/** One running scenario server. */
export interface ObservedServer {
  herald: Herald;
  pusher: PusherServer;
  registry: Registry;
  /** Every log line written so far, parsed. */
  logs: Record<string, unknown>[];
  /** The raw log text (to check nothing secret is in it). */
  logText(): string;
  port: number;
  base: string;
  close(): Promise<void>;
}

/** Starts a Herald (with `options` on top of the scenario's, and its Pusher server with `pusherOptions`) behind a real HTTP server. */
export async function startObserved(
  options: HeraldOptions = {},
  pusherOptions: Partial<PusherServerOptions> = {},
): Promise<ObservedServer> {
  const registry = new Registry();
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      done();
    },
  });
  const logger = pino({ level: "debug" }, sink);
  const herald = createHerald({
    getUserId: (request) => request.header("x-user"),
    metrics: { registry },
    logger,
    ...options,
  });
  const pusher = createPusherServer({ herald, ...APP, ...pusherOptions });
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    if (herald.handleNodeRoutes(req, res)) return;
    if (pusher.handleRequest(req, res)) return;
    res.writeHead(404).end();
  });
  server.on("upgrade", (req, socket: Socket, head) => {
    if (!pusher.handleUpgrade(req, socket, head)) socket.destroy();
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    herald,
    pusher,
    registry,
    get logs() {
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    logText: () => lines.join("\n"),
    port,
    base: `http://127.0.0.1:${port}/api/realtime`,
    async close() {
      await pusher.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await herald.close();
    },
  };
}

/** An SSE stream read in the background over fetch. */
export class SseReader {
  text = "";
  status = 0;
  readonly done: Promise<void>;
  private readonly controller = new AbortController();

  constructor(url: string) {
    this.done = (async () => {
      try {
        const res = await fetch(url, { signal: this.controller.signal });
        this.status = res.status;
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          this.text += decoder.decode(chunk, { stream: true });
        }
      } catch {
        /* aborted */
      }
    })();
  }

  /** Waits until the stream's text satisfies `predicate`. */
  until(predicate: (text: string) => boolean, what: string): Promise<void> {
    return waitFor(() => predicate(this.text), 20_000, what);
  }

  /** Closes the stream from the client's side (a cut). */
  close(): Promise<void> {
    this.controller.abort();
    return this.done;
  }
}

/** One sample of a scrape: the metric's name with its labels, as written (`name{a="b"}`), and its value. */
export type Scrape = Map<string, number>;

/** Scrapes `url` and returns its samples (`name{labels}` → value; labels as prom-client writes them). */
export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await fetch(url, { headers });
  if (res.status !== 200) throw new Error(`scrape answered ${res.status}: ${await res.text()}`);
  return parseScrape(await res.text());
}

/** Parses Prometheus exposition text into samples. */
export function parseScrape(text: string): Scrape {
  const samples: Scrape = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** The metric names a scrape declares (`# TYPE name kind`). */
export function declaredNames(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
}
