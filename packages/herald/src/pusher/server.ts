/**
 * `createPusherServer`: the Pusher Channels protocol (WebSocket at `/app/{key}`) and HTTP API
 * (`/apps/{id}/…`) on a Herald instance's bus, to attach to any `node:http` server.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import type { Herald } from "../server/herald.js";
import { DEFAULT_MAX_CLIENT_DEPTH } from "../server/core/publish.js";
import { ConnectionTracker } from "../server/core/telemetry.js";
import { admitUpgrade, refuseUpgrade, type SocketAdmission } from "./admission.js";
import { Fanout } from "./fanout.js";
import { handleApiRequest } from "./http-api.js";
import type { PresenceStore } from "./presence.js";
import { Buffer } from "node:buffer";
import { CODES, errorFrame, frame } from "./protocol.js";
import { ReplayGuard } from "./signature.js";
import { PusherSocket, type SocketContext } from "./socket.js";
import { Webhooks, type WebhookOptions } from "./webhooks.js";

/** Options of {@link createPusherServer}. */
export interface PusherServerOptions {
  /** The Herald instance whose broker carries the events (one bus for SSE and WebSocket). */
  herald: Herald;
  /** The app id of the HTTP API paths (`/apps/{appId}/…`). */
  appId: string;
  /** The app key clients connect with (`/app/{key}`) and the HTTP API signs with. */
  key: string;
  /** The app secret: signs channel auth, sign-in, HTTP API requests and webhooks. */
  secret: string;
  /** Webhooks, POSTed and signed the way Pusher does. */
  webhooks?: WebhookOptions;
  /** `activity_timeout` told to clients, in seconds (default 120; pusher-js pings after this much silence). */
  activityTimeout?: number;
  /** How long the server waits for `pusher:pong` after its own `pusher:ping`, in ms (default 30,000; then close 4201). */
  pongTimeoutMs?: number;
  /**
   * Most concurrent connections on this server; more are refused with 4100 (default 100,000). Per
   * address and per user, the Herald instance's `limits` apply (`maxConnectionsPerIp`,
   * `maxConnectionsPerUser`, `connectPerIp`, `connectPerUser`), counted together with its SSE and
   * poll connections.
   */
  maxConnections?: number;
  /** Channels one connection may subscribe to (default: the Herald instance's `maxChannelsPerConnection`, 32). */
  maxChannelsPerConnection?: number;
  /**
   * Messages a connection may send (pings, subscriptions, client events): a burst, then a rate per
   * second (default 100, then 20/s). Past it the connection is closed with 4100.
   */
  messageRate?: { capacity: number; refillPerSecond: number };
  /** Deepest JSON nesting of a client event's `data` (default 16, as `POST …/publish`). */
  maxClientEventDepth?: number;
  /**
   * How long a connection the server closed (slow consumer, too many messages, shutdown) may take
   * to finish the closing handshake before its socket is destroyed, in ms (default 5,000).
   */
  closeGraceMs?: number;
  /**
   * Signed HTTP API requests: how far `auth_timestamp` may be from the server's clock, in seconds
   * (default 60; Pusher allows 600).
   */
  apiMaxSkewSeconds?: number;
  /** Accept client events (`client-*`) on private and presence channels (default true). */
  clientEvents?: boolean;
  /** Client events per second per connection (default 10, as Pusher); over it: `pusher:error` 4301. */
  clientEventsPerSecond?: number;
  /** Largest event `data`, in bytes (default 10,240, as Pusher; over it the HTTP API answers 413). */
  maxEventBytes?: number;
  /** Members per presence channel (default 100, as Pusher). */
  maxPresenceMembers?: number;
  /** Largest presence `user_info`, in bytes (default 1,024, as Pusher). */
  maxUserInfoBytes?: number;
  /** How long a cache channel's last event is kept, in ms (default 30 minutes, as Pusher). */
  cacheTtlMs?: number;
  /** Unsent bytes allowed per connection before it is closed with 4100 (default 1 MiB). */
  maxBufferedBytes?: number;
  /**
   * Public-looking channel names that Pusher clients may not subscribe to, because Herald guards
   * them with its own rules (default: `user-*` and `task-*`, a user's and a task's channels). A
   * signed-in pusher-js user gets their `user-{id}` events on `#server-to-user-{id}`.
   */
  isReserved?: (channel: string) => boolean;
  /**
   * Answer Herald's `herald:resume` (default true): Herald's client then catches up over the socket
   * after a reconnect. `false` makes the server look exactly like Pusher's (the client then catches
   * up through the poll route).
   */
  resumeOverSocket?: boolean;
  /** The presence registry (default: the Herald instance's, shared with its SSE streams; in memory, or Redis's with `redis`). */
  presence?: PresenceStore;
  /** Clock, injectable for tests. */
  now?: () => number;
}

