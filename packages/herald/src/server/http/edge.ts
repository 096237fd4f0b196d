/** What the handlers share: options with defaults applied, the hub, the broker. */
import { randomUUID } from "node:crypto";
import type { Broker } from "../../brokers/types.js";
import type { Admitted } from "./admit.js";
import type { Buffer } from "node:buffer";
import { openingBytes } from "../core/frames.js";
import type { Hub } from "../core/hub.js";
import { Limits } from "./limits/limits.js";
import type { RequestContext } from "../auth/request-context.js";
import type { CorsOptions } from "./cors.js";
import type { LimitOptions } from "./limits/limits.js";
import type { TrustProxy } from "./limits/client-ip.js";
import type { SessionRequest } from "./routes.js";
import { toHeraldError } from "./responses.js";
import { startSession } from "../core/session.js";
import { changeChannels, streamGone, type ChannelChange } from "../core/channel-change.js";
import { PollPresence, SsePresence, type PresenceOptions } from "../core/presence.js";
import { MemoryPresenceStore, type PresenceStore } from "../core/presence-store.js";
import type { Sink } from "../core/sink.js";
import { Subscriber, type Principal } from "../core/subscriber.js";
import { ConnectionTracker, type Telemetry } from "../core/telemetry.js";

/**
 * The settings the HTTP edge reads, every default applied (`createHerald` resolves them from its
 * options; see `HeraldOptions` for what each means).
 */
export interface EdgeOptions {
  readonly cors?: CorsOptions | undefined;
  readonly limits?: LimitOptions | undefined;
  readonly trustProxy?: TrustProxy | undefined;
  readonly clientIp?: ((request: Request) => string | undefined) | undefined;
  readonly maxChannelsPerConnection: number;
  readonly rotateAfterMs?: number | undefined;
  /** Who is subscribing (null: anonymous); throws a `HeraldError` to refuse. */
  readonly authenticate?: ((request: RequestContext) => Principal | null | Promise<Principal | null>) | undefined;
  /** May `principal` follow `channel`? */
  readonly authorize?:
    ((principal: Principal | null, channel: string, request: RequestContext) => boolean | Promise<boolean>) | undefined;
  /** The app's session lookup, when it has sessions. */
  readonly getUserId?:
    ((request: SessionRequest) => string | null | undefined | Promise<string | null | undefined>) | undefined;
  /** Public channels readable without signing in (with sessions). */
  readonly allowAnonymous: boolean;
  /** Presence settings (the store is made on first use, see {@link HeraldCore.presenceStore}). */
  readonly presence?: PresenceOptions | undefined;
}

/** What a transport served beside the hub (the Pusher WebSocket server) reports for `herald.stats()`. */
export interface TransportStats {
  /** Open connections. */
  connections: number;
  /** Channel subscriptions across them. */
  subscriptions: number;
  /** Events sent (one per event per connection). */
  delivered: number;
  /** Connections closed for not reading fast enough. */
  dropped: number;
  /** Presence members (one per user per presence channel) held by this transport's connections. */
  presenceMembers?: number;
  /** With the namespace label on: `subscriptions` by channel namespace. */
  subscriptionsByNamespace?: Record<string, number> | undefined;
}

/** Internal state behind a `Herald` instance; transports are written against it. */
export class HeraldCore {
  /**
   * Transports attached to this instance besides SSE and poll, by name, each with a function
   * that reads its counts (several servers under one name are summed).
   */
  readonly transports = new Map<string, Set<() => TransportStats>>();

  /** Registers a transport's counts for `herald.stats()`; returns the function that removes them. */
  registerTransport(name: string, read: () => TransportStats): () => void {
    let readers = this.transports.get(name);
    if (!readers) this.transports.set(name, (readers = new Set()));
    readers.add(read);
    return () => {
      readers.delete(read);
      if (readers.size === 0 && this.transports.get(name) === readers) this.transports.delete(name);
    };
  }

  /** Abuse limits shared by every transport. */
  readonly limits: Limits;
  /** The first bytes of every stream (`retry:` and a comment), encoded once. */
  readonly openingBytes: Buffer;
  /**
   * Issues the next single-use token for a principal that authenticated with one (set by
   * `createHerald` when it owns the tokens): each poll answer carries the token for the next poll.
   */
  renewToken: ((principal: Principal) => Promise<string | undefined>) | undefined;
  /** Where every transport counts and tells its lifecycle events (the hub's). */
  readonly telemetry: Telemetry;
  private readonly sse: ConnectionTracker<Subscriber>;
  private store: PresenceStore | undefined;
  private ssePresence: SsePresence | undefined;
  private polling: PollPresence | undefined;
  /** This process's open streams by connection id (what a channel change names). */
  private readonly streams = new Map<string, Subscriber>();
  /** Each stream's channel change in progress: the next one waits for it. */
  private readonly changing = new WeakMap<Subscriber, Promise<unknown>>();

