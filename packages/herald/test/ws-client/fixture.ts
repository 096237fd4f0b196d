/**
 * Test fixture: one `node:http` server (port 0) carrying a Herald instance's routes (the poll route
 * the WebSocket transport catches up through), the Pusher server on the same bus, and the app's
 * channel auth endpoint (signing with `herald/pusher`'s `authorizeChannel`). Herald clients on the
 * WebSocket transport, with the `ws` package's WebSocket (Node 20 has no global one).
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { WebSocket } from "ws";
import { createHerald, type Herald, type HeraldOptions } from "../../src/server/index.js";
import {
  authorizeChannel,
  createPusherServer,
  type PusherServer,
  type PusherServerOptions,
} from "../../src/pusher/index.js";
import { createHeraldClient, type HeraldClientOptions } from "../../src/client/index.js";
import { createWebSocketEventSource, type WebSocketFactory, type WebSocketSourceOptions } from "../../src/client/ws.js";

export const APP = { appId: "app-id", key: "app-key", secret: "app-secret" };

export interface WsFixture {
  herald: Herald;
  pusher: PusherServer;
  origin: string;
  /** `ws://…/app/app-key`. */
  wsUrl: string;
  /** Server-side sockets of the WebSocket connections (to cut them). */
  wsSockets: Set<Socket>;
  /** WebSocket connections accepted so far. */
  upgrades: number;
  /** Poll requests received so far. */
  polls: number;
  /** A Herald client on the WebSocket transport; `user` is its presence user, `mode` the auth endpoint's mode. */
  client(
    opts?: { user?: string; mode?: string; source?: Partial<WebSocketSourceOptions> } & Partial<HeraldClientOptions>,
  ): ReturnType<typeof createHeraldClient>;
  close(): Promise<void>;
}

function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => resolve(new URLSearchParams(body)));
  });
}

/** The app's auth endpoint: `mode=wrong-secret` signs with another secret. */
async function auth(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const form = await readForm(req);
  const secret = form.get("mode") === "wrong-secret" ? "not-the-secret" : APP.secret;
  const channel = form.get("channel_name")!;
  const user = form.get("user_id") ?? "anon";
  const body = authorizeChannel(
    { key: APP.key, secret },
    form.get("socket_id")!,
    channel,
    channel.startsWith("presence-") ? { user_id: user, user_info: { name: `User ${user}` } } : undefined,
  );
  res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));
}

export async function startWs(
  heraldOptions: HeraldOptions = {},
  pusherOptions: Partial<PusherServerOptions> = {},
): Promise<WsFixture> {
  const herald = createHerald({ limits: { connectPerIp: false }, ...heraldOptions });
  const pusher = createPusherServer({ herald, ...APP, ...pusherOptions });
  const sockets = new Set<Socket>();
  const clients: { close(): void }[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === "/auth") return void auth(req, res);
    if (req.url?.startsWith("/api/realtime/poll")) fixture.polls++;
    if (herald.handleNodeRoutes(req, res)) return;
    if (!pusher.handleRequest(req, res)) res.writeHead(404).end();
  });
  server.on("upgrade", (req, socket: Socket, head) => {
    if (!pusher.handleUpgrade(req, socket, head)) return void socket.destroy();
    fixture.upgrades++;
    fixture.wsSockets.add(socket);
    socket.on("close", () => fixture.wsSockets.delete(socket));
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  const fixture: WsFixture = {
    herald,
    pusher,
    origin,
    wsUrl: `ws://127.0.0.1:${port}/app/${APP.key}`,
    wsSockets: new Set(),
    upgrades: 0,
    polls: 0,
    client({ user, mode, source, ...options } = {}) {
      const authParams: Record<string, string> = {};
      if (user) authParams.user_id = user;
      if (mode) authParams.mode = mode;
      const client = createHeraldClient({
        url: `${origin}/api/realtime/sse`,
        transport: "ws",
        ws: createWebSocketEventSource({
          url: fixture.wsUrl,
          authEndpoint: `${origin}/auth`,
          authParams,
          WebSocket: WebSocket as unknown as WebSocketFactory,
          ...source,
        }),
        backoff: { baseMs: 5, capMs: 40 },
        onlineTarget: null,
        visibilityTarget: null,
        ...options,
      });
      clients.push(client);
      return client;
    },
    async close() {
      for (const c of clients.splice(0)) c.close();
      await pusher.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await herald.close();
    },
  };
  return fixture;
}

/** Polls `predicate` until it is true (or throws after `timeoutMs`). */
export async function waitFor(predicate: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export { prng } from "../helpers.js";
