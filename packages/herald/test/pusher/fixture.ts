/**
 * Test fixture: a Herald instance with the Pusher server on a real `node:http` server (port 0),
 * a small auth endpoint that signs with the `pusher` SDK (as an app would), pusher-js clients
 * (its Node build, as it is) and the SDK pointed at Herald.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import Pusher from "pusher";
import { PusherJs } from "./pusher-js.js";
import { createHerald, type Herald, type HeraldOptions } from "../../src/server/index.js";
import { createPusherServer, type PusherServer, type PusherServerOptions } from "../../src/pusher/index.js";

export const APP = { appId: "app-id", key: "app-key", secret: "app-secret" };

/** One running server. */
export interface PusherFixture {
  herald: Herald;
  pusher: PusherServer;
  port: number;
  url: string;
  /** The server SDK, pointed at Herald. */
  sdk: Pusher;
  /** A pusher-js client; `params` travel to the auth endpoint (`user_id`, `mode`). */
  client(params?: Record<string, string>, extra?: Record<string, unknown>): PusherJs;
  /** Destroys every TCP connection (a network cut). */
  cutAll(): void;
  close(): Promise<void>;
}

/** Per-file registry so `afterEach` can close everything. */
export const open: { close(): Promise<void> }[] = [];

export async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((o) => o.close()));
}

export function sdkFor(port: number, overrides: Partial<{ key: string; secret: string; appId: string }> = {}): Pusher {
  return new Pusher({ ...APP, ...overrides, host: "127.0.0.1", port: String(port), useTLS: false });
}

/** Reads a form body (pusher-js posts `socket_id=…&channel_name=…&…`). */
function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => resolve(new URLSearchParams(body)));
  });
}

/**
 * The app's auth endpoint. `mode=wrong-secret` signs with another secret; `mode=other-socket`
 * signs for a socket id that is not the caller's; `user_id` is the presence/sign-in user.
 */
export async function auth(sdk: Pusher, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const form = await readForm(req);
  const mode = form.get("mode");
  const signer = mode === "wrong-secret" ? new Pusher({ ...APP, secret: "not-the-secret", host: "127.0.0.1" }) : sdk;
  const socketId = mode === "other-socket" ? "1234.5678" : form.get("socket_id")!;
  const userId = form.get("user_id") ?? "anon";
  let body: unknown;
  if (req.url === "/signin") {
    body = signer.authenticateUser(socketId, { id: userId, user_info: { name: `User ${userId}` } });
  } else {
    const channel = form.get("channel_name")!;
    body = channel.startsWith("presence-")
      ? signer.authorizeChannel(socketId, channel, { user_id: userId, user_info: { name: `User ${userId}` } })
      : signer.authorizeChannel(socketId, channel);
  }
  res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));
}

export async function startPusher(
  options: Partial<PusherServerOptions> = {},
  heraldOptions: HeraldOptions = {},
  existing?: Herald,
): Promise<PusherFixture> {
  const herald = existing ?? createHerald({ limits: { connectPerIp: false }, ...heraldOptions });
  const pusher = createPusherServer({ herald, ...APP, ...options });
  const ref: { sdk?: Pusher } = {};
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    if (req.url === "/auth" || req.url === "/signin") return void auth(ref.sdk!, req, res);
    if (req.url?.startsWith("/sse")) return void herald.handleNode(req, res);
    if (!pusher.handleRequest(req, res)) res.writeHead(404).end();
  });
  server.on("upgrade", (req, socket: Socket, head) => {
    if (!pusher.handleUpgrade(req, socket, head)) socket.destroy();
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const sdk = (ref.sdk = sdkFor(port));
  const url = `http://127.0.0.1:${port}`;
  const clients: PusherJs[] = [];
  const fixture: PusherFixture = {
    herald,
    pusher,
    port,
    url,
    sdk,
    client(params = {}, extra = {}) {
      const c = pusherClient(port, url, params, extra);
      clients.push(c);
      return c;
    },
    cutAll() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const c of clients) c.disconnect();
      await pusher.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      if (!existing) await herald.close();
    },
  };
  open.push(fixture);
  return fixture;
}

/** The app's auth endpoints alone (`/auth`, `/signin`), signing with `sdk`, for a server elsewhere. */
export async function startAuthServer(sdk: Pusher): Promise<string> {
  const server = http.createServer((req, res) => void auth(sdk, req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  open.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A pusher-js client (Node build) on Herald; `url` serves the auth endpoints. */
export function pusherClient(
  port: number,
  url: string,
  params: Record<string, string> = {},
  extra: Record<string, unknown> = {},
): PusherJs {
  return new PusherJs(APP.key, {
    cluster: "herald",
    wsHost: "127.0.0.1",
    wsPort: port,
    forceTLS: false,
    enabledTransports: ["ws"],
    disableStats: true,
    channelAuthorization: { endpoint: `${url}/auth`, transport: "ajax", params },
    userAuthentication: { endpoint: `${url}/signin`, transport: "ajax", params },
    ...extra,
  });
}

/** Resolves when `client` is connected. */
export function connected(client: PusherJs): Promise<void> {
  return new Promise((resolve, reject) => {
    if (client.connection.state === "connected") return resolve();
    client.connection.bind("state_change", (s: { current: string }) => {
      if (s.current === "connected") resolve();
      if (s.current === "failed" || s.current === "unavailable") reject(new Error(`client ${s.current}`));
    });
  });
}

/** Subscribes and resolves on `pusher:subscription_succeeded` (rejects on the error). */
export function subscribed(client: PusherJs, name: string): Promise<ReturnType<PusherJs["subscribe"]>> {
  const channel = client.subscribe(name);
  return new Promise((resolve, reject) => {
    channel.bind("pusher:subscription_succeeded", () => resolve(channel));
    channel.bind("pusher:subscription_error", (e: unknown) =>
      reject(Object.assign(new Error(`subscription_error ${JSON.stringify(e)}`), { detail: e })),
    );
  });
}

/** Collects `event` on `channel`. */
export function collect(channel: ReturnType<PusherJs["subscribe"]>, event: string): unknown[] {
  const got: unknown[] = [];
  channel.bind(event, (data: unknown) => got.push(data));
  return got;
}

/** The first `event` (resolves with its data), or rejects after `ms`. */
export function next(channel: ReturnType<PusherJs["subscribe"]>, event: string, ms = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} on ${channel.name} within ${ms} ms`)), ms);
    const handler = (data: unknown) => {
      clearTimeout(timer);
      channel.unbind(event, handler);
      resolve(data);
    };
    channel.bind(event, handler);
  });
}

export { waitFor } from "../helpers.js";
