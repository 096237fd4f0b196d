/**
 * The browser client: one multiplexed SSE connection for any number of channels, its own
 * reconnection (backoff with full jitter, fresh token per attempt, resume from the cursor), and an
 * observable state machine. Works with the browser's EventSource or any compatible one.
 */
import {
  CONTROL,
  type ConnectedPayload,
  type ErrorPayload,
  type EventEnvelope,
  type GapPayload,
} from "../protocol/envelope.js";
import { assertChannelName } from "../protocol/names.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { CursorTracker } from "./cursor-tracker.js";
import { FetchEventSource, type FetchErrorDetail } from "./fetch-event-source.js";
import { canTransition, type ConnectionState, type Transition } from "./state.js";
import type { EventSourceFactory, EventSourceLike, OnlineTarget, Timers } from "./types.js";

/** Options for {@link createHeraldClient}. */
export interface HeraldClientOptions {
  /** The SSE endpoint, e.g. `/api/realtime/sse`. */
  url: string;
  /** Returns a fresh single-use token; called before every (re)connect. */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /** Backoff settings (defaults: 1 s base, 30 s cap). */
  backoff?: BackoffOptions;
  /** Give up (state `failed`) after this many consecutive failed attempts (default: never). */
  maxAttempts?: number;
  /** A connection that stayed up this long resets the attempt count (default 5,000 ms). */
  stableAfterMs?: number;
  /** Wait this long after a subscription change before reconnecting, to batch changes (default 10 ms). */
  debounceMs?: number;
  /** Send cookies cross-origin. */
  withCredentials?: boolean;
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
  /** Where `online` events come from (default: `window` when present). Pass null to disable. */
  onlineTarget?: OnlineTarget | null;
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
  /** Follows `channel`; returns a function that stops following it. */
  subscribe<T = unknown>(channel: string, handler: EventHandler<T>): () => void;
  /** Listens to client events; returns a function that removes the listener. */
  on<K extends keyof ClientEvents>(type: K, listener: (payload: ClientEvents[K]) => void): () => void;
  /** Reconnects now (after `failed`, or to skip a backoff wait). */
  reconnect(): void;
  /** Closes the connection and releases every timer and listener. Final. */
  close(): void;
}

interface Attempt {
  source: EventSourceLike;
  listeners: [string, (event: MessageEvent | Event) => void][];
  connected: boolean;
}

/** Creates a client. It connects when the first channel is subscribed. */
export function createHeraldClient(options: HeraldClientOptions): HeraldClient {
  return new Client(options);
}

class Client implements HeraldClient {
  state: ConnectionState = "idle";
  attempt = 0;
  nextRetryAt: number | null = null;
  private readonly handlers = new Map<string, Set<EventHandler>>();
  private readonly listeners = new Map<keyof ClientEvents, Set<(payload: never) => void>>();
  private readonly tracker = new CursorTracker();
  private readonly ES: EventSourceFactory;
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly onlineTarget: OnlineTarget | null;
  private active: Attempt | null = null;
  /** A connection being opened while `active` still serves (channel changes: make before break). */
  private pending: Attempt | null = null;
  private retryTimer: unknown = null;
  private debounceTimer: unknown = null;
  private connectedAt = 0;
  private serverRetryMs: number | undefined;
  private retryAfterMs = 0;
  private generation = 0;

