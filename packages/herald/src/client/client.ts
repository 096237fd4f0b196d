/**
 * The browser client: one multiplexed SSE connection for any number of channels, its own
 * reconnection (backoff with full jitter, fresh token per attempt, resume from the cursor), and an
 * observable state machine. Works with the browser's EventSource or any compatible one.
 *
 * Failure taxonomy: only a refusal a retry cannot fix (401/403 on a fresh token, a refused channel
 * or malformed request: 400/414) and `maxAttempts` end in `failed`. Everything else (network
 * errors, timeouts, 5xx, 429 with its `Retry-After`, a failing or slow `getToken`, a silent
 * connection) backs off with jitter and retries. Even `failed` is left again on `online`, when the
 * page becomes visible, and on {@link HeraldClient.reconnect} (the app's "session changed").
 *
 * Liveness: the server announces its heartbeat interval in `herald:connected`; a connection on
 * which no byte arrives for about two intervals (plus a margin) is closed and resumed from the
 * cursor. `offline` drops the connection at once; `online`, a page coming back and another tab
 * of the origin connecting to the same endpoint retry at once.
 */
import {
  CONTROL,
  type ConnectedPayload,
  type ErrorPayload,
  type EventEnvelope,
  type GapPayload,
  type PresenceMember,
  type PresencePayload,
} from "../protocol/envelope.js";
import { assertChannelName } from "../protocol/names.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { CursorTracker } from "./cursor-tracker.js";
import { joinPeers, type PeerSignal } from "./peers.js";
import { FetchEventSource, type FetchErrorDetail } from "./fetch-event-source.js";
import { randomId, refusalOf } from "./source-base.js";
import { createPollEventSource, routeBeside, type PollOptions } from "./poll-event-source.js";
import { failureCounts, TransportChooser, type NegotiationOptions, type TransportKind } from "./transport.js";
import { canTransition, type ConnectionState, type Transition } from "./state.js";
import type { EventSourceFactory, EventSourceLike, OnlineTarget, Timers, VisibilityTarget } from "./types.js";

/** Options for {@link createHeraldClient}. */
export interface HeraldClientOptions {
  /** The SSE endpoint, e.g. `/api/realtime/sse`. */
  url: string;
  /**
   * Returns a fresh single-use token; called before every (re)connect. When it throws or takes
   * longer than `tokenTimeoutMs`, the attempt counts as failed and is retried with backoff.
   */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Longest wait for `getToken`, in ms (default 10,000). */
  tokenTimeoutMs?: number;
  /**
   * Longest wait from opening a connection to the server's `herald:connected`, in ms (default
   * 20,000). A connection that gets no answer (a blackholed route) is then retried.
   */
  connectTimeoutMs?: number;
  /**
   * Silence after which an open connection counts as dead, in ms. Default: twice the heartbeat
   * interval the server announces, plus a margin of a quarter interval (at least 1 s, at most 5 s):
   * 9 s with the server's default 4 s heartbeat.
   * `false` turns the check off. Applies only when the transport lets the client see heartbeats
   * (the default fetch-based one does; the browser's EventSource only with `herald:heartbeat`).
   */
  livenessTimeoutMs?: number | false;
  /** Backoff settings (defaults: 1 s base, 30 s cap). */
  backoff?: BackoffOptions;
  /** Give up (state `failed`) after this many consecutive failed attempts (default: never). */
  maxAttempts?: number;
  /**
   * A connection that stayed up and kept receiving bytes this long resets the attempt count
   * (default 5,000 ms). Reconnects that follow a shorter connection keep counting.
   */
  stableAfterMs?: number;
  /** Wait this long after a subscription change before reconnecting, to batch changes (default 10 ms). */
  debounceMs?: number;
  /**
   * Unsubscribing from a channel while others stay reconnects only after this long (default
   * 5,000 ms), or sooner with the next new subscription: a task that ends and the next that starts
   * cost one reconnect, not two. Meanwhile the old channel's events are ignored.
   */
  removeDebounceMs?: number;
  /** Send cookies cross-origin. */
  withCredentials?: boolean;
  /** `fetch` for the client events sent over SSE and polling (default: the global one). */
  fetch?: typeof fetch;
  /**
   * EventSource implementation. Default: Herald's fetch-based one, which can tell a refused
   * connection's status (401/403 end in `failed`, 429 waits `Retry-After`); else the global one.
   */
  EventSource?: EventSourceFactory;
  /** Timers (default: the global ones). */
  timers?: Timers;
  /** Clock (default `Date.now`). */
  now?: () => number;
  /** Randomness for jitter (default `Math.random`). */
  random?: () => number;
  /** Where `online`/`offline` events come from (default: `window` when present). Pass null to disable. */
  onlineTarget?: OnlineTarget | null;
  /** Where `visibilitychange` comes from (default: `document` when present). Pass null to disable. */
  visibilityTarget?: VisibilityTarget | null;
  /**
   * Tabs of one origin following the same `url` share the news that the server is back: a tab
   * waiting out its backoff retries as soon as another tab connects (a `Retry-After` the server
   * asked for is still honoured). Default: true in a browser page (`BroadcastChannel`), false elsewhere.
   */
  crossTab?: boolean;
  /**
   * How to reach the server. `"sse"`: a stream only. `"poll"`: (long-)polling `…/poll` only.
   * `"auto"`: SSE, falling back to long-polling when streams fail to open several times in a row
   * or stay silent past `sseOpenTimeoutMs` (a buffering proxy), and back to SSE when a later probe
   * opens one. Default: `"auto"` when `url` ends in `/sse` (Herald's routes, which serve `/poll`
   * beside it) and no `EventSource` is given, else `"sse"`. `"ws"`: WebSocket (the Pusher protocol,
   * to `herald/pusher`), with the transport given as `ws`.
   */
  transport?: "sse" | "poll" | "auto" | "ws";
  /**
   * The WebSocket transport, for `transport: "ws"`:
   * `createWebSocketEventSource({ url: "wss://host/app/{key}", authEndpoint, pollUrl })` from the
   * transport's own entry (`client/ws`). Passed in rather than built here, so that apps on SSE and
   * polling do not ship it. Presence (`presence()`) and client
   * events (`send()`) work on it only.
   */
  ws?: EventSourceFactory;
  /** Polling settings (long-poll wait, idle backoff, floor). */
  poll?: Omit<PollOptions, "timers" | "visibilityTarget" | "random">;
  /** When to fall back and when to probe SSE again, in `"auto"` mode. */
  negotiation?: NegotiationOptions;
  /** In `"auto"` mode, how long an SSE attempt may take to open before it counts as buffered (default 5,000 ms). */
  sseOpenTimeoutMs?: number;
}

