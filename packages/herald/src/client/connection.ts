/**
 * The connection: one multiplexed stream (SSE, long-poll or WebSocket) for the channels its host
 * asks for, with its own reconnection (backoff with full jitter, a fresh token per attempt, resume
 * from the host's cursor) and the state machine. It reads only what it needs from the frames
 * (`herald:connected`, `herald:rotate`, heartbeats) and hands every event to its host, which
 * dispatches (the client) or forwards them to other tabs (a shared connection's leader).
 *
 * A change of the channel set is applied on the open connection when the transport can
 * (`EventSourceLike.update`: SSE attaches channels to its stream, polling uses the next request,
 * WebSocket subscribes), else by opening a new connection before closing the old one.
 *
 * Liveness: the server announces its heartbeat interval in `herald:connected`; a connection on
 * which no byte arrives for about two intervals (plus a margin) is closed and resumed from the
 * cursor, and a check that runs far later than scheduled (the machine slept) does the same.
 * `offline` drops the connection at once; `online`, a page coming back and another tab of the
 * origin connecting to the same endpoint retry at once.
 */
import { CONTROL, type ConnectedPayload, type ErrorPayload } from "../protocol/envelope.js";
import { backoffDelay } from "./backoff.js";
import type { ClientTransport, HeraldClientOptions, TokenResult } from "./options.js";
import { decide } from "./failure.js";
import type { EventSourceFactory, EventSourceLike, FetchErrorDetail, Timers } from "./types.js";
import { watchPage, type PageSignals } from "./page-signals.js";
import { canTransition, type ConnectionState, type Transition } from "./state.js";
import { pageHref } from "./routes.js";
import { parseJson } from "./source-base.js";
import { Timer, timersOf } from "./timer.js";
import { failureCounts, TransportChooser } from "./transport.js";

/** What a {@link Connection} reads from and reports to the one that owns it. */
export interface ConnectionHost {
  /** The channels to carry. */
  channels(): string[];
  /** The cursor to resume from. */
  resumeCursor(): string | null;
  /** An event the source dispatched (`message` or a Herald control event), with its raw data. */
  frame(type: string, data: string): void;
  /** A state change. */
  changed(transition: Transition): void;
  /** An error the client noticed itself (a refusal, a timeout, a stall). */
  error(payload: ErrorPayload): void;
  /** The transport of the connection that just opened changed. */
  transported(kind: ClientTransport): void;
  /**
   * The user a token was issued for, when `getToken` says it. Returning false drops the attempt
   * (the host moves to another user's connection).
   */
  identity?(userId: string | null): boolean;
  /** The server refused `channel` on the open connection (which stays): leave it out of `channels()`. */
  refused?(channel: string): void;
  /**
   * Where the catch-up of `channels`, added to the open connection, starts: the cursor when they
   * were first wanted (the oldest), so that what they got between then and now is not missed.
   * Null: the connection's cursor.
   */
  since?(channels: string[]): string | null;
}

/** How a client reaches its connection: its own ({@link Connection}) or another tab's (`SharedLink`). */
export interface Link {
  readonly attempt: number;
  readonly nextRetryAt: number | null;
  readonly transport: ClientTransport;
  /** The host's channel set changed; `removal` when channels went and others stay. */
  channelsChanged(removal: boolean): void;
  reconnect(): void;
  /** Sends a client event over the socket when the transport has one; false otherwise. */
  sendOnSocket(channel: string, event: string, data: unknown): boolean;
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
  /** Until `herald:connected`. */
  connectTimer: Timer;
  kind: ClientTransport;
  /** A try of SSE while polling works: its failure leaves the polling connection alone. */
  probe: boolean;
  /** The channels this connection carries (as opened, then as changed in place). */
  channels: string[];
}

class TokenTimeout extends Error {}
/** The token was issued for another user than the host's: the host drops this connection. */
class IdentityChanged extends Error {}

