/**
 * The browser client: subscriptions, dispatch and the observable state, over one multiplexed
 * connection (SSE by default, long-polling, WebSocket) that it owns (`connection.ts`) or, with
 * `shareConnection`, that one tab of the browser holds for every tab of the same user
 * (`shared.ts`). Events are deduplicated per channel by their position, so a make-before-break
 * reconnect, a resume or a change of leader never delivers one twice.
 *
 * Failure taxonomy (`failure.ts`): only a refusal a retry cannot fix (401/403 on a fresh token, a
 * refused channel or malformed request: 400/414) and `maxAttempts` end in `failed`. Everything else
 * (network errors, timeouts, 5xx, 429 with its `Retry-After`, a failing or slow `getToken`, a
 * silent connection) backs off with jitter and retries. Even `failed` is left again on `online`,
 * when the page becomes visible, and on {@link HeraldClient.reconnect} (the app's "session changed").
 */
import {
  CONTROL,
  type ConnectedPayload,
  type ErrorPayload,
  type EventEnvelope,
  type GapPayload,
  type PresencePayload,
} from "../protocol/envelope.js";
import { assertChannelName } from "../protocol/names.js";
import { Connection, type ConnectionHost, type Link } from "./connection.js";
import { TabLink } from "./tab-link.js";
import { CursorTracker, oldest } from "./cursor-tracker.js";
import { FetchEventSource } from "./fetch-event-source.js";
import type { ClientTransport, HeraldClientOptions } from "./options.js";
import { PresenceBook, type PresenceState } from "./presence-state.js";
import { parseJson, randomId } from "./source-base.js";
import { canTransition, type ConnectionState, type Transition } from "./state.js";
import type { EventSourceFactory } from "./types.js";

export type { ClientTransport, HeraldClientOptions, TokenResult } from "./options.js";
export type { PresenceState } from "./presence-state.js";

/** Handler of one channel's events. */
export type EventHandler<T = unknown> = (event: EventEnvelope<T>) => void;

/** Client-level events. */
export interface ClientEvents {
  state: Transition;
  gap: GapPayload;
  /** A `herald:error` the server sent before closing, or a connection-level failure. */
  error: ErrorPayload;
  connected: ConnectedPayload;
  /** The transport of the connection that just opened changed (`"sse"`, `"poll"` or `"ws"`). */
  transport: ClientTransport;
  /** A presence channel's members changed (WebSocket transport); read them with `presence(channel)`. */
  presence: PresencePayload;
}

/** The client returned by {@link createHeraldClient}. */
export interface HeraldClient {
  /** Current state. */
  readonly state: ConnectionState;
  /** Cursor the next connection resumes from. */
  readonly cursor: string | null;
  /** Consecutive failed attempts since the last stable connection. */
  readonly attempt: number;
  /** When the next reconnect attempt is due (clock ms), or null. */
  readonly nextRetryAt: number | null;
  /** The transport of the current (or next) connection. */
  readonly transport: ClientTransport;
  /**
   * Whose connection this client is on (see `shareConnection`): `"own"` (one of its own),
   * `"leader"` (this tab holds the connection of every tab of its user), `"follower"` (another tab
   * holds it and forwards the events). (Optional like `presence`.)
   */
  readonly connectionRole?: "own" | "leader" | "follower";
  /** Follows `channel`; returns a function that stops following it. */
  subscribe<T = unknown>(channel: string, handler: EventHandler<T>): () => void;
  /** Listens to client events; returns a function that removes the listener. */
  on<K extends keyof ClientEvents>(type: K, listener: (payload: ClientEvents[K]) => void): () => void;
  /**
   * Who is on the presence channel `channel` (subscribe to it first), or null before its
   * subscription succeeded. The same object until it changes (a `presence` event). On every
   * transport (polling sees changes with its next answer). (Optional so that other implementations
   * of this interface stay valid; the client {@link createHeraldClient} returns has it.)
   */
  presence?(channel: string): PresenceState | null;
  /**
   * Sends a client event (`client-*`) on a private or presence channel this client follows, to
   * the channel's other subscribers (never back to the sender): over the socket on WebSocket, as
   * `POST …/publish` (the server's `authorizePublish`) on SSE and polling, a refusal then reported
   * as an `error` event. Throws for other names or channels, and while not connected. (Optional
   * like `presence`.)
   */
  send?(channel: string, event: string, data: unknown): void;
  /**
   * Reconnects now with a fresh token from `getToken`, whatever the state (`failed` included), and
   * starts the attempt count over. Call it when the user's session changed (signed in, signed out,
   * switched account): the current connection is dropped at once, since it was authorized for the
   * previous session; a signed-out user whose token is refused then ends in `failed` with reason
   * `unauthorized`. Also what a "Retry now" button calls, after `failed` or to skip a backoff wait.
   * Does nothing before the first subscription or after `close()`.
   */
  reconnect(): void;
  /** Closes the connection and releases every timer and listener. Final. */
  close(): void;
}