/** The transports the client speaks: {@link TransportKind} and `"ws"`. */
export type ClientTransport = TransportKind | "ws";

/** Who is on a presence channel, as {@link HeraldClient.presence} returns it. */
export interface PresenceState {
  /** One entry per user, in the order they joined (as this client saw it). */
  members: PresenceMember[];
  /** This client's own member (null until the subscription succeeded, or when unknown). */
  me: PresenceMember | null;
  /** `members.length`. */
  count: number;
}

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

interface Attempt {
  source: EventSourceLike;
  listeners: [string, (event: MessageEvent | Event) => void][];
  connected: boolean;
  /** The response head arrived (`open`): a server answered with a stream. */
  opened: boolean;
  /** Clock time of the last byte (or event) seen on this connection. */
  lastActivity: number;
  /** Heartbeat interval the server announced, in ms (0: unknown). */
  heartbeatMs: number;
  /** A `herald:heartbeat` event arrived: heartbeats are visible even if comments are not. */
  heartbeatEvents: boolean;
  /** Timer of the connect timeout (until `herald:connected`). */
  connectTimer: unknown;
  /** Which transport this attempt uses. */
  kind: ClientTransport;
  /** A try of SSE while polling works: its failure leaves the polling connection alone. */
  probe: boolean;
}

class TokenTimeout extends Error {}

/** Creates a client. It connects when the first channel is subscribed. */
export function createHeraldClient(
  options: HeraldClientOptions,
): HeraldClient & Required<Pick<HeraldClient, "presence" | "send">> {
  return new Client(options);
}