/** The token and, when `getToken` tells it, the user it is for. */
export function tokenOf(result: TokenResult): { token: string | null; userId?: string | null } {
  if (result && typeof result === "object") return { token: result.token ?? null, userId: result.userId ?? null };
  return { token: result ?? null };
}

/** The frames the host gets (every other one is the connection's own business). */
const FORWARDED = ["message", CONTROL.gap, CONTROL.error, CONTROL.presence] as const;

/** See the module comment. */
export class Connection implements Link {
  state: ConnectionState = "idle";
  attempt = 0;
  nextRetryAt: number | null = null;
  /** The user the last token from `getToken` was issued for, when it said (undefined: not told). */
  userId: string | null | undefined;
  readonly #ES: EventSourceFactory;
  /** The long-poll source, loaded the first time polling is chosen (apps on SSE never load it). */
  #PollES: EventSourceFactory | null = null;
  readonly #chooser: TransportChooser;
  readonly #timers: Timers;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #page: PageSignals;
  readonly #probeTimer: Timer;
  readonly #retryTimer: Timer;
  readonly #debounceTimer: Timer;
  readonly #tokenTimer: Timer;
  readonly #watchdog: Timer;
  /** The transport last announced. */
  #announced: ClientTransport | null = null;
  /** The retry being waited for has a floor the server asked for (`Retry-After`). */
  #floored = false;
  /** An SSE stream reached `herald:connected` here at least once. */
  #streamed = false;
  #active: Attempt | null = null;
  /** A connection being opened while `active` still serves (make before break). */
  #pending: Attempt | null = null;
  /** A token got before the first attempt (the host asked who the user is), used once. */
  #firstToken: { token: string | null } | null = null;
  /** When the state last became `connected` (0 when not connected). */
  #connectedSince = 0;
  /** Last byte seen on the active connection (for the stability rule). */
  #lastActivityAt = 0;
  #serverRetryMs: number | undefined;
  #retryAfterMs = 0;
  /** A 401 `token_expired`/`token_used` was retried once; a second one is final. */
  #staleTokenRetried = false;
  #generation = 0;
  /** An in-place channel change is in flight; another one waits for it. */
  #retargeting = false;
  #retargetAgain = false;

  readonly #options: HeraldClientOptions;
  #host: ConnectionHost;

  constructor(options: HeraldClientOptions, host: ConnectionHost, EventSource: EventSourceFactory) {
    this.#options = options;
    this.#host = host;
    this.#ES = EventSource;
    const routes = /\/sse\/?(\?|$)/.test(options.url) && !options.EventSource;
    const mode = options.transport ?? (routes ? "auto" : "sse");
    this.#chooser = new TransportChooser(mode === "ws" ? "sse" : mode, options.negotiation);
    this.#timers = timersOf(options.timers);
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#probeTimer = new Timer(this.#timers);
    this.#retryTimer = new Timer(this.#timers);
    this.#debounceTimer = new Timer(this.#timers);
    this.#tokenTimer = new Timer(this.#timers);
    this.#watchdog = new Timer(this.#timers);
    const doc = (globalThis as { document?: unknown }).document;
    this.#page = watchPage(
      {
        onlineTarget: options.onlineTarget,
        visibilityTarget: options.visibilityTarget,
        peersKey: (options.crossTab ?? doc !== undefined) ? new URL(options.url, pageHref()).href : null,
      },
      {
        online: this.#onOnline,
        offline: this.#onOffline,
        visible: this.#onVisible,
        peerConnected: () => {
          if (this.state === "reconnecting" && this.#retryTimer.armed && !this.#floored) this.#retryNow("peer");
        },
      },
    );
  }

  /** The transport of the current (or next) connection. */
  get transport(): ClientTransport {
    return this.#active?.kind ?? (this.#options.transport === "ws" ? "ws" : this.#chooser.next);
  }