/** What {@link createPusherServer} returns. */
export interface PusherServer {
  /** Takes an HTTP upgrade for `/app/{key}` and returns true; returns false for other paths. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Serves the HTTP API (`/apps/{id}/…`) and returns true; returns false for other paths. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** Live connections on this process. */
  connectionCount(): number;
  /**
   * Closes every connection with 4200 (clients reconnect at once, to another process when there is
   * one), sends pending webhooks and releases the broker subscriptions. Does not close `herald`.
   */
  close(): Promise<void>;
}

/**
 * Serves the Pusher protocol for `herald`:
 *
 * @example
 * ```ts
 * const herald = createHerald();
 * const pusher = createPusherServer({ herald, appId: "app-id", key: "app-key", secret: "app-secret" });
 * const server = http.createServer((req, res) => {
 *   if (!pusher.handleRequest(req, res)) res.writeHead(404).end();
 * });
 * server.on("upgrade", (req, socket, head) => {
 *   if (!pusher.handleUpgrade(req, socket, head)) socket.destroy();
 * });
 * ```
 */
export function createPusherServer(options: PusherServerOptions): PusherServer {
  const now = options.now ?? Date.now;
  const activityTimeoutS = options.activityTimeout ?? 120;
  const pongTimeoutMs = options.pongTimeoutMs ?? 30_000;
  const maxConnections = options.maxConnections ?? 100_000;
  const maxEventBytes = options.maxEventBytes ?? 10_240;
  const apiMaxSkewS = options.apiMaxSkewSeconds ?? 60;
  const replays = new ReplayGuard(apiMaxSkewS);
  const fanout = new Fanout(
    options.herald,
    options.herald.broker,
    options.herald.core.hub,
    options.cacheTtlMs ?? 30 * 60_000,
    now,
  );
  // One store with the instance: SSE and WebSocket members of a room are counted together.
  const presence = options.presence ?? options.herald.core.presenceStore();
  const webhooks = options.webhooks ? new Webhooks(options.webhooks, options.key, options.secret) : undefined;
  const sockets = new Set<PusherSocket>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 256 * 1024, clientTracking: false });
  let closing = false;
  let timer: ReturnType<typeof setInterval> | undefined;

  const ctx: SocketContext = {
    herald: options.herald,
    key: options.key,
    secret: options.secret,
    fanout,
    presence,
    webhooks,
    clientEvents: options.clientEvents ?? true,
    clientEventsPerSecond: options.clientEventsPerSecond ?? 10,
    maxEventBytes,
    maxPresenceMembers: options.maxPresenceMembers ?? 100,
    maxUserInfoBytes: options.maxUserInfoBytes ?? 1024,
    maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
    maxChannels: options.maxChannelsPerConnection ?? options.herald.core.options.maxChannelsPerConnection,
    messageRate: options.messageRate ?? { capacity: 100, refillPerSecond: 20 },
    maxDepth: options.maxClientEventDepth ?? DEFAULT_MAX_CLIENT_DEPTH,
    closeGraceMs: options.closeGraceMs ?? 5000,
    resumeOverSocket: options.resumeOverSocket ?? true,
    isReserved: options.isReserved ?? ((channel) => /^(user|task)-/.test(channel)),
    now,
    counters: { dropped: 0 },
    onClosed: (socket, reason) => {
      sockets.delete(socket);
      connections.close(socket, reason, socket.channelCount());
      if (sockets.size === 0 && timer !== undefined) {
        clearInterval(timer);
        timer = undefined;
      }
    },
  };

  /** One shared timer: pings quiet clients, closes those that do not answer, sweeps metadata. */
  const tick = (): void => {
    const t = now();
    for (const socket of sockets) {
      if (socket.pingSentAt !== undefined) {
        if (t - socket.pingSentAt > pongTimeoutMs)
          socket.close(CODES.pongNotReceived, "Pong reply not received", "heartbeat_timeout");
      } else if (t - socket.lastSeen >= socket.quietMs) {
        socket.pingSentAt = t;
        socket.send('{"event":"pusher:ping","data":"{}"}');
      }
    }
    fanout.sweep();
  };
  const unregister = options.herald.core.registerTransport("websocket", () => {
    let subscriptions = 0;
    // Presence members held here: one per user per channel, however many of their connections.
    const members = new Set<string>();
    for (const socket of sockets) {
      subscriptions += socket.channelCount();
      for (const [channel, userId] of socket.presence()) members.add(`${channel}\n${userId}`);
    }
    return {
      connections: sockets.size,
      subscriptions,
      delivered: fanout.deliveredCount(),
      dropped: ctx.counters.dropped,
      presenceMembers: members.size,
      subscriptionsByNamespace: fanout.subscriptionsByNamespace(),
    };
  });

  // Presence transitions, from this process or any other sharing the store: once each.
  const unwatch = presence.watch((change) => {
    const data =
      change.type === "member_added"
        ? { user_id: change.member.user_id, user_info: change.member.user_info }
        : { user_id: change.member.user_id };
    const bytes = Buffer.from(frame(`pusher_internal:${change.type}`, data, change.channel));
    for (const target of fanout.targets(change.channel)) {
      if (target.socketId !== change.socketId) target.sendPresence(change.channel, bytes);
    }
    if (change.local) webhooks?.emit({ name: change.type, channel: change.channel, user_id: change.member.user_id });
  });

  // Herald's own client asks for pings every heartbeat (it watches for silence), others get
  // Pusher's `activity_timeout`.
  const heartbeatMs = options.herald.core.hub.heartbeatMs;
  const tickMs = Math.max(50, Math.min(5000, (activityTimeoutS * 1000) / 4, pongTimeoutMs / 2, heartbeatMs / 2));

  const refuse = (ws: import("ws").WebSocket, code: number, message: string): void => {
    ws.send(errorFrame(code, message));
    ws.close(code, message);
    const timer = setTimeout(() => ws.terminate(), ctx.closeGraceMs);
    timer.unref?.();
    ws.once("close", () => clearTimeout(timer));
  };

  const connections = new ConnectionTracker<PusherSocket>(options.herald.core.telemetry, "websocket");
  const accept = (ws: import("ws").WebSocket, admission: SocketAdmission, heraldClient: boolean): void => {
    const pusherSocket = new PusherSocket(ws, ctx, admission);
    sockets.add(pusherSocket);
    connections.open(pusherSocket, 0);
    if (timer === undefined) {
      timer = setInterval(tick, tickMs);
      timer.unref?.();
    }
    pusherSocket.established(activityTimeoutS, heraldClient ? heartbeatMs : undefined);
  };

  return {
    handleUpgrade(req, socket, head) {
      const url = new URL(req.url ?? "/", "http://herald.invalid");
      const match = /^\/app\/([^/]+)\/?$/.exec(url.pathname);
      if (!match) return false;
      // Herald's admission first (origin, attempt rates, connection slots): a refusal is an HTTP
      // answer, before the upgrade costs anything.
      admitUpgrade(options.herald, req).then(
        (admission) => {
          if (socket.destroyed) return admission.release();
          wss.handleUpgrade(req, socket, head, (ws) => {
            // Pusher accepts the upgrade and reports problems on the socket (pusher-websockets-protocol, "Connection").
            const refuseWith = (code: number, message: string): void => {
              admission.release();
              refuse(ws, code, message);
            };
            if (closing) return refuseWith(CODES.reconnect, "Server is shutting down");
            if (safeDecode(match[1]!) !== options.key) return refuseWith(CODES.appNotFound, "App key not in this app");
            const protocol = url.searchParams.get("protocol");
            if (protocol === null) return refuseWith(CODES.noProtocol, "No protocol version supplied");
            const version = Number(protocol);
            if (!(version >= 5 && version <= 7))
              return refuseWith(CODES.unsupportedProtocol, "Unsupported protocol version");
            if (sockets.size >= maxConnections) return refuseWith(CODES.overCapacity, "Over capacity");
            accept(ws, admission, url.searchParams.get("client") === "herald-js");
          });
        },
        (error: unknown) => {
          options.herald.core.refused("websocket", error);
          refuseUpgrade(socket, error);
        },
      );
      return true;
    },

    handleRequest(req, res) {
      return handleApiRequest(
        {
          appId: options.appId,
          key: options.key,
          secret: options.secret,
          fanout,
          presence,
          maxEventBytes,
          maxSkewS: apiMaxSkewS,
          replays,
          now,
          heraldSubscribers: (channel) => options.herald.subscriberCount(channel),
          terminateUser: (userId) => {
            let n = 0;
            for (const socket of [...sockets]) {
              if (socket.userId === userId) {
                socket.close(CODES.unauthorized, "Connection terminated by the app", "terminated");
                n++;
              }
            }
            return n;
          },
        },
        req,
        res,
      );
    },
    connectionCount: () => sockets.size,
    async close() {
      closing = true;
      unwatch();
      unregister();
      for (const socket of [...sockets]) socket.close(CODES.reconnect, "Server is shutting down", "server_closing");
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await webhooks?.close();
      fanout.close();
      wss.close();
    },
  };
}

function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}
