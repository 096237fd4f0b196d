/** Test helper: an SSE client (Herald's own, on a real `EventSource`) that records what it gets. */
import { EventSource } from "eventsource";
import { createHeraldClient, type HeraldClient } from "../src/client/index.js";
import type { GapPayload } from "../src/protocol/envelope.js";

/** One SSE client on some channels: each channel's `n`s in arrival order, the gaps it is told, its reconnects. */
export interface Watcher {
  readonly client: HeraldClient;
  readonly received: Map<string, number[]>;
  readonly gaps: GapPayload[];
  /** Times it left `connected` (for a reconnect or for good). */
  reconnects: number;
}

/**
 * Follows `channels` on the Herald at `url` (events carry `{ n }`), with a short backoff; its
 * `close` goes to `cleanups`.
 */
export function watch(
  url: string,
  channels: readonly string[],
  cleanups: (() => unknown)[],
  EventSourceClass: typeof EventSource = EventSource,
): Watcher {
  const client = createHeraldClient({
    url: `${url}?`,
    EventSource: EventSourceClass as never,
    backoff: { baseMs: 20, capMs: 200 },
    onlineTarget: null,
    visibilityTarget: null,
  });
  cleanups.push(() => client.close());
  const watcher: Watcher = { client, received: new Map(), gaps: [], reconnects: 0 };
  client.on("gap", (g) => watcher.gaps.push(g));
  client.on("state", (t) => {
    if (t.prev === "connected" && t.next !== "connected") watcher.reconnects++;
  });
  for (const channel of channels) {
    const list: number[] = [];
    watcher.received.set(channel, list);
    client.subscribe<{ n: number }>(channel, (e) => list.push(e.data.n));
  }
  return watcher;
}
