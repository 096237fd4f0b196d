/**
 * The WebSocket side of the bus: each channel followed through the hub (the process's one
 * registry: one upstream broker subscription per channel, shared with SSE and long-poll), each event
 * encoded once as a Pusher frame and the same bytes sent to every local connection on the channel.
 * What the protocol needs per event travels in the event's metadata, through the broker: the
 * connection to leave out (client events, `socket_id` on the HTTP API) and the sender's `user_id`.
 * Also keeps cache channels' last event.
 */
import { Buffer } from "node:buffer";
import type { Broker, EventMeta, StoredEvent } from "../brokers/types.js";
import type { Herald } from "../server/herald.js";
import type { Following, Hub } from "../server/core/hub.js";
import { encodePosition } from "../protocol/cursor.js";
import { brokerChannel, isCacheChannel, pusherDataOfBrokerJson } from "./channels.js";

/** The name of the extra field carrying Herald's event id (`{epoch}-{seq}`) on event frames. */
export const EVENT_ID_FIELD = "id";

/** A connection as the fan-out sees it. */
export interface FanoutTarget {
  readonly socketId: string;
  /** Sends one frame (the same Buffer is shared by every target). */
  send(frame: Buffer): void;
  /** Live events of `channel` were lost on the bus: the connection must start over (and resume from its cursor). */
  lost(channel: string): void;
  /** Sends a presence transition frame on `channel` (held while the member list is on its way). */
  sendPresence(channel: string, frame: Buffer): void;
}

/** A cache channel's last event. */
export interface CachedEvent {
  readonly event: string;
  readonly json: string;
  readonly id: string;
  readonly ts: number;
}

interface ChannelState {
  readonly name: string;
  readonly broker: string;
  /** The partition of the broker's log the channel is in. */
  readonly partition: number;
  /** Its namespace label, when the namespace label is on (deliveries are counted by it). */
  readonly namespace: string | undefined;
  readonly targets: Set<FanoutTarget>;
  readonly upstream: Following;
}

/** See the module comment. */
export class Fanout {
  private readonly channels = new Map<string, ChannelState>();
  private readonly cache = new Map<string, CachedEvent>();
  private delivered = 0;

