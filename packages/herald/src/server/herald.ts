/** `createHerald`: the server entry point. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { MemoryBroker } from "../brokers/memory.js";
import type { Broker } from "../brokers/types.js";
import { encodeCursor } from "../protocol/cursor.js";
import { HeraldCore } from "./http/edge.js";
import { assertCorsOptions } from "./http/cors.js";
import { Hub, type HubStats } from "./core/hub.js";
import type { HeraldOptions } from "./options.js";
import { DEFAULT_MAX_PAYLOAD_BYTES, preparePublish } from "./core/publish.js";
import { handleSseFetch } from "./http/sse-fetch.js";
import { handleSseNode } from "./http/sse-node.js";

/** A Herald server instance. */
export interface Herald {
  /**
   * Publishes `data` as `event` on `channel` to every subscriber, on every transport and process.
   * Resolves to the event's id (its cursor, `{epoch}-{seq}`). Throws `HeraldError` on invalid input:
   * `invalid_channel`, `invalid_event`, `invalid_data`, `payload_too_large`.
   */
  publish(channel: string, event: string, data: unknown): Promise<string>;
  /** SSE over the Fetch API: export it as a route handler's `GET`. */
  handleRequest(request: Request): Promise<Response>;
  /** SSE over Node's `http`: the fast path for custom and standalone servers. */
  handleNode(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Subscribers on this process for one channel. */
  subscriberCount(channel: string): number;
  /** Counters for dashboards and tests. */
  stats(): HubStats;
  /** The broker in use. */
  readonly broker: Broker;
  /** Internals shared with other transports and integrations (`herald/next`, polling, Pusher). */
  readonly core: HeraldCore;
  /** Ends every stream with `herald:error` (`server_closing`) and closes the broker. */
  close(): Promise<void>;
}

/** Creates a Herald server. With no options it runs on an in-memory broker in this process. */
export function createHerald(options: HeraldOptions = {}): Herald {
  assertCorsOptions(options.cors);
  const broker = options.broker ?? new MemoryBroker();
  const now = options.now ?? Date.now;
  const retryMs = options.retryMs ?? 1000;
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const hub = new Hub(broker, {
    heartbeatMs: options.heartbeatMs,
    coalesceMs: options.coalesceMs,
    maxBufferedBytes: options.maxBufferedBytes,
    retryMs,
    now,
  });
  const core = new HeraldCore(options, broker, hub, retryMs, now);
  return {
    broker,
    core,
    async publish(channel, event, data) {
      const json = preparePublish(channel, event, data, maxPayloadBytes);
      const stored = await broker.publish(channel, event, json);
      return encodeCursor(stored.epoch, stored.seq);
    },
    handleRequest: (request) => handleSseFetch(core, request),
    handleNode: (req, res) => handleSseNode(core, req, res),
    subscriberCount: (channel) => hub.subscriberCount(channel),
    stats: () => hub.stats(),
    async close() {
      hub.closeAll();
      await broker.close();
    },
  };
}