class Client implements HeraldClient, Required<Pick<HeraldClient, "presence" | "send">> {
  state: ConnectionState = "idle";
  attempt = 0;
  nextRetryAt: number | null = null;
  private readonly handlers = new Map<string, Set<EventHandler>>();
  private readonly listeners = new Map<keyof ClientEvents, Set<(payload: never) => void>>();
  private readonly tracker = new CursorTracker();
  private readonly ES: EventSourceFactory;
  private readonly PollES: EventSourceFactory;
  private readonly chooser: TransportChooser;
  private probeTimer: unknown = null;
  /** The transport last announced with a `transport` event. */
  private announced: ClientTransport | null = null;
  /** This client's id on the client events it sends over SSE and polling (its own come back with it). */
  private readonly clientId = randomId();
  /** The other tabs following this endpoint (see {@link HeraldClientOptions.crossTab}). */
  private peers: PeerSignal | null = null;
  /** The retry being waited for has a floor the server asked for (`Retry-After`). */
  private floored = false;
  /** An SSE stream reached `herald:connected` on this client at least once. */
  private streamed = false;
  /** Presence channels' members and own user id, and the state last handed out. */
  private readonly presences = new Map<
    string,
    { me: string | null; members: Map<string, unknown>; state: PresenceState | null }
  >();
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly onlineTarget: OnlineTarget | null;
  private readonly visibilityTarget: VisibilityTarget | null;
  private active: Attempt | null = null;
  /** A connection being opened while `active` still serves (channel changes: make before break). */
  private pending: Attempt | null = null;
  private retryTimer: unknown = null;
  private debounceTimer: unknown = null;
  private tokenTimer: unknown = null;
  private watchdogTimer: unknown = null;
  private watchdogDueAt = 0;
  /** When the state last became `connected` (0 when not connected). */
  private connectedSince = 0;
  /** Last byte seen on the active connection (for the stability rule). */
  private lastActivityAt = 0;
  private serverRetryMs: number | undefined;
  private retryAfterMs = 0;
  /** A 401 `token_expired`/`token_used` was retried once; a second one is final. */
  private staleTokenRetried = false;
  private generation = 0;