  constructor(
    private readonly herald: Pick<Herald, "publishJson">,
    private readonly broker: Broker,
    private readonly hub: Hub,
    private readonly cacheTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds `target` to the Pusher channel `name`; resolves once live events flow. */
  async add(name: string, target: FanoutTarget): Promise<void> {
    let state = this.channels.get(name);
    if (!state) {
      const broker = brokerChannel(name)!;
      const created: ChannelState = {
        name,
        broker,
        partition: this.hub.partitionOf(broker),
        namespace: this.hub.telemetry.namespaces?.of(broker),
        targets: new Set(),
        upstream: this.hub.follow(broker, {
          deliver: (event, epoch) => this.onEvent(created, event, epoch),
          lost: () => {
            for (const target of [...created.targets]) target.lost(name);
          },
        }),
      };
      state = created;
      this.channels.set(name, state);
    }
    state.targets.add(target);
    await state.upstream.ready;
  }

  /** Removes `target` from `name`; the last one unsubscribes upstream. Returns the targets left. */
  remove(name: string, target: FanoutTarget): number {
    const state = this.channels.get(name);
    if (!state || !state.targets.delete(target)) return state?.targets.size ?? 0;
    if (state.targets.size === 0) {
      state.upstream.unfollow();
      this.channels.delete(name);
    }
    return state.targets.size;
  }

  /** Local connections on `name`. */
  count(name: string): number {
    return this.channels.get(name)?.targets.size ?? 0;
  }

  /** Channels with at least one local connection. */
  names(): string[] {
    return [...this.channels.keys()];
  }

  /** Local connections on `name` other than `except` (for presence member events). */
  targets(name: string): Iterable<FanoutTarget> {
    return this.channels.get(name)?.targets ?? [];
  }

  /** Events sent to connections since start. */
  deliveredCount(): number {
    return this.delivered;
  }

  /** Local connections by channel namespace (with the namespace label on). */
  subscriptionsByNamespace(): Record<string, number> | undefined {
    return this.hub.telemetry.namespaces?.tally(
      this.channels.values(),
      (state) => state.broker,
      (state) => state.targets.size,
    );
  }

  /**
   * Publishes on the Pusher channel `name` through Herald's one publish path (names and JSON
   * checked, the instance's `maxPayloadBytes`), with `meta` stored beside the event; remembers
   * cache channels' last event. Resolves to the event's id. (The Pusher-facing cap on `data`,
   * `maxEventBytes`, is checked before, on the data as the client sent it.)
   */
  async publish(name: string, event: string, json: string, meta: EventMeta = {}): Promise<string> {
    const broker = brokerChannel(name)!;
    const id = await this.herald.publishJson(broker, event, json, { meta });
    if (isCacheChannel(broker)) this.remember(broker, { event, json, id, ts: this.now() });
    return id;
  }

  /**
   * The last event of a cache channel within the TTL: from this process's memory, else from the
   * broker's log (so a process that was not subscribed when it was published still finds it).
   */
  async lastEvent(name: string): Promise<CachedEvent | null> {
    const broker = brokerChannel(name)!;
    const known = this.cache.get(broker);
    if (known && this.now() - known.ts <= this.cacheTtlMs) return known;
    const partition = this.hub.partitionOf(broker);
    const epoch = await this.broker.epoch(partition);
    let after = 0;
    let last: CachedEvent | null = null;
    for (let page = 0; page < 100; page++) {
      const { events } = await this.broker.read(broker, after, 1000);
      const tail = events[events.length - 1];
      if (!tail) break;
      last = { event: tail.event, json: tail.json, id: encodePosition(epoch, tail.seq, partition), ts: tail.ts };
      after = tail.seq;
      if (events.length < 1000) break;
    }
    if (!last || this.now() - last.ts > this.cacheTtlMs) return null;
    this.remember(broker, last);
    return last;
  }

  /** Drops expired cache entries (called by the server's timer). */
  sweep(): void {
    const now = this.now();
    for (const [name, cached] of this.cache) if (now - cached.ts > this.cacheTtlMs) this.cache.delete(name);
  }

  /** Unsubscribes everything. */
  close(): void {
    for (const state of this.channels.values()) state.upstream.unfollow();
    this.channels.clear();
  }

  private onEvent(state: ChannelState, event: StoredEvent, epoch: string): void {
    const meta = event.meta;
    const id = encodePosition(epoch, event.seq, state.partition);
    if (isCacheChannel(state.broker))
      this.remember(state.broker, { event: event.event, json: event.json, id, ts: event.ts });
    const frame = encodeEvent(state.name, event.event, event.json, id, meta?.userId);
    let sent = 0;
    const exclude = meta?.exclude;
    for (const target of state.targets) {
      if (exclude !== undefined && target.socketId === exclude) continue;
      sent++;
      target.send(frame);
    }
    this.delivered += sent;
    if (state.namespace !== undefined) this.hub.telemetry.addDeliveries("websocket", state.namespace, sent);
  }

  private remember(broker: string, cached: CachedEvent): void {
    const known = this.cache.get(broker);
    if (!known || known.ts <= cached.ts) this.cache.set(broker, cached);
  }
}

/**
 * An event frame: `{"event","channel","data"}` with `data` the JSON string the protocol specifies,
 * `user_id` for presence client events, and Herald's event id in {@link EVENT_ID_FIELD}.
 */
export function encodeEvent(channel: string, event: string, json: string, id: string, userId?: string): Buffer {
  const frame: Record<string, string> = { event, channel, data: pusherDataOfBrokerJson(json) };
  if (userId !== undefined) frame.user_id = userId;
  frame[EVENT_ID_FIELD] = id;
  return Buffer.from(JSON.stringify(frame));
}