  constructor(
    readonly options: EdgeOptions,
    readonly broker: Broker,
    readonly hub: Hub,
    readonly retryMs: number,
    private readonly now: () => number,
    /** Makes the presence store on first use (the shared one with Redis). */
    private readonly makePresenceStore: () => PresenceStore = () => new MemoryPresenceStore(),
  ) {
    this.limits = new Limits(options.limits, now);
    this.openingBytes = openingBytes(retryMs);
    this.telemetry = hub.telemetry;
    this.sse = new ConnectionTracker(this.telemetry, "sse");
  }

  /**
   * The process's presence store, made on first use: SSE streams and the Pusher WebSocket server
   * share it, so a room's members are counted once per user whatever their transport.
   */
  presenceStore(): PresenceStore {
    return (this.store ??= this.options.presence?.store ?? this.makePresenceStore());
  }

  /** Presence members held by this process's SSE streams (one per user per channel). */
  ssePresenceMembers(): number {
    return this.ssePresence?.members ?? 0;
  }

  /** Presence over SSE, made on the first stream that follows a presence channel. */
  private presenceOfStreams(): SsePresence {
    return (this.ssePresence ??= new SsePresence(this.hub, this.presenceStore(), this.options.presence));
  }

  /** Presence over long-polling, made on the first poll of a presence channel. */
  pollPresence(): PollPresence {
    return (this.polling ??= new PollPresence(this.presenceStore(), this.options.presence, this.now));
  }

  /** Stops following presence transitions (on close). */
  closePresence(): void {
    this.ssePresence?.close();
    this.polling?.close();
  }

  /** Counts a request refused on `route` (`sse`, `poll`, `token`, `websocket`…) by its error's code. */
  refused(route: string, error: unknown): void {
    this.telemetry.record({ type: "refused", route, code: toHeraldError(error).code });
  }

  /** A subscriber for an admitted request, with its rotation deadline if configured. */
  createSubscriber(admitted: Admitted, sink: Sink): Subscriber {
    const sub = new Subscriber(randomUUID(), admitted.channels, sink, admitted.principal, this.hub.partitionOf);
    sub.closeHandlers.push(admitted.release);
    this.streams.set(sub.id, sub);
    sub.closeHandlers.push(() => this.streams.delete(sub.id));
    this.sse.open(sub, sub.channels.length);
    sub.closeHandlers.push((reason) => this.sse.close(sub, reason, sub.channels.length));
    if (this.options.rotateAfterMs !== undefined) sub.deadline = this.now() + this.options.rotateAfterMs;
    return sub;
  }

  /** Starts the session in the background; a failure closes the stream with a `herald:error`. */
  start(sub: Subscriber, admitted: Admitted): void {
    const { cursor, cursorText } = admitted;
    const started = startSession(this.hub, this.broker, sub, cursor, cursorText, this.retryMs, this.hub.heartbeatMs)
      .then(() => {
        if (sub.state !== "live" || !sub.channels.some((c) => c.startsWith("presence-"))) return;
        return this.presenceOfStreams().join(sub);
      })
      .catch((error) => {
        const e = toHeraldError(error);
        this.hub.close(sub, e.code, e.message);
      });
    // A channel change waits for the stream's first presence join.
    this.changing.set(sub, started);
  }

  /** The open stream `id` of this process, once it announced itself (`herald:connected`), or undefined. */
  stream(id: string): Subscriber | undefined {
    const sub = this.streams.get(id);
    return sub && sub.connected && sub.state !== "closed" ? sub : undefined;
  }

  /**
   * Changes an open stream's channels (core/channel-change.ts), after any change of it still in
   * progress; resolves once the added channels are live. The change must have passed admission.
   */
  changeChannels(sub: Subscriber, change: ChannelChange): Promise<void> {
    const previous = this.changing.get(sub) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(() => {
        if (sub.state === "closed") throw streamGone();
        return changeChannels(this.hub, this.broker, sub, change, () => this.presenceOfStreams());
      });
    this.changing.set(sub, next);
    return next;
  }
}