  constructor(private readonly options: HeraldClientOptions) {
    const ES =
      options.EventSource ??
      (typeof fetch === "function" && typeof TextDecoderStream === "function"
        ? FetchEventSource
        : (globalThis as { EventSource?: EventSourceFactory }).EventSource);
    if (!ES) throw new TypeError("herald/client: no EventSource available; pass options.EventSource");
    this.ES = ES;
    const routes = /\/sse\/?(\?|$)/.test(options.url) && !options.EventSource;
    const mode = options.transport ?? (routes ? "auto" : "sse");
    if (mode === "ws" && !options.ws)
      throw new TypeError('herald/client: transport "ws" needs options.ws = createWebSocketEventSource({ url })');
    this.chooser = new TransportChooser(mode === "ws" ? "sse" : mode, options.negotiation);
    this.timers = options.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
    };
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    const win = (globalThis as { window?: OnlineTarget }).window;
    this.onlineTarget = options.onlineTarget === undefined ? (win ?? null) : options.onlineTarget;
    this.onlineTarget?.addEventListener("online", this.onOnline);
    this.onlineTarget?.addEventListener("offline", this.onOffline);
    const doc = (globalThis as { document?: VisibilityTarget }).document;
    this.visibilityTarget =
      options.visibilityTarget === undefined
        ? doc && typeof doc.addEventListener === "function"
          ? doc
          : null
        : options.visibilityTarget;
    this.visibilityTarget?.addEventListener("visibilitychange", this.onVisibility);
    if (options.crossTab ?? doc !== undefined) {
      this.peers = joinPeers(
        new URL(options.url, (globalThis as { location?: { href: string } }).location?.href ?? "http://localhost/")
          .href,
        this.onPeerConnected,
      );
    }
    this.PollES = createPollEventSource({
      ...options.poll,
      timers: this.timers,
      visibilityTarget: this.visibilityTarget,
      random: this.random,
    });
  }

  get transport(): ClientTransport {
    return this.active?.kind ?? (this.options.transport === "ws" ? "ws" : this.chooser.next);
  }

  get cursor(): string | null {
    return this.tracker.cursor;
  }

  subscribe<T>(channel: string, handler: EventHandler<T>): () => void {
    assertChannelName(channel);
    // A programmer error (using the client after its lifetime): TypeError, not a HeraldError.
    if (this.state === "closed") throw new TypeError("herald/client: subscribe() after close()");
    let set = this.handlers.get(channel);
    const isNew = !set;
    if (!set) this.handlers.set(channel, (set = new Set()));
    set.add(handler as EventHandler);
    if (isNew) this.channelsChanged();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const current = this.handlers.get(channel);
      if (!current?.delete(handler as EventHandler)) return;
      if (current.size === 0) {
        this.handlers.delete(channel);
        this.presences.delete(channel);
        this.tracker.forget(channel);
        this.channelsChanged(this.handlers.size > 0);
      }
    };
  }

  on<K extends keyof ClientEvents>(type: K, listener: (payload: ClientEvents[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  presence(channel: string): PresenceState | null {
    const p = this.presences.get(channel);
    if (!p) return null;
    if (!p.state) {
      const members = [...p.members].map(([id, info]) => ({ id, info }));
      const me = members.find((m) => m.id === p.me) ?? null;
      p.state = { members, me, count: members.length };
    }
    return p.state;
  }

  send(channel: string, event: string, data: unknown): void {
    const source = this.active?.source as
      (EventSourceLike & { send?: (c: string, e: string, d: unknown) => void }) | undefined;
    if (!/^client-/.test(event)) throw new Error(`herald/client: client event names start with "client-" (${event})`);
    if (!/^(private|presence)-/.test(channel))
      throw new Error(`herald/client: client events go on private-* and presence-* channels only (${channel})`);
    if (!this.handlers.has(channel)) throw new Error(`herald/client: send() on ${channel}, which is not subscribed`);
    if (this.state !== "connected") throw new Error(`herald/client: send() while ${this.state}`);
    if (source?.send) return source.send(channel, event, data);
    // SSE and polling: up as a request (the server's `POST …/publish`), down on the stream, where
    // this client skips its own by `senderId`.
    void this.postClientEvent(channel, event, data);
  }

  /** `POST {base}/publish` with a client event; a refusal is reported as an `error` event. */
  private async postClientEvent(channel: string, event: string, data: unknown): Promise<void> {
    const href = routeBeside(this.options.url, "publish");
    try {
      const response = await (this.options.fetch ?? fetch)(href, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ channel, event, data, senderId: this.clientId }),
        credentials: this.options.withCredentials ? "include" : "same-origin",
      });
      if (response.ok) return;
      const refusal = await refusalOf(response);
      this.emit("error", {
        code: refusal.errorCode ?? "http_error",
        message: refusal.message ?? `client event refused (${response.status})`,
        status: response.status,
      });
    } catch (error) {
      this.emit("error", { code: "network", message: String((error as Error)?.message ?? error) });
    }
  }

  reconnect(): void {
    if (this.state === "closed") return;
    this.staleTokenRetried = false;
    this.attempt = 0;
    if (this.state === "idle" || this.handlers.size === 0) return;
    this.clearRetry();
    this.teardown();
    this.transition(this.state === "failed" ? "connecting" : "reconnecting", "retry", 0);
    void this.open();
  }

  close(): void {
    if (this.state === "closed") return;
    this.clearRetry();
    if (this.debounceTimer !== null) this.timers.clearTimeout(this.debounceTimer);
    this.debounceTimer = null;
    this.teardown();
    this.onlineTarget?.removeEventListener("online", this.onOnline);
    this.onlineTarget?.removeEventListener("offline", this.onOffline);
    this.visibilityTarget?.removeEventListener("visibilitychange", this.onVisibility);
    this.peers?.close();
    this.handlers.clear();
    this.transition("closed", "close", 0);
    this.listeners.clear();
  }

  // --- connection lifecycle -------------------------------------------------------------------

  /**
   * Subscriptions changed: after a short debounce, open a connection for the new channel set. A
   * removal (others staying) waits longer, unless a change is already due sooner.
   */
  private channelsChanged(removal = false): void {
    if (removal && this.debounceTimer !== null) return; // a change is already scheduled: it includes this one
    if (this.debounceTimer !== null) this.timers.clearTimeout(this.debounceTimer);
    const delay = removal ? (this.options.removeDebounceMs ?? 5000) : (this.options.debounceMs ?? 10);
    this.debounceTimer = this.timers.setTimeout(() => {
      this.debounceTimer = null;
      this.applyChannels();
    }, delay);
  }

  private applyChannels(): void {
    if (this.state === "closed") return;
    if (this.handlers.size === 0) {
      this.clearRetry();
      this.teardown();
      if (this.state !== "idle" && this.state !== "failed") this.transition("idle", "no_channels", 0);
      return;
    }
    if (this.state === "idle") {
      this.transition("connecting", "connect", 0);
      void this.open();
    } else if (this.state === "connected") {
      // Make before break: keep the current stream until the new one is live; duplicates are dropped.
      void this.open(true);
    } else if (this.state === "failed" || this.retryTimer !== null) {
      // Waiting to retry or gave up: the next attempt will use the new channel set.
    } else {
      this.teardown();
      void this.open();
    }
  }

  private async open(makeBeforeBreak = false, probe = false): Promise<void> {
    const generation = ++this.generation;
    let token: string | null | undefined = null;
    if (this.options.getToken) {
      try {
        token = await this.fetchToken();
      } catch (error) {
        if (generation !== this.generation || this.state === "closed") return;
        // Not final: the token route may be down with the rest of the network, or slow.
        const timeout = error instanceof TokenTimeout;
        const code = timeout ? "token_timeout" : "token_fetch_failed";
        this.emit("error", { code, message: String((error as Error)?.message ?? error) });
        this.teardown();
        this.scheduleRetry(code);
        return;
      }
    }
    if (generation !== this.generation || this.state === "closed" || this.handlers.size === 0) return;
    const kind: ClientTransport = probe
      ? "sse"
      : this.options.ws && this.options.transport === "ws"
        ? "ws"
        : this.chooser.next;
    const ES = kind === "ws" ? this.options.ws! : kind === "poll" ? this.PollES : this.ES;
    const source = new ES(this.buildUrl(token), { withCredentials: this.options.withCredentials ?? false });
    const attempt: Attempt = {
      kind,
      probe,
      source,
      listeners: [],
      connected: false,
      opened: false,
      lastActivity: this.now(),
      heartbeatMs: 0,
      heartbeatEvents: false,
      connectTimer: null,
    };
    const listen = (type: string, fn: (event: MessageEvent) => void): void => {
      const wrapped = (event: MessageEvent | Event): void => {
        this.touch(attempt);
        fn(event as MessageEvent);
      };
      attempt.listeners.push([type, wrapped]);
      source.addEventListener(type, wrapped);
    };
    listen("activity", () => undefined);
    listen("open", () => (attempt.opened = true));
    listen("message", (e) => this.onMessage(e));
    listen(CONTROL.connected, (e) => this.onConnected(attempt, e));
    listen(CONTROL.gap, (e) => this.onGap(e));
    listen(CONTROL.error, (e) => this.onServerError(e));
    listen(CONTROL.rotate, () => this.onRotate(attempt));
    listen(CONTROL.heartbeat, () => this.onHeartbeatEvent(attempt));
    listen(CONTROL.presence, (e) => this.onPresence(e));
    listen("error", (e) => this.onError(attempt, e));
    let connectTimeout = this.options.connectTimeoutMs ?? 20_000;
    if (kind === "sse" && this.chooser.mode === "auto") {
      connectTimeout = Math.min(connectTimeout, this.options.sseOpenTimeoutMs ?? 5000);
    }
    attempt.connectTimer = this.timers.setTimeout(() => {
      attempt.connectTimer = null;
      this.onConnectTimeout(attempt, connectTimeout);
    }, connectTimeout);
    if (makeBeforeBreak && this.active) {
      if (this.pending) this.dispose(this.pending);
      this.pending = attempt;
    } else {
      this.teardown();
      this.active = attempt;
    }
  }

  /** `getToken()`, failing with {@link TokenTimeout} when it takes longer than `tokenTimeoutMs`. */
  private fetchToken(): Promise<string | null | undefined> {
    const ms = this.options.tokenTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        if (this.tokenTimer === timer) this.tokenTimer = null;
        reject(new TokenTimeout(`getToken took longer than ${ms} ms`));
      }, ms);
      this.tokenTimer = timer;
      const settle = (): void => {
        this.timers.clearTimeout(timer);
        if (this.tokenTimer === timer) this.tokenTimer = null;
      };
      Promise.resolve()
        .then(() => this.options.getToken!())
        .then(
          (value) => {
            settle();
            resolve(value);
          },
          (error: unknown) => {
            settle();
            reject(error instanceof Error ? error : new Error(String(error)));
          },
        );
    });
  }

  private buildUrl(token: string | null | undefined): string {
    const base = (globalThis as { location?: { href: string } }).location?.href ?? "http://localhost/";
    const url = new URL(this.options.url, base);
    for (const channel of [...this.handlers.keys()].sort()) url.searchParams.append("channel", channel);
    if (this.tracker.cursor) url.searchParams.set("lastEventId", this.tracker.cursor);
    if (token) url.searchParams.set("token", token);
    return /^[a-z]+:\/\//i.test(this.options.url) ? url.href : url.pathname + url.search;
  }

  private onConnected(attempt: Attempt, event: MessageEvent): void {
    const payload = parse<ConnectedPayload>(event);
    if (!payload) return;
    if (attempt !== this.active && attempt !== this.pending) return;
    attempt.connected = true;
    this.clearConnectTimer(attempt);
    this.clearRetry();
    if (this.pending === attempt) {
      if (this.active) this.dispose(this.active);
      this.active = attempt;
      this.pending = null;
    }
    this.tracker.advance(payload.cursor);
    this.serverRetryMs = payload.retry;
    this.retryAfterMs = 0;
    this.staleTokenRetried = false;
    attempt.heartbeatMs = typeof payload.heartbeat === "number" && payload.heartbeat > 0 ? payload.heartbeat : 0;
    // A server that announces its interval sends heartbeats as `herald:heartbeat` events, which
    // every EventSource implementation shows: silence is observable from the first byte.
    if (attempt.heartbeatMs > 0) attempt.heartbeatEvents = true;
    this.lastActivityAt = attempt.lastActivity;
    this.nextRetryAt = null;
    if (this.state !== "connected") {
      this.connectedSince = this.now();
      this.transition("connected", "open", 0);
    }
    this.armWatchdog();
    if (attempt.kind !== "ws") this.chooser.opened(attempt.kind);
    if (attempt.kind === "sse") this.streamed = true;
    this.armProbe();
    if (this.announced !== attempt.kind) {
      this.announced = attempt.kind;
      this.emit("transport", attempt.kind);
    }
    this.emit("connected", payload);
    this.peers?.announce();
  }

  /** While polling in `"auto"` mode, tries SSE again later (make before break: polling goes on meanwhile). */
  private armProbe(): void {
    if (this.probeTimer !== null) this.timers.clearTimeout(this.probeTimer);
    this.probeTimer = null;
    if (!this.chooser.probes || this.active?.kind !== "poll") return;
    this.probeTimer = this.timers.setTimeout(() => {
      this.probeTimer = null;
      if (this.state === "connected" && this.active?.kind === "poll" && !this.pending) void this.open(true, true);
    }, this.chooser.probeAfterMs);
  }

  /** A probe failed: drop it, keep polling, probe again later. True when `attempt` was one. */
  private probeFailed(attempt: Attempt): boolean {
    if (!attempt.probe || attempt !== this.pending) return false;
    this.dispose(attempt);
    this.pending = null;
    this.chooser.probeFailed();
    this.armProbe();
    return true;
  }

  private onMessage(event: MessageEvent): void {
    const envelope = parse<EventEnvelope>(event);
    if (!envelope || typeof envelope.channel !== "string") return;
    if (!this.tracker.accept(envelope.channel, envelope.id)) return;
    if (envelope.senderId === this.clientId) return; // this client's own client event
    const set = this.handlers.get(envelope.channel);
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

  private onGap(event: MessageEvent): void {
    const payload = parse<GapPayload>(event);
    if (!payload) return;
    this.tracker.forget(payload.channel);
    this.emit("gap", payload);
  }

  private onPresence(event: MessageEvent): void {
    const payload = parse<PresencePayload>(event);
    if (!payload || !this.handlers.has(payload.channel)) return;
    let p = this.presences.get(payload.channel);
    if (payload.type === "members" || !p) {
      p = { me: payload.me ?? p?.me ?? null, members: new Map(), state: null };
      this.presences.set(payload.channel, p);
    }
    for (const m of payload.members ?? []) p.members.set(m.id, m.info);
    if (payload.member) {
      if (payload.type === "added") p.members.set(payload.member.id, payload.member.info);
      else p.members.delete(payload.member.id);
    }
    p.state = null;
    this.emit("presence", payload);
  }

  private onServerError(event: MessageEvent): void {
    const payload = parse<ErrorPayload>(event);
    if (payload) this.emit("error", payload);
  }

  private onRotate(attempt: Attempt): void {
    if (attempt !== this.active) return;
    this.dispose(attempt);
    this.active = null;
    this.transition("reconnecting", "rotate", 0);
    void this.open();
  }

  private onHeartbeatEvent(attempt: Attempt): void {
    if (attempt.heartbeatEvents) return;
    attempt.heartbeatEvents = true;
    if (attempt === this.active) this.armWatchdog();
  }

  private onError(attempt: Attempt, event: Event): void {
    if (attempt !== this.active && attempt !== this.pending) return;
    if (this.probeFailed(attempt)) return;
    const { code: status, retryAfter, errorCode, message } = event as Event & FetchErrorDetail;
    if (!attempt.connected && attempt.kind !== "ws" && failureCounts(attempt.kind, attempt.opened, status))
      this.chooser.failedToOpen(attempt.kind, false);
    // Whichever stream failed, start over from the cursor: when a replacement for a channel change
    // fails, the old stream goes too, so a refused channel ends in `failed` (401/403) or backs off
    // like any failure instead of retrying in a tight loop.
    this.teardown();
    if (typeof status === "number") {
      const code = errorCode ?? (status === 401 ? "unauthorized" : status === 403 ? "forbidden" : "http_error");
      this.emit("error", { code, message: message ?? `connection refused (${status})`, status });
      if (status === 401 || status === 403) {
        // A token that was stale when it arrived (expired or already used) may be the getter's
        // fault: one more attempt with a fresh one. Otherwise a fresh token was just refused, and
        // retrying would fail the same way.
        const stale = errorCode === "token_expired" || errorCode === "token_used";
        if (!stale || this.staleTokenRetried) {
          this.fail(code);
          return;
        }
        this.staleTokenRetried = true;
      } else if (status === 400 || status === 414) {
        // A malformed request or a refused channel set: the next attempt would send the same.
        this.fail(code);
        return;
      }
    }
    if (typeof retryAfter === "number" && retryAfter > 0) this.retryAfterMs = retryAfter * 1000;
    this.scheduleRetry(attempt.connected ? "error" : (errorCode ?? "connect_failed"));
  }

  private onConnectTimeout(attempt: Attempt, ms: number): void {
    if (attempt !== this.active && attempt !== this.pending) return;
    if (attempt.connected) return;
    if (this.probeFailed(attempt)) return;
    // No stream within the open timeout. On SSE in "auto" mode that is a buffering proxy when the
    // head arrived, or when no stream ever opened here; a server that streamed before and is silent
    // now is more likely restarting or compiling (`next dev`): one failure, not a verdict.
    if (attempt.kind !== "ws") {
      const buffered = attempt.kind === "sse" && (attempt.opened || !this.streamed);
      this.chooser.failedToOpen(attempt.kind, buffered);
    }
    this.emit("error", { code: "connect_timeout", message: `no answer from the server within ${ms} ms` });
    this.teardown();
    this.scheduleRetry("connect_timeout");
  }

  // --- liveness -------------------------------------------------------------------------------

  private touch(attempt: Attempt): void {
    attempt.lastActivity = this.now();
    if (attempt === this.active) this.lastActivityAt = attempt.lastActivity;
  }

  /** The silence after which `attempt` counts as dead, or null when it cannot be observed. */
  private livenessTimeout(attempt: Attempt): number | null {
    const option = this.options.livenessTimeoutMs;
    if (option === false || !this.observable(attempt)) return null;
    if (typeof option === "number" && option > 0) return option;
    const hb = attempt.heartbeatMs;
    if (!(hb > 0)) return null;
    return 2 * hb + Math.min(5000, Math.max(1000, hb / 4));
  }

  private observable(attempt: Attempt): boolean {
    return attempt.source.reportsActivity === true || attempt.heartbeatEvents;
  }

  private armWatchdog(): void {
    this.clearWatchdog();
    const attempt = this.active;
    if (!attempt || this.state !== "connected") return;
    const timeout = this.livenessTimeout(attempt);
    if (timeout === null) return;
    const delay = Math.max(0, attempt.lastActivity + timeout - this.now());
    this.watchdogDueAt = this.now() + delay;
    this.watchdogTimer = this.timers.setTimeout(() => {
      this.watchdogTimer = null;
      this.checkLiveness(this.now() - this.watchdogDueAt);
    }, delay);
  }

  /**
   * Closes the active connection when it has been silent too long, or when the check itself ran
   * far later than scheduled (the machine slept or the page was frozen: whatever the socket says,
   * it cannot be trusted). `lateMs` is how late the timer fired (0 for checks on page events).
   */
  private checkLiveness(lateMs: number): void {
    const attempt = this.active;
    if (!attempt || this.state !== "connected") return;
    const timeout = this.livenessTimeout(attempt);
    if (timeout === null) return;
    if (attempt.source.paused === true) {
      // Quiet on purpose (polling on a hidden page): it resumes, and is checked, when shown.
      this.touch(attempt);
      this.armWatchdog();
      return;
    }
    const silent = this.now() - attempt.lastActivity;
    const slept = lateMs >= Math.max(2 * timeout, 120_000);
    if (silent >= timeout || slept) {
      const reason = slept ? "wake" : "stalled";
      this.emit("error", {
        code: reason,
        message: slept
          ? `the page was suspended for ${Math.round(lateMs / 1000)} s; resuming from the cursor`
          : `no bytes for ${silent} ms (limit ${timeout} ms); the connection is dead`,
      });
      this.teardown();
      this.scheduleRetry(reason);
      return;
    }
    this.armWatchdog();
  }

  private clearWatchdog(): void {
    if (this.watchdogTimer !== null) this.timers.clearTimeout(this.watchdogTimer);
    this.watchdogTimer = null;
  }

  // --- retries --------------------------------------------------------------------------------

  /**
   * Resets the attempt count if the connection we are leaving stayed up, receiving bytes, for
   * `stableAfterMs`. (A transport that cannot report bytes counts the time it was open.)
   */
  private settleStability(): void {
    if (this.state !== "connected" || this.connectedSince === 0) return;
    const active = this.active;
    const lastAlive = active && !this.observable(active) ? this.now() : this.lastActivityAt || this.now();
    if (lastAlive - this.connectedSince >= (this.options.stableAfterMs ?? 5000)) this.attempt = 0;
    this.connectedSince = 0; // judged once per connection
  }

  private scheduleRetry(reason: string): void {
    this.settleStability();
    this.clearRetry();
    const max = this.options.maxAttempts ?? Infinity;
    if (this.attempt >= max) {
      this.fail("max_attempts");
      return;
    }
    const backoff = { ...this.options.backoff };
    if (this.serverRetryMs !== undefined && this.options.backoff?.baseMs === undefined)
      backoff.baseMs = this.serverRetryMs;
    // Retry-After (429, 503) is a floor; jitter on top of it keeps a crowd from returning at once.
    const jitter = backoffDelay(this.attempt, backoff, this.random);
    const delay = this.retryAfterMs > 0 ? this.retryAfterMs + Math.round(jitter / 4) : jitter;
    this.floored = this.retryAfterMs > 0;
    this.retryAfterMs = 0;
    this.attempt++;
    this.nextRetryAt = this.now() + delay;
    this.transition("reconnecting", reason, delay);
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      this.nextRetryAt = null;
      void this.open();
    }, delay);
  }

  private fail(reason: string): void {
    this.clearRetry();
    this.teardown();
    this.nextRetryAt = null;
    this.transition("failed", reason, 0);
  }

  /** Leaves `failed` (or skips a backoff wait) because something outside says "try now". */
  private retryNow(reason: string): void {
    if (this.state === "closed" || this.handlers.size === 0) return;
    if (this.state === "failed") {
      this.attempt = 0;
      this.transition("connecting", reason, 0);
      void this.open();
    } else if (this.state === "reconnecting" && this.retryTimer !== null) {
      this.clearRetry();
      this.transition("reconnecting", reason, 0);
      void this.open();
    }
  }

  private readonly onOnline = (): void => {
    if (this.state === "reconnecting" && this.retryTimer === null) {
      // An attempt is in flight, started on the old network: start it again on the new one.
      this.teardown();
      this.transition("reconnecting", "online", 0);
      void this.open();
      return;
    }
    if (this.state === "connected") this.checkLiveness(0);
    else this.retryNow("online");
  };

  private readonly onOffline = (): void => {
    if (this.state !== "connected" && this.state !== "connecting" && this.state !== "reconnecting") return;
    if (this.retryTimer !== null) return; // already waiting
    // No point waiting for the heartbeat to time out: the stream is gone. Keep retrying with
    // backoff (`offline` can be wrong), and at once on `online`.
    this.teardown();
    this.scheduleRetry("offline");
  };

  private readonly onPeerConnected = (): void => {
    if (this.state === "reconnecting" && this.retryTimer !== null && !this.floored) this.retryNow("peer");
  };

  private readonly onVisibility = (): void => {
    if (this.visibilityTarget?.visibilityState !== "visible") return;
    if (this.state === "connected") this.checkLiveness(0);
    else this.retryNow("visible");
  };

  private clearRetry(): void {
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private clearConnectTimer(attempt: Attempt): void {
    if (attempt.connectTimer !== null) this.timers.clearTimeout(attempt.connectTimer);
    attempt.connectTimer = null;
  }

  private teardown(): void {
    this.generation++;
    if (this.probeTimer !== null) this.timers.clearTimeout(this.probeTimer);
    this.probeTimer = null;
    if (this.tokenTimer !== null) this.timers.clearTimeout(this.tokenTimer);
    this.tokenTimer = null;
    this.clearWatchdog();
    if (this.active) this.dispose(this.active);
    if (this.pending) this.dispose(this.pending);
    this.active = null;
    this.pending = null;
  }

  private dispose(attempt: Attempt): void {
    this.clearConnectTimer(attempt);
    for (const [type, fn] of attempt.listeners) attempt.source.removeEventListener(type, fn);
    attempt.listeners = [];
    attempt.source.close();
  }

  private transition(next: ConnectionState, reason: string, delayMs: number): void {
    const prev = this.state;
    if (prev === next && next !== "reconnecting") return;
    if (prev !== next && !canTransition(prev, next))
      throw new Error(`herald/client: illegal transition ${prev} → ${next}`); // an internal invariant
    if (prev === "connected" && next !== "connected") {
      this.settleStability();
      this.clearWatchdog();
    }
    this.state = next;
    this.emit("state", { prev, next, reason, attempt: this.attempt, delayMs });
  }

  private emit<K extends keyof ClientEvents>(type: K, payload: ClientEvents[K]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) (listener as (p: ClientEvents[K]) => void)(payload);
  }
}

function parse<T>(event: MessageEvent | Event): T | null {
  try {
    return JSON.parse((event as MessageEvent).data as string) as T;
  } catch {
    return null;
  }
}