/** Creates a client. It connects when the first channel is subscribed. */
export function createHeraldClient(
  options: HeraldClientOptions,
): HeraldClient & Required<Pick<HeraldClient, "presence" | "send">> {
  return new Client(options);
}

class Client implements HeraldClient, Required<Pick<HeraldClient, "presence" | "send">>, ConnectionHost {
  state: ConnectionState = "idle";
  readonly #handlers = new Map<string, Set<EventHandler>>();
  readonly #listeners = new Map<keyof ClientEvents, Set<(payload: never) => void>>();
  readonly #tracker = new CursorTracker();
  readonly #presences = new PresenceBook();
  /** This client's id on the client events it sends over SSE and polling (its own come back with it). */
  readonly #clientId = randomId();
  readonly #link: Link;
  /** Channels the server refused on the open connection: left out until subscribed again. */
  readonly #refusedChannels = new Set<string>();
  /** The cursor when each channel was subscribed (its catch-up starts there when added to an open connection). */
  readonly #wantedSince = new Map<string, string | null>();

  readonly #options: HeraldClientOptions;

  constructor(options: HeraldClientOptions) {
    this.#options = options;
    const ES =
      options.EventSource ??
      (typeof fetch === "function" && typeof TextDecoderStream === "function"
        ? FetchEventSource
        : (globalThis as { EventSource?: EventSourceFactory }).EventSource);
    if (!ES) throw new TypeError("herald/client: no EventSource available; pass options.EventSource");
    if (options.transport === "ws" && !options.ws)
      throw new TypeError('herald/client: transport "ws" needs options.ws = createWebSocketEventSource({ url })');
    this.#link =
      (options.shareConnection ?? typeof document !== "undefined") && typeof BroadcastChannel === "function"
        ? new TabLink(options, this, ES)
        : new Connection(options, this, ES);
  }

  get attempt(): number {
    return this.#link.attempt;
  }

  get nextRetryAt(): number | null {
    return this.#link.nextRetryAt;
  }

  get transport(): ClientTransport {
    return this.#link.transport;
  }

  get cursor(): string | null {
    return this.#tracker.cursor;
  }

