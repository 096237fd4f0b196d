/**
 * The demo's custom server: Herald's routes (`/api/realtime/*`: SSE, poll, token, tasks, cancel)
 * on the Node fast path via `createHeraldServer`, every other request to Next.
 *
 *   npm run build -w demo && npm run start -w demo     # production, http://localhost:3000
 *   npm run dev -w demo                                # development
 *
 * PORT sets the port (default 3000); HERALD_HEARTBEAT_MS the heartbeat interval (lib/herald.ts).
 * The chat page's WebSocket is Herald's Pusher-compatible server (`herald/pusher`) at `/app/{key}`
 * on the same port (credentials: PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET, see lib/chat.ts);
 * its auth route is app/api/chat/auth.
 * With DEMO_E2E=1 (the browser tests) it also serves `POST /api/e2e/cut?ms=` (destroys every
 * stream socket, SSE and long-poll, and refuses new ones for `ms`; `?hold=1`
 * refuses them until `POST /api/e2e/release`), `POST /api/e2e/publish?count=` (publishes
 * numbered `probe` events on the activity channel) and `POST /api/e2e/chat?room=&prefix=&from=&count=`
 * (posts numbered messages, "{prefix} #{n}", in a chat room as "E2E Bot", as the chat's action does).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import next from "next";
import { createHeraldServer } from "herald/next";
import { createPusherServer } from "herald/pusher";
import { pusherCredentials } from "./lib/chat-credentials";
import { isRoom, MESSAGE_EVENT, messageChannel } from "./lib/chat";
import { ACTIVITY_CHANNEL, dashboardHistory, herald } from "./lib/herald";

const dev = process.argv.includes("--dev");
const port = Number(process.env.PORT ?? 3000);
const dir = path.dirname(fileURLToPath(import.meta.url));
const e2e = process.env.DEMO_E2E === "1";

const app = next({ dev, dir, port });
await app.prepare();
const handle = app.getRequestHandler();
dashboardHistory(); // start sampling now, not at the first dashboard visit

// Herald's routes (and its `getUserId`, which reads the session cookie) come with the instance.
const server = createHeraldServer({
  herald,
  next: (req, res) => (e2e && req.url?.startsWith("/api/e2e/") ? e2eRoute(req, res) : handle(req, res)),
});

// --- the chat's WebSocket: Herald's Pusher-compatible server, on the same bus as SSE ------------
const pusher = createPusherServer({ herald, ...pusherCredentials() });
const nextUpgrade = dev ? app.getUpgradeHandler() : null; // hot reloading's socket, in development
server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
  if (pusher.handleUpgrade(req, socket, head)) return;
  if (nextUpgrade) return void nextUpgrade(req, socket, head);
  socket.destroy();
});

// --- e2e only: cut the realtime connections --------------------------------------------------
const sseSockets = new Set<Socket>();
let refuseUntil = 0;
if (e2e) {
  // Runs before Herald's handler: remembers stream sockets (SSE and long-poll), and drops new ones
  // during a cut.
  server.prependListener("request", (req: IncomingMessage) => {
    if (!/^\/api\/realtime\/(sse|poll)(\?|$)/.test(req.url ?? "")) return;
    if (Date.now() < refuseUntil) {
      req.socket.destroy();
      return;
    }
    sseSockets.add(req.socket);
    req.socket.once("close", () => sseSockets.delete(req.socket));
  });
}

async function e2eRoute(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const reply = (status: number, body: unknown): void => {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(body));
  };
  if (req.method !== "POST") return reply(405, { error: { code: "method_not_allowed", message: "POST only" } });
  if (url.pathname === "/api/e2e/cut") {
    refuseUntil =
      url.searchParams.get("hold") === "1"
        ? Number.POSITIVE_INFINITY
        : Date.now() + Math.min(30_000, Number(url.searchParams.get("ms") ?? 0) || 0);
    const cut = sseSockets.size;
    for (const socket of sseSockets) socket.destroy();
    sseSockets.clear();
    return reply(200, { cut, refuseUntil });
  }
  if (url.pathname === "/api/e2e/release") {
    refuseUntil = 0;
    return reply(200, { released: true });
  }
  if (url.pathname === "/api/e2e/publish") {
    const count = Math.min(100, Number(url.searchParams.get("count") ?? 1) || 1);
    const from = Number(url.searchParams.get("from") ?? 1) || 1;
    const ids: string[] = [];
    for (let n = from; n < from + count; n++) {
      ids.push(await herald.publish(ACTIVITY_CHANNEL, "probe", { n, at: Date.now() }));
    }
    return reply(200, { ids });
  }
  if (url.pathname === "/api/e2e/chat") {
    const room = url.searchParams.get("room");
    if (!isRoom(room)) return reply(400, { error: { code: "invalid_request", message: "no such room" } });
    const prefix = url.searchParams.get("prefix") ?? "e2e";
    const count = Math.min(200, Number(url.searchParams.get("count") ?? 1) || 1);
    const from = Number(url.searchParams.get("from") ?? 1) || 1;
    const ids: string[] = [];
    for (let n = from; n < from + count; n++) {
      const data = { room, text: `${prefix} #${n}`, user: { id: "e2e-bot", name: "E2E Bot" }, at: Date.now() };
      ids.push(await herald.publish(messageChannel(room), MESSAGE_EVENT, data));
    }
    return reply(200, { ids });
  }
  return reply(404, { error: { code: "not_found", message: "no such e2e route" } });
}

// --- start and stop --------------------------------------------------------------------------
server.listen(port, () => {
  console.log(`Herald demo ready on http://localhost:${port}${dev ? " (development)" : ""}`);
});

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  // The WebSockets first (closed with 4200: clients reconnect at once), then Herald.
  void Promise.allSettled([pusher.close()])
    .then(() => herald.close())
    .finally(() => {
      server.closeAllConnections();
      server.close(() => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
    });
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