  /** Sends a client event over the socket when the transport has one; false otherwise. */
  sendOnSocket(channel: string, event: string, data: unknown): boolean {
    const source = this.#active?.source as
      (EventSourceLike & { send?: (c: string, e: string, d: unknown) => void }) | undefined;
    if (!source?.send) return false;
    source.send(channel, event, data);
    return true;
  }

  /**
   * Hands the connection, open or not, to another host (a tab's own connection taken over by the
   * shared connection, `shared.ts`): from now on it reads from and reports to `host`.
   */
  hostedBy(host: ConnectionHost): void {
    this.#host = host;
  }

  /** Uses `token` (got by the host to learn the user) for the first attempt instead of asking again. */
  useToken(token: string | null): void {
    this.#firstToken = { token };
  }

  /**
   * The channel set changed: after a short debounce, apply it. A removal (others staying) waits
   * longer (`removeDebounceMs`), unless a change is already due sooner.
   */
  channelsChanged(removal = false): void {
    if (removal && this.#debounceTimer.armed) return; // a change is already scheduled: it includes this one
    const delay = removal ? (this.#options.removeDebounceMs ?? 5000) : (this.#options.debounceMs ?? 10);
    this.#debounceTimer.set(delay, () => this.#applyChannels());
  }

  /** Reconnects now with a fresh token, whatever the state, and starts the attempt count over. */
  reconnect(): void {
    if (this.state === "closed") return;
    this.#staleTokenRetried = false;
    this.attempt = 0;
    if (this.state === "idle" || this.#host.channels().length === 0) return;
    this.#retryTimer.clear();
    this.#teardown();
    this.#transition(this.state === "failed" ? "connecting" : "reconnecting", "retry", 0);
    void this.#open();
  }

  /**
   * Closes the connection and releases every timer and listener. Final. `quiet`: without telling
   * the host, whose state goes on (a tab letting go of its connection for the back/forward cache).
   */
  close(quiet = false): void {
    if (this.state === "closed") return;
    this.#retryTimer.clear();
    this.#debounceTimer.clear();
    this.#teardown();
    this.#page.close();
    if (quiet) this.state = "closed";
    else this.#transition("closed", "close", 0);
  }

  // --- connection lifecycle -------------------------------------------------------------------

  #applyChannels(): void {
    if (this.state === "closed") return;
    if (this.#host.channels().length === 0) {
      this.#retryTimer.clear();
      this.#teardown();
      if (this.state !== "idle" && this.state !== "failed") this.#transition("idle", "no_channels", 0);
      return;
    }
    if (this.state === "idle") {
      this.#transition("connecting", "connect", 0);
      void this.#open();
    } else if (this.state === "connected") {
      void this.#retarget();
    } else if (this.state === "failed" || this.#retryTimer.armed) {
      // Waiting to retry or gave up: the next attempt will use the new channel set.
    } else {
      this.#teardown();
      void this.#open();
    }
  }

  /**
   * Applies a new channel set to the open connection when its transport can; otherwise (or when
   * that is refused) opens a new connection and keeps the current one until it is live
   * (duplicates are the host's to drop).
   */
  async #retarget(): Promise<void> {
    if (this.#retargeting) {
      this.#retargetAgain = true;
      return;
    }
    const attempt = this.#active;
    if (!attempt?.connected || !attempt.source.update || this.#pending) return void this.#open(true);
    this.#retargeting = true;
    const generation = this.#generation;
    let applied: boolean | FetchErrorDetail = false;
    const channels = this.#host.channels();
    const cursor = this.#catchUpFrom(channels, attempt);
    try {
      const token = await this.#token();
      if (generation === this.#generation)
        applied = await attempt.source.update(this.#buildUrl(channels, token, cursor));
    } catch (error) {
      if (error instanceof IdentityChanged) return;
    } finally {
      this.#retargeting = false;
    }
    if (generation !== this.#generation || attempt !== this.#active || this.state !== "connected") return;
    if (typeof applied === "object" && applied.channel && this.#host.refused) {
      // One channel refused: the open connection keeps the others; the host leaves it out.
      const { code, errorCode, message, channel } = applied;
      this.#host.error({
        code: errorCode ?? "forbidden",
        message: message ?? `${channel} refused`,
        status: code,
        channel,
      });
      this.#host.refused(channel);
      this.#retargetAgain = true;
    } else if (applied !== true) return void this.#open(true);
    else attempt.channels = channels;
    if (this.#retargetAgain) {
      this.#retargetAgain = false;
      void this.#retarget();
    }
  }

  /**
   * Where a connection carrying `channels` resumes: when the channels `current` lacks were first
   * wanted (the oldest), so that what they got meanwhile is not missed; else the host's cursor.
   */
  #catchUpFrom(channels: string[], current: Attempt | null): string | null {
    const added = current ? channels.filter((c) => !current.channels.includes(c)) : [];
    return (added.length > 0 && this.#host.since?.(added)) || this.#host.resumeCursor();
  }

  /** A fresh token from `getToken` (or the one the host got first), null without `getToken`. */
  async #token(): Promise<string | null> {
    if (this.#firstToken) {
      const { token } = this.#firstToken;
      this.#firstToken = null;
      return token;
    }
    if (!this.#options.getToken) return null;
    const result = tokenOf(await this.#fetchToken());
    this.userId = result.userId;
    if (result.userId !== undefined && this.#host.identity?.(result.userId) === false) throw new IdentityChanged();
    return result.token;
  }

  async #open(makeBeforeBreak = false, probe = false): Promise<void> {
    const generation = ++this.#generation;
    let token: string | null;
    try {
      token = await this.#token();
    } catch (error) {
      if (generation !== this.#generation || this.state === "closed") return;
      if (error instanceof IdentityChanged) return; // the host moved to another connection
      // Not final: the token route may be down with the rest of the network, or slow.
      const code = error instanceof TokenTimeout ? "token_timeout" : "token_fetch_failed";
      this.#host.error({ code, message: String((error as Error)?.message ?? error) });
      this.#teardown();
      this.#scheduleRetry(code);
      return;
    }
    if (generation !== this.#generation || this.state === "closed" || this.#host.channels().length === 0) return;
    const kind: ClientTransport = probe
      ? "sse"
      : this.#options.ws && this.#options.transport === "ws"
        ? "ws"
        : this.#chooser.next;
    if (kind === "poll" && !this.#PollES) {
      try {
        const { createPollSource } = await import("./poll-source.js");
        this.#PollES ??= createPollSource({
          ...this.#options.poll,
          timers: this.#timers,
          visibilityTarget: this.#page.visibility,
          random: this.#random,
        });
      } catch (error) {
        // The chunk did not load (the network is down): a failed attempt like any other.
        if (generation !== this.#generation || (this.state as ConnectionState) === "closed") return;
        this.#host.error({ code: "connect_failed", message: String((error as Error)?.message ?? error) });
        this.#teardown();
        this.#scheduleRetry("connect_failed");
        return;
      }
      if (generation !== this.#generation || (this.state as ConnectionState) === "closed") return;
    }
    const ES = kind === "ws" ? this.#options.ws! : kind === "poll" ? this.#PollES! : this.#ES;
    const channels = this.#host.channels();
    // A new connection for a channel change resumes from when the added channels were wanted
    // (the channels it had come again from there too; duplicates are dropped by position).
    const cursor = this.#catchUpFrom(channels, makeBeforeBreak ? this.#active : null);
    const source = new ES(this.#buildUrl(channels, token, cursor), {
      withCredentials: this.#options.withCredentials ?? false,
    });
    const attempt: Attempt = {
      kind,
      probe,
      source,
      listeners: [],
      connected: false,
      opened: false,
      lastActivity: this.#now(),
      heartbeatMs: 0,
      heartbeatEvents: false,
      connectTimer: new Timer(this.#timers),
      channels,
    };
    const listen = (type: string, fn: (event: MessageEvent) => void): void => {
      const wrapped = (event: MessageEvent | Event): void => {
        this.#touch(attempt);
        fn(event as MessageEvent);
      };
      attempt.listeners.push([type, wrapped]);
      source.addEventListener(type, wrapped);
    };
    listen("activity", () => undefined);
    listen("open", () => (attempt.opened = true));
    for (const type of FORWARDED) listen(type, (e) => this.#host.frame(type, e.data as string));
    listen(CONTROL.connected, (e) => this.#onConnected(attempt, e));
    listen(CONTROL.rotate, () => this.#onRotate(attempt));
    listen(CONTROL.heartbeat, () => this.#onHeartbeatEvent(attempt));
    listen("error", (e) => this.#onError(attempt, e));
    let connectTimeout = this.#options.connectTimeoutMs ?? 20_000;
    if (kind === "sse" && this.#chooser.mode === "auto") {
      connectTimeout = Math.min(connectTimeout, this.#options.sseOpenTimeoutMs ?? 5000);
    }
    attempt.connectTimer.set(connectTimeout, () => this.#onConnectTimeout(attempt, connectTimeout));
    if (makeBeforeBreak && this.#active) {
      if (this.#pending) this.#dispose(this.#pending);
      this.#pending = attempt;
    } else {
      this.#teardown();
      this.#active = attempt;
    }
  }

  /**
   * `getToken()`, failing with {@link TokenTimeout} when no answer comes within `tokenTimeoutMs`.
   * A call that has not answered after a quarter of that is hedged with another (up to four in
   * flight; the first answer wins, the others are aborted through their `signal`): after a network
   * change the browser's idle keep-alive connections may be dead without knowing it, and a request
   * sent on one hangs, while the next one goes out on another connection. An error from every call
   * made fails at once.
   */
  #fetchToken(): Promise<TokenResult> {
    const ms = this.#options.tokenTimeoutMs ?? 10_000;
    const hedge = new Timer(this.#timers);
    const calls: AbortController[] = [];
    let failed = 0;
    return new Promise<TokenResult>((resolve, reject) => {
      let done = false;
      const finish = (settle: () => void): void => {
        if (done) return;
        done = true;
        this.#tokenTimer.clear();
        hedge.clear();
        for (const call of calls) call.abort();
        settle();
      };
      const ask = (): void => {
        const call = new AbortController();
        calls.push(call);
        Promise.resolve()
          .then(() => this.#options.getToken!({ signal: call.signal }))
          .then(
            (token) => finish(() => resolve(token)),
            (error: unknown) => {
              if (++failed < calls.length) return; // another call may still answer
              finish(() => reject(error instanceof Error ? error : new Error(String(error))));
            },
          );
        if (calls.length < 4) hedge.set(Math.max(1000, ms / 4), ask);
      };
      this.#tokenTimer.set(ms, () => finish(() => reject(new TokenTimeout(`getToken took longer than ${ms} ms`))));
      ask();
    });
  }

  #buildUrl(channels: string[], token: string | null | undefined, cursor = this.#host.resumeCursor()): string {
    const url = new URL(this.#options.url, pageHref());
    for (const channel of [...channels].sort()) url.searchParams.append("channel", channel);
    if (cursor) url.searchParams.set("lastEventId", cursor);
    if (token) url.searchParams.set("token", token);
    return /^[a-z]+:\/\//i.test(this.#options.url) ? url.href : url.pathname + url.search;
  }

  #onConnected(attempt: Attempt, event: MessageEvent): void {
    const payload = parseJson<ConnectedPayload>(event.data as string);
    if (!payload) return;
    if (attempt !== this.#active && attempt !== this.#pending) return;
    attempt.connected = true;
    attempt.connectTimer.clear();
    this.#retryTimer.clear();
    if (this.#pending === attempt) {
      if (this.#active) this.#dispose(this.#active);
      this.#active = attempt;
      this.#pending = null;
    }
    this.#serverRetryMs = payload.retry;
    attempt.heartbeatMs = typeof payload.heartbeat === "number" ? payload.heartbeat : 0;
    // A server that announces its interval sends heartbeats as `herald:heartbeat` events, which
    // every EventSource implementation shows: silence is observable from the first byte.
    if (attempt.heartbeatMs > 0) attempt.heartbeatEvents = true;
    this.#lastActivityAt = attempt.lastActivity;
    this.nextRetryAt = null;
    if (this.state !== "connected") {
      this.#connectedSince = this.#now();
      this.#transition("connected", "open", 0);
    }
    this.#armWatchdog();
    if (attempt.kind !== "ws") this.#chooser.opened(attempt.kind);
    if (attempt.kind === "sse") this.#streamed = true;
    this.#armProbe();
    if (this.#announced !== attempt.kind) {
      this.#announced = attempt.kind;
      this.#host.transported(attempt.kind);
    }
    this.#host.frame(CONTROL.connected, event.data as string);
    this.#page.announceConnected();
  }

  /** While polling in `"auto"` mode, tries SSE again later (make before break: polling goes on meanwhile). */
  #armProbe(): void {
    this.#probeTimer.clear();
    if (!this.#chooser.probes || this.#active?.kind !== "poll") return;
    this.#probeTimer.set(this.#chooser.probeAfterMs, () => {
      if (this.state === "connected" && this.#active?.kind === "poll" && !this.#pending) void this.#open(true, true);
    });
  }

  /** A probe failed: drop it, keep polling, probe again later. True when `attempt` was one. */
  #probeFailed(attempt: Attempt): boolean {
    if (!attempt.probe || attempt !== this.#pending) return false;
    this.#dispose(attempt);
    this.#pending = null;
    this.#chooser.probeFailed();
    this.#armProbe();
    return true;
  }

  #onRotate(attempt: Attempt): void {
    if (attempt !== this.#active) return;
    this.#dispose(attempt);
    this.#active = null;
    this.#transition("reconnecting", "rotate", 0);
    void this.#open();
  }

  #onHeartbeatEvent(attempt: Attempt): void {
    if (attempt.heartbeatEvents) return;
    attempt.heartbeatEvents = true;
    if (attempt === this.#active) this.#armWatchdog();
  }

  #onError(attempt: Attempt, event: Event): void {
    if (attempt !== this.#active && attempt !== this.#pending) return;
    if (this.#probeFailed(attempt)) return;
    const { code: status, retryAfter, errorCode, message } = event as Event & FetchErrorDetail;
    if (!attempt.connected && attempt.kind !== "ws" && failureCounts(attempt.kind, attempt.opened, status))
      this.#chooser.failedToOpen(attempt.kind, false);
    // Whichever stream failed, start over from the cursor: when a replacement for a channel change
    // fails, the old stream goes too, so a refused channel ends in `failed` (401/403) or backs off
    // like any failure instead of retrying in a tight loop.
    this.#teardown();
    const decision = decide({
      status,
      errorCode,
      retryAfter,
      connected: attempt.connected,
      staleTokenRetried: this.#staleTokenRetried,
    });
    if (decision.code !== null)
      this.#host.error({
        code: decision.code,
        message: message ?? `connection refused (${status})`,
        ...(status === undefined ? {} : { status }),
      });
    if (decision.action === "fail") return this.#fail(decision.reason);
    if (decision.staleRetry) this.#staleTokenRetried = true;
    if (decision.retryAfterMs > 0) this.#retryAfterMs = decision.retryAfterMs;
    this.#scheduleRetry(decision.reason);
  }

  #onConnectTimeout(attempt: Attempt, ms: number): void {
    if (attempt !== this.#active && attempt !== this.#pending) return;
    if (attempt.connected) return;
    if (this.#probeFailed(attempt)) return;
    // No stream within the open timeout. On SSE in "auto" mode that is a buffering proxy when the
    // head arrived, or when no stream ever opened here; a server that streamed before and is silent
    // now is more likely restarting or compiling (`next dev`): one failure, not a verdict.
    if (attempt.kind !== "ws") {
      const buffered = attempt.kind === "sse" && (attempt.opened || !this.#streamed);
      this.#chooser.failedToOpen(attempt.kind, buffered);
    }
    this.#host.error({ code: "connect_timeout", message: `no answer from the server within ${ms} ms` });
    this.#teardown();
    this.#scheduleRetry("connect_timeout");
  }

  // --- liveness -------------------------------------------------------------------------------

  #touch(attempt: Attempt): void {
    attempt.lastActivity = this.#now();
    if (attempt === this.#active) this.#lastActivityAt = attempt.lastActivity;
  }

  /** The silence after which `attempt` counts as dead, or null when it cannot be observed. */
  #livenessTimeout(attempt: Attempt): number | null {
    const option = this.#options.livenessTimeoutMs;
    if (option === false || !this.#observable(attempt)) return null;
    if (typeof option === "number" && option > 0) return option;
    const hb = attempt.heartbeatMs;
    if (!(hb > 0)) return null;
    return 2 * hb + Math.min(5000, Math.max(1000, hb / 4));
  }

  #observable(attempt: Attempt): boolean {
    return attempt.source.reportsActivity === true || attempt.heartbeatEvents;
  }

  #armWatchdog(): void {
    this.#watchdog.clear();
    const attempt = this.#active;
    if (!attempt || this.state !== "connected") return;
    const timeout = this.#livenessTimeout(attempt);
    if (timeout === null) return;
    const delay = Math.max(0, attempt.lastActivity + timeout - this.#now());
    this.#watchdog.dueAt = this.#now() + delay;
    this.#watchdog.set(delay, () => this.#checkLiveness(this.#now() - this.#watchdog.dueAt));
  }

  /**
   * Closes the active connection when it has been silent too long, or when the check itself ran
   * far later than scheduled (the machine slept or the page was frozen: whatever the socket says,
   * it cannot be trusted). `lateMs` is how late the timer fired (0 for checks on page events).
   */
  #checkLiveness(lateMs: number): void {
    const attempt = this.#active;
    if (!attempt || this.state !== "connected") return;
    const timeout = this.#livenessTimeout(attempt);
    if (timeout === null) return;
    if (attempt.source.paused === true) {
      // Quiet on purpose (polling on a hidden page): it resumes, and is checked, when shown.
      this.#touch(attempt);
      this.#armWatchdog();
      return;
    }
    const silent = this.#now() - attempt.lastActivity;
    const slept = lateMs >= Math.max(2 * timeout, 120_000);
    if (silent >= timeout || slept) {
      const reason = slept ? "wake" : "stalled";
      this.#host.error({
        code: reason,
        message: slept
          ? `the page was suspended for ${Math.round(lateMs / 1000)} s; resuming from the cursor`
          : `no bytes for ${silent} ms (limit ${timeout} ms); the connection is dead`,
      });
      this.#teardown();
      this.#scheduleRetry(reason);
      return;
    }
    this.#armWatchdog();
  }

  // --- retries --------------------------------------------------------------------------------

  /**
   * Resets the attempt count if the connection we are leaving stayed up, receiving bytes, for
   * `stableAfterMs`. (A transport that cannot report bytes counts the time it was open.)
   */
  #settleStability(): void {
    if (this.state !== "connected" || this.#connectedSince === 0) return;
    const active = this.#active;
    const lastAlive = active && !this.#observable(active) ? this.#now() : this.#lastActivityAt || this.#now();
    if (lastAlive - this.#connectedSince >= (this.#options.stableAfterMs ?? 5000)) this.attempt = 0;
    this.#connectedSince = 0; // judged once per connection
  }

  #scheduleRetry(reason: string): void {
    this.#settleStability();
    this.#retryTimer.clear();
    const max = this.#options.maxAttempts ?? Infinity;
    if (this.attempt >= max) return this.#fail("max_attempts");
    const backoff = { ...this.#options.backoff };
    if (this.#serverRetryMs !== undefined && this.#options.backoff?.baseMs === undefined)
      backoff.baseMs = this.#serverRetryMs;
    // Retry-After (429, 503) is a floor; jitter on top of it keeps a crowd from returning at once.
    const jitter = backoffDelay(this.attempt, backoff, this.#random);
    const delay = this.#retryAfterMs > 0 ? this.#retryAfterMs + Math.round(jitter / 4) : jitter;
    this.#floored = this.#retryAfterMs > 0;
    this.#retryAfterMs = 0;
    this.attempt++;
    this.nextRetryAt = this.#now() + delay;
    this.#transition("reconnecting", reason, delay);
    this.#retryTimer.set(delay, () => {
      this.nextRetryAt = null;
      void this.#open();
    });
  }

  #fail(reason: string): void {
    this.#retryTimer.clear();
    this.#teardown();
    this.nextRetryAt = null;
    this.#transition("failed", reason, 0);
  }

  /** Leaves `failed` (or skips a backoff wait) because something outside says "try now". */
  #retryNow(reason: string): void {
    if (this.state === "closed" || this.#host.channels().length === 0) return;
    if (this.state === "failed") {
      this.attempt = 0;
      this.#transition("connecting", reason, 0);
      void this.#open();
    } else if (this.state === "reconnecting" && this.#retryTimer.armed) {
      this.#retryTimer.clear();
      this.#transition("reconnecting", reason, 0);
      void this.#open();
    }
  }

  readonly #onOnline = (): void => {
    if (this.state === "reconnecting" && !this.#retryTimer.armed) {
      // An attempt is in flight, started on the old network: start it again on the new one.
      this.#teardown();
      this.#transition("reconnecting", "online", 0);
      void this.#open();
      return;
    }
    if (this.state === "connected") this.#checkLiveness(0);
    else this.#retryNow("online");
  };

  readonly #onOffline = (): void => {
    if (this.state !== "connected" && this.state !== "connecting" && this.state !== "reconnecting") return;
    if (this.#retryTimer.armed) return; // already waiting
    // No point waiting for the heartbeat to time out: the stream is gone. Keep retrying with
    // backoff (`offline` can be wrong), and at once on `online`.
    this.#teardown();
    this.#scheduleRetry("offline");
  };

  readonly #onVisible = (): void => {
    if (this.state === "connected") this.#checkLiveness(0);
    else this.#retryNow("visible");
  };

  #teardown(): void {
    this.#generation++;
    this.#probeTimer.clear();
    this.#tokenTimer.clear();
    this.#watchdog.clear();
    if (this.#active) this.#dispose(this.#active);
    if (this.#pending) this.#dispose(this.#pending);
    this.#active = null;
    this.#pending = null;
  }

  #dispose(attempt: Attempt): void {
    attempt.connectTimer.clear();
    for (const [type, fn] of attempt.listeners) attempt.source.removeEventListener(type, fn);
    attempt.listeners = [];
    attempt.source.close();
  }

  #transition(next: ConnectionState, reason: string, delayMs: number): void {
    const prev = this.state;
    if (prev === next && next !== "reconnecting") return;
    if (prev !== next && !canTransition(prev, next))
      throw new Error(`herald/client: illegal transition ${prev} → ${next}`); // an internal invariant
    if (prev === "connected" && next !== "connected") {
      this.#settleStability();
      this.#watchdog.clear();
    }
    this.state = next;
    this.#host.changed({ prev, next, reason, attempt: this.attempt, delayMs });
  }
}