  constructor(private readonly options: HeraldClientOptions) {
    const ES =
      options.EventSource ??
      (typeof fetch === "function" && typeof TextDecoderStream === "function"
        ? FetchEventSource
        : (globalThis as { EventSource?: EventSourceFactory }).EventSource);
    if (!ES) throw new TypeError("herald/client: no EventSource available; pass options.EventSource");
    this.ES = ES;
    this.timers = options.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
    };
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    const win = (globalThis as { window?: OnlineTarget }).window;
    this.onlineTarget = options.onlineTarget === undefined ? (win ?? null) : options.onlineTarget;
    this.onlineTarget?.addEventListener("online", this.onOnline);
  }

  get cursor(): string | null {
    return this.tracker.cursor;
  }

  subscribe<T>(channel: string, handler: EventHandler<T>): () => void {
    assertChannelName(channel);
    if (this.state === "closed") throw new Error("herald/client: subscribe() after close()");
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
        this.tracker.forget(channel);
        this.channelsChanged();
      }
    };
  }

  on<K extends keyof ClientEvents>(type: K, listener: (payload: ClientEvents[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  reconnect(): void {
    if (this.state === "closed" || this.handlers.size === 0) return;
    this.clearRetry();
    if (this.state === "failed") this.attempt = 0;
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
    this.handlers.clear();
    this.transition("closed", "close", 0);
    this.listeners.clear();
  }

  // --- connection lifecycle -------------------------------------------------------------------

  /** Subscriptions changed: after a short debounce, open a connection for the new channel set. */
  private channelsChanged(): void {
    if (this.debounceTimer !== null) this.timers.clearTimeout(this.debounceTimer);
    this.debounceTimer = this.timers.setTimeout(() => {
      this.debounceTimer = null;
      this.applyChannels();
    }, this.options.debounceMs ?? 10);
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

  private async open(makeBeforeBreak = false): Promise<void> {
    const generation = ++this.generation;
    let token: string | null | undefined = null;
    if (this.options.getToken) {
      try {
        token = await this.options.getToken();
      } catch (error) {
        if (generation !== this.generation || this.state === "closed") return;
        this.emit("error", { code: "token_fetch_failed", message: String((error as Error)?.message ?? error) });
        this.fail("token_fetch_failed");
        return;
      }
    }
    if (generation !== this.generation || this.state === "closed" || this.handlers.size === 0) return;
    const source = new this.ES(this.buildUrl(token), { withCredentials: this.options.withCredentials ?? false });
    const attempt: Attempt = { source, listeners: [], connected: false };
    const listen = (type: string, fn: (event: MessageEvent) => void): void => {
      const wrapped = fn as (event: MessageEvent | Event) => void;
      attempt.listeners.push([type, wrapped]);
      source.addEventListener(type, wrapped);
    };
    listen("message", (e) => this.onMessage(e));
    listen(CONTROL.connected, (e) => this.onConnected(attempt, e));
    listen(CONTROL.gap, (e) => this.onGap(e));
    listen(CONTROL.error, (e) => this.onServerError(e));
    listen(CONTROL.rotate, () => this.onRotate(attempt));
    listen("error", (e) => this.onError(attempt, e));
    if (makeBeforeBreak && this.active) {
      if (this.pending) this.dispose(this.pending);
      this.pending = attempt;
    } else {
      this.teardown();
      this.active = attempt;
    }
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
    attempt.connected = true;
    this.clearRetry();
    if (this.pending === attempt) {
      if (this.active) this.dispose(this.active);
      this.active = attempt;
      this.pending = null;
    }
    this.tracker.advance(payload.cursor);
    this.serverRetryMs = payload.retry;
    this.retryAfterMs = 0;
    this.connectedAt = this.now();
    this.nextRetryAt = null;
    if (this.state !== "connected") this.transition("connected", "open", 0);
    this.emit("connected", payload);
  }

  private onMessage(event: MessageEvent): void {
    const envelope = parse<EventEnvelope>(event);
    if (!envelope || typeof envelope.channel !== "string") return;
    if (!this.tracker.accept(envelope.channel, envelope.id)) return;
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

  private onError(attempt: Attempt, event: Event): void {
    if (attempt !== this.active && attempt !== this.pending) return;
    // Whichever stream failed, start over from the cursor: when a replacement for a channel change
    // fails, the old stream goes too, so a refused channel ends in `failed` (401/403) or backs off
    // like any failure instead of retrying in a tight loop.
    this.teardown();
    const { code: status, retryAfter, errorCode, message } = event as Event & FetchErrorDetail;
    if (typeof status === "number") {
      const code = errorCode ?? (status === 401 ? "unauthorized" : status === 403 ? "forbidden" : `http_${status}`);
      this.emit("error", { code, message: message ?? `connection refused (${status})`, status });
      if (status === 401 || status === 403) {
        // Terminal: a fresh token was just used, so retrying would fail the same way.
        this.fail(code);
        return;
      }
    }
    if (typeof retryAfter === "number" && retryAfter > 0) this.retryAfterMs = retryAfter * 1000;
    this.scheduleRetry(attempt.connected ? "error" : (errorCode ?? "connect_failed"));
  }

  private scheduleRetry(reason: string): void {
    if (this.connectedAt !== 0 && this.now() - this.connectedAt >= (this.options.stableAfterMs ?? 5000)) {
      this.attempt = 0;
    }
    this.connectedAt = 0;
    const max = this.options.maxAttempts ?? Infinity;
    if (this.attempt >= max) {
      this.fail("max_attempts");
      return;
    }
    const backoff = { ...this.options.backoff };
    if (this.serverRetryMs !== undefined && this.options.backoff?.baseMs === undefined)
      backoff.baseMs = this.serverRetryMs;
    // Retry-After (429) is a floor; jitter on top of it keeps a crowd from returning at once.
    const jitter = backoffDelay(this.attempt, backoff, this.random);
    const delay = this.retryAfterMs > 0 ? this.retryAfterMs + Math.round(jitter / 4) : jitter;
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

  private readonly onOnline = (): void => {
    if (this.retryTimer === null || this.state !== "reconnecting") return;
    this.clearRetry();
    this.transition("reconnecting", "online", 0);
    void this.open();
  };

  private clearRetry(): void {
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private teardown(): void {
    this.generation++;
    if (this.active) this.dispose(this.active);
    if (this.pending) this.dispose(this.pending);
    this.active = null;
    this.pending = null;
  }

  private dispose(attempt: Attempt): void {
    for (const [type, fn] of attempt.listeners) attempt.source.removeEventListener(type, fn);
    attempt.listeners = [];
    attempt.source.close();
  }

  private transition(next: ConnectionState, reason: string, delayMs: number): void {
    const prev = this.state;
    if (prev === next && next !== "reconnecting") return;
    if (prev !== next && !canTransition(prev, next))
      throw new Error(`herald/client: illegal transition ${prev} → ${next}`);
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
