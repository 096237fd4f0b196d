/**
 * The source contract (contract/source-contract.ts) on the three browser-side sources, each
 * against a real Herald on port 0: FetchEventSource on the SSE route, the long-poll source on the
 * poll route (both served by `herald.handleNodeRoutes`, test/helpers.ts's `startRoutes`), and the
 * WebSocket source on Herald's Pusher server (test/ws-client/fixture.ts's `startWs`).
 */
import { WebSocket } from "ws";
import { FetchEventSource } from "../../src/client/fetch-event-source.js";
import { createPollEventSource } from "../../src/client/poll-event-source.js";
import { createWebSocketEventSource, type WebSocketFactory } from "../../src/client/ws.js";
import { createHerald } from "../../src/server/index.js";
import { startRoutes } from "../helpers.js";
import { startWs } from "../ws-client/fixture.js";
import { sourceContract, type SourceAdapter, type SourceServer } from "./source-contract.js";

/** A Herald's routes under `/api/realtime` on a real server. */
async function routes(options: Parameters<typeof createHerald>[0]): Promise<SourceServer> {
  const herald = createHerald(options);
  const served = await startRoutes(herald);
  return { herald, sseUrl: `${served.base}/sse`, close: () => served.close() };
}

const sse: SourceAdapter = {
  name: "FetchEventSource (SSE)",
  transport: "sse",
  start: routes,
  factory: () => FetchEventSource,
};

const poll: SourceAdapter = {
  name: "long-poll source",
  transport: "poll",
  start: routes,
  // The longest hold (25 s): a waiter the server failed to drop after close() would outlive the
  // contract's bounded wait for the count to go down.
  factory: () => createPollEventSource({ wait: 25, visibilityTarget: null }),
};

const wsServers = new WeakMap<SourceServer, string>();
const websocket: SourceAdapter = {
  name: "WebSocket source (Pusher protocol)",
  transport: "websocket",
  async start(options) {
    const fx = await startWs(options);
    const server: SourceServer = {
      herald: fx.herald,
      sseUrl: `${fx.origin}/api/realtime/sse`,
      close: () => fx.close(),
    };
    wsServers.set(server, fx.wsUrl);
    return server;
  },
  factory: (server) =>
    createWebSocketEventSource({
      url: wsServers.get(server)!,
      WebSocket: WebSocket as unknown as WebSocketFactory,
    }),
  differences: {
    refusalWithoutErrorCode:
      "the Pusher protocol's pusher:subscription_error carries a status and an error type (AuthError), not Herald's code",
    tokenNotPresented:
      "the socket is identified by its upgrade's session; the token only goes to the poll route, and Herald's server catches up over the socket",
  },
};

// Each source on a log of one partition, and of eight (a, b and c in three: ids are cursors then).
for (const adapter of [sse, poll, websocket]) {
  sourceContract(adapter);
  sourceContract(adapter, 8);
}