  get connectionRole(): "own" | "leader" | "follower" {
    return (this.#link as { role?: "own" | "leader" | "follower" }).role ?? "own";
  }

  subscribe<T>(channel: string, handler: EventHandler<T>): () => void {
    assertChannelName(channel);
    // A programmer error (using the client after its lifetime): TypeError, not a HeraldError.
    if (this.state === "closed") throw new TypeError("herald/client: subscribe() after close()");
    let set = this.#handlers.get(channel);
    const isNew = !set;
    if (!set) this.#handlers.set(channel, (set = new Set()));
    set.add(handler as EventHandler);
    if (isNew) {
      this.#refusedChannels.delete(channel);
      this.#wantedSince.set(channel, this.#tracker.cursor);
      this.#link.channelsChanged(false);
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const current = this.#handlers.get(channel);
      if (!current?.delete(handler as EventHandler)) return;
      if (current.size === 0) {
        this.#handlers.delete(channel);
        this.#refusedChannels.delete(channel);
        this.#wantedSince.delete(channel);
        this.#presences.forget(channel);
        this.#tracker.forget(channel);
        if (this.state !== "closed") this.#link.channelsChanged(this.#handlers.size > 0);
      }
    };
  }

  on<K extends keyof ClientEvents>(type: K, listener: (payload: ClientEvents[K]) => void): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  presence(channel: string): PresenceState | null {
    return this.#presences.get(channel);
  }

  send(channel: string, event: string, data: unknown): void {
    if (!/^client-/.test(event)) throw new Error(`herald/client: client event names start with "client-" (${event})`);
    if (!/^(private|presence)-/.test(channel))
      throw new Error(`herald/client: client events go on private-* and presence-* channels only (${channel})`);
    if (!this.#handlers.has(channel)) throw new Error(`herald/client: send() on ${channel}, which is not subscribed`);
    if (this.state !== "connected") throw new Error(`herald/client: send() while ${this.state}`);
    if (this.#link.sendOnSocket(channel, event, data)) return;
    // SSE and polling: up as a request (the server's `POST …/publish`), down on the stream, where
    // this client skips its own by `senderId`.
    void this.#postClientEvent(channel, event, data);
  }

  /**
   * `POST {base}/publish` with a client event (the request is in a chunk loaded when first used); a
   * refusal is reported as an `error` event.
   */
  async #postClientEvent(channel: string, event: string, data: unknown): Promise<void> {
    try {
      const { postClientEvent } = await import("./requests.js");
      const body = JSON.stringify({ channel, event, data, senderId: this.#clientId });
      const refusal = await postClientEvent(
        this.#options.url,
        body,
        this.#options.withCredentials,
        this.#options.fetch,
      );
      if (!refusal) return;
      this.error({
        code: refusal.errorCode ?? "http_error",
        message: refusal.message ?? `client event refused (${refusal.code})`,
        status: refusal.code,
      });
    } catch (error) {
      this.error({ code: "network", message: String((error as Error)?.message ?? error) });
    }
  }

  reconnect(): void {
    if (this.state !== "closed") this.#link.reconnect();
  }

  close(): void {
    if (this.state === "closed") return;
    this.#link.close();
    this.#handlers.clear();
    if ((this.state as ConnectionState) !== "closed") this.#mirror("closed", "close", 0);
    this.#listeners.clear();
  }

  // --- what the connection reports (Sink) ---------------------------------------------------

  channels(): string[] {
    return [...this.#handlers.keys()].filter((c) => !this.#refusedChannels.has(c));
  }

  since(channels: string[]): string | null {
    return oldest(channels.map((c) => this.#wantedSince.get(c) ?? null));
  }

  refused(channel: string): void {
    if (this.#handlers.has(channel)) this.#refusedChannels.add(channel);
  }

  /** The cursor the connection resumes from (this tab's, which has seen every event it was given). */
  resumeCursor(): string | null {
    return this.#tracker.cursor;
  }

  frame(type: string, data: string): void {
    if (this.state === "closed") return;
    if (type === "message") return this.#onMessage(data);
    if (type === CONTROL.connected) {
      const payload = parseJson<ConnectedPayload>(data);
      if (!payload) return;
      this.#tracker.advance(payload.cursor);
      return this.#emit("connected", payload);
    }
    if (type === CONTROL.gap) {
      const payload = parseJson<GapPayload>(data);
      if (!payload) return;
      this.#tracker.forget(payload.channel);
      return this.#emit("gap", payload);
    }
    if (type === CONTROL.presence) {
      const payload = parseJson<PresencePayload>(data);
      if (!payload || !this.#handlers.has(payload.channel)) return;
      this.#presences.apply(payload);
      return this.#emit("presence", payload);
    }
    if (type === CONTROL.error) {
      const payload = parseJson<ErrorPayload>(data);
      if (payload) this.#emit("error", payload);
    }
  }

  /** A state change of the connection this tab is on. */
  changed(transition: Transition): void {
    if (this.state === "closed") return;
    this.#mirror(transition.next, transition.reason, transition.delayMs, transition.attempt);
  }

  error(payload: ErrorPayload): void {
    if (this.state !== "closed") this.#emit("error", payload);
  }

  transported(kind: ClientTransport): void {
    if (this.state !== "closed") this.#emit("transport", kind);
  }

  #onMessage(data: string): void {
    const envelope = parseJson<EventEnvelope>(data);
    if (!envelope || typeof envelope.channel !== "string") return;
    if (!this.#tracker.accept(envelope.channel, envelope.id)) return;
    if (envelope.senderId === this.#clientId) return; // this client's own client event
    const set = this.#handlers.get(envelope.channel);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        handler(envelope);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /**
   * Moves this client's state to `next`, through `connecting` when the connection it follows
   * (another tab's) moved further than one step since this tab last looked.
   */
  #mirror(next: ConnectionState, reason: string, delayMs: number, attempt = this.#link.attempt): void {
    const prev = this.state;
    // A new connection after one this tab was on (another tab took over): reconnecting, not connecting.
    if (next === "connecting" && (prev === "connected" || prev === "reconnecting")) next = "reconnecting";
    if (prev === next && next !== "reconnecting") return;
    if (prev !== next && !canTransition(prev, next)) {
      if (!canTransition(prev, "connecting") || !canTransition("connecting", next))
        throw new Error(`herald/client: illegal transition ${prev} → ${next}`); // an internal invariant
      this.#mirror("connecting", reason, 0, attempt);
    }
    const from = this.state;
    this.state = next;
    this.#emit("state", { prev: from, next, reason, attempt, delayMs });
  }

  #emit<K extends keyof ClientEvents>(type: K, payload: ClientEvents[K]): void {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) (listener as (p: ClientEvents[K]) => void)(payload);
  }
}
