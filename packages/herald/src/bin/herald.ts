#!/usr/bin/env node
/**
 * `herald serve`: the standalone server. A Pusher-compatible WebSocket at `/app/{key}`, the Pusher
 * HTTP API at `/apps/{id}/…`, Herald's SSE at `/sse` (and `POST /channels`, which changes an open
 * stream's channels), liveness at `/healthz`, readiness at
 * `/readyz` and Prometheus metrics at `/metrics` (when prom-client is installed; optionally on their
 * own port and behind a bearer token), on one port. It logs JSON lines on stdout.
 *
 * Environment: HERALD_APP_ID, HERALD_APP_KEY, HERALD_APP_SECRET (defaults app-id, app-key,
 * app-secret: for a local try only), HERALD_REDIS_URL (scale out over Redis), HERALD_WEBHOOK_URL,
 * HERALD_CORS_ORIGINS (comma-separated origins, or `*`, allowed to open `/sse` from a browser).
 * It listens on loopback unless `--host` says otherwise, and refuses to start with the default
 * secret off loopback or with NODE_ENV=production (unless `--allow-default-credentials`). The server
 * has the library's Node hardening (`hardenServer`: header and request timeouts, header limits, a
 * cap on sockets per address that have not sent their request).
 */
import http from "node:http";
import type { Socket } from "node:net";
import process from "node:process";
import type { HeraldRedis } from "../redis/setup.js";
import { createRequire } from "node:module";
import { createHerald } from "../server/herald.js";
import {
  connectionTokenAuthenticator,
  connectionTokenAuthorize,
  MIN_SECRET_LENGTH,
  signConnectionToken,
} from "../server/auth/tokens/connection-token.js";
import type { TokenPrincipal } from "../server/auth/tokens/tokens.js";
import { checkReadiness, healthReply, metricsReply, readinessReply } from "../server/observability/health.js";
import { jsonLogger, parseLevel } from "../server/observability/json-logger.js";
import type { HeraldLogger } from "../server/observability/logger.js";
import { HARDENED_SERVER_OPTIONS, hardenServer } from "../server/http/harden.js";
import { credentialsProblem, DEFAULTS } from "./credentials.js";

const USAGE = `Usage: herald serve [--port 6001] [--host 127.0.0.1] [--allow-default-credentials]

Serves the Pusher Channels protocol (ws://host:port/app/{key}), its HTTP API (/apps/{id}/...),
Herald's SSE (/sse?channel=...; POST /channels changes an open stream's channels) and long-poll
(/poll?channel=...), /healthz, /readyz and /metrics (Prometheus, when prom-client is
installed). Listens on 127.0.0.1 unless --host says otherwise. Logs JSON lines on stdout.

With the default secret (app-secret, which anyone can read here) it refuses to start on a
non-loopback --host or with NODE_ENV=production: set HERALD_APP_SECRET (and HERALD_APP_KEY),
or pass --allow-default-credentials to accept the risk.

Environment:
  HERALD_APP_ID, HERALD_APP_KEY, HERALD_APP_SECRET   app credentials (default app-id, app-key, app-secret:
                                                      a local try only); the secret signs every auth
  HERALD_REDIS_URL                                    everything on Redis (bus, tokens, limits, presence):
                                                      several servers, one state; redis://, rediss:// (TLS)
  HERALD_PRESENCE_TTL_MS                              with Redis: how soon a dead server's presence members
                                                      are announced gone (default 30000)
  HERALD_WEBHOOK_URL                                  POST Pusher webhooks here
  HERALD_TOKEN_SECRET                                 with it (32+ characters), /sse and /poll also serve the
                                                      private, presence and user channels named by a connection
                                                      token your app signs (signConnectionToken); without, public only
  HERALD_CORS_ORIGINS                                 origins allowed to open /sse (comma-separated, or *)
  HERALD_DRAIN_MS                                     longest wait for connections on SIGTERM (default 10000)
  HERALD_LOG_LEVEL                                    debug, info (default), warn, error or silent
  HERALD_METRICS                                      off: no /metrics (default: on when prom-client is installed)
  HERALD_METRICS_PORT                                 serve /metrics, /healthz and /readyz on this port instead
                                                      (same --host)
  HERALD_METRICS_TOKEN                                /metrics asks for Authorization: Bearer <this>
  HERALD_METRICS_NAMESPACES                           on: label publishes, deliveries and subscriptions by
                                                      channel prefix (user-42 -> user; at most 50, then other)
`;

/** Parsed command line. */
interface Args {
  command: string | undefined;
  port: number;
  host: string;
  allowDefaultCredentials: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { command: undefined, port: 6001, host: "127.0.0.1", allowDefaultCredentials: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith("--")
      ? (arg.split("=", 2) as [string, string | undefined])
      : [arg, undefined];
    const value = () => inline ?? argv[++i];
    if (flag === "--port" || flag === "-p") args.port = Number(value());
    else if (flag === "--host") args.host = value() ?? args.host;
    else if (flag === "--allow-default-credentials") args.allowDefaultCredentials = true;
    else if (flag === "--help" || flag === "-h") args.command = "help";
    else if (args.command === undefined) args.command = arg;
    else throw new Error(`unknown argument: ${arg}`);
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) throw new Error("--port must be 0-65535");
  return args;
}

async function serve(args: Args): Promise<void> {
  const env = process.env;
  const appId = env.HERALD_APP_ID || DEFAULTS.appId;
  const key = env.HERALD_APP_KEY || DEFAULTS.key;
  const secret = env.HERALD_APP_SECRET || DEFAULTS.secret;
  const problem = credentialsProblem(secret, args.host, env.NODE_ENV === "production", args.allowDefaultCredentials);
  if (problem) throw new Error(problem);
  const log = jsonLogger(parseLevel(env.HERALD_LOG_LEVEL), undefined, { component: "herald serve" });
  if (secret === DEFAULTS.secret) {
    log.warn({}, "using the default credentials (app-key / app-secret): for a local try only");
  }
  let redis: HeraldRedis | undefined;
  if (env.HERALD_REDIS_URL) {
    const { heraldRedis } = await import("../redis/setup.js").catch((cause: unknown) => {
      throw new Error("HERALD_REDIS_URL needs the ioredis package: npm install ioredis", { cause });
    });
    const presenceTtlMs = Number(env.HERALD_PRESENCE_TTL_MS) || undefined;
    // Its errors and state changes are logged through the Herald's logger (sampled).
    redis = heraldRedis(env.HERALD_REDIS_URL, presenceTtlMs ? { presence: { ttlMs: presenceTtlMs } } : {});
  }
  const { createPusherServer } = await import("../pusher/server.js").catch((cause: unknown) => {
    throw new Error("herald serve needs the ws package: npm install ws (or npx -p herald -p ws herald serve)", {
      cause,
    });
  });
  const origins = env.HERALD_CORS_ORIGINS?.trim();
  // With a shared secret, the app's server signs connection tokens (signConnectionToken) and SSE
  // and poll serve the private, user and presence channels a token names; without one, SSE and
  // poll serve public channels only (private ones are for authorized Pusher connections).
  const tokenSecret = env.HERALD_TOKEN_SECRET || undefined;
  if (tokenSecret !== undefined && tokenSecret.length < MIN_SECRET_LENGTH) {
    throw new Error(`HERALD_TOKEN_SECRET must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  const herald = createHerald({
    redis,
    ...(tokenSecret
      ? {
          authenticate: connectionTokenAuthenticator(tokenSecret),
          authorize: (principal, channel) => connectionTokenAuthorize(principal as TokenPrincipal | null, channel),
        }
      : { authorize: (_principal, channel) => !/^(private-|presence-|user-|task-)/.test(channel) }),
    cors: origins ? { origins: origins === "*" ? "*" : origins.split(",").map((o) => o.trim()) } : undefined,
    logger: log,
    metrics: metricsWanted(env.HERALD_METRICS, log)
      ? {
          bearerToken: env.HERALD_METRICS_TOKEN || undefined,
          namespaceLabel: /^(1|on|true)$/i.test(env.HERALD_METRICS_NAMESPACES ?? ""),
        }
      : undefined,
  });
  if (tokenSecret) {
    // Each poll answer carries the token for the next poll: a fresh one with the same claims.
    herald.core.renewToken = (principal) => {
      const { userId, tokenChannels } = principal as TokenPrincipal;
      const channels = (tokenChannels ?? []).filter((c) => c !== `user-${userId}`);
      return Promise.resolve(signConnectionToken({ userId, channels }, tokenSecret));
    };
  }
  const metricsPort = env.HERALD_METRICS_PORT ? Number(env.HERALD_METRICS_PORT) : undefined;
  if (metricsPort !== undefined && !(Number.isInteger(metricsPort) && metricsPort >= 0 && metricsPort <= 65535)) {
    throw new Error("HERALD_METRICS_PORT must be 0-65535");
  }
  const pusher = createPusherServer({
    herald,
    appId,
    key,
    secret,
    webhooks: env.HERALD_WEBHOOK_URL ? { url: env.HERALD_WEBHOOK_URL } : undefined,
    presence: redis?.presence,
  });
  let draining = false;
  /** Serves /healthz, /readyz and /metrics; false for other paths. */
  const operations = (req: http.IncomingMessage, res: http.ServerResponse, path: string | undefined): boolean => {
    if (path === "/healthz") {
      res.writeHead(draining ? 503 : 200, { "Content-Type": "application/json", "Cache-Control": "no-store" });
      res.end(JSON.stringify({ ok: !draining, connections: pusher.connectionCount(), ...herald.stats() }));
      return true;
    }
    if (path === "/readyz") {
      void checkReadiness(herald.broker, draining || herald.draining).then((readiness) =>
        reply(res, readinessReply(readiness)),
      );
      return true;
    }
    if (path === "/metrics") {
      void metricsReply(herald.metrics, req.headers.authorization ?? null).then((r) => reply(res, r));
      return true;
    }
    return false;
  };
  const server = http.createServer(HARDENED_SERVER_OPTIONS, (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (metricsPort === undefined && operations(req, res, path)) return;
    if (metricsPort !== undefined && path === "/healthz") {
      reply(res, healthReply());
      return;
    }
    if (path === "/sse") {
      void herald.handleNode(req, res);
      return;
    }
    if (path === "/poll" || path === "/channels") {
      // Herald's routes serve polls and channel changes under their base path: the same request, addressed there.
      req.url = `/api/realtime${path}${req.url!.slice(path.length)}`;
      if (herald.handleNodeRoutes(req, res)) return;
    }
    if (pusher.handleRequest(req, res)) return;
    res.writeHead(404, { "Content-Type": "text/plain" }).end("Not found\n");
  });
  hardenServer(server);
  server.on("upgrade", (req, socket: Socket, head) => {
    if (!pusher.handleUpgrade(req, socket, head)) socket.destroy();
  });
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(args.port, args.host, resolve);
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : args.port;
  log.info(
    { appId, redis: redis !== undefined, metrics: herald.metrics !== undefined },
    `listening on http://${args.host}:${port} (app ${appId}, key ${key}${redis ? ", Redis" : ""})`,
  );
  const opsServer =
    metricsPort === undefined ? undefined : await serveOperations(operations, args.host, metricsPort, log);

  const drain = async (signal: string) => {
    if (draining) return;
    draining = true;
    log.info({ signal, connections: sockets.size }, `${signal}, draining ${sockets.size} connection(s)`);
    server.close();
    opsServer?.close();
    // WebSocket clients get 4200 (reconnect now, elsewhere); SSE clients get herald:error server_closing.
    await pusher.close();
    await herald.close();
    const deadline = Date.now() + Number(env.HERALD_DRAIN_MS || 10_000);
    while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  };
  process.on("SIGTERM", () => void drain("SIGTERM"));
  process.on("SIGINT", () => void drain("SIGINT"));
}

/** Writes a JSON reply. */
function reply(
  res: http.ServerResponse,
  answer: { status: number; headers: Record<string, string>; body: string },
): void {
  if (res.writableEnded || res.destroyed) return;
  res.writeHead(answer.status, answer.headers).end(answer.body);
}

/** True unless HERALD_METRICS is `off`/`0`/`false`, when prom-client can be loaded (logged when it cannot). */
function metricsWanted(setting: string | undefined, log: HeraldLogger): boolean {
  if (setting !== undefined && /^(off|0|false|no)$/i.test(setting.trim())) return false;
  try {
    createRequire(import.meta.url).resolve("prom-client");
    return true;
  } catch {
    log.info({}, "metrics off: install prom-client for /metrics (npm install prom-client)");
    return false;
  }
}

/** Serves /healthz, /readyz and /metrics on their own port (HERALD_METRICS_PORT). */
async function serveOperations(
  operations: (req: http.IncomingMessage, res: http.ServerResponse, path: string | undefined) => boolean,
  host: string,
  port: number,
  log: HeraldLogger,
): Promise<http.Server> {
  const server = http.createServer(HARDENED_SERVER_OPTIONS, (req, res) => {
    if (!operations(req, res, (req.url ?? "/").split("?", 1)[0])) res.writeHead(404).end();
  });
  hardenServer(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  log.info({ port: bound }, `operations on http://${host}:${bound} (/metrics, /healthz, /readyz)`);
  return server;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.command === "serve") return serve(args);
  process.stdout.write(USAGE);
  if (args.command !== "help" && args.command !== undefined) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(`herald: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
