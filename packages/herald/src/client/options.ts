/** The options of `createHeraldClient`, and the types they name. */
import type { BackoffOptions } from "./backoff.js";
import type { PollOptions } from "./poll-source.js";
import type { NegotiationOptions, TransportKind } from "./transport.js";
import type { EventSourceFactory, OnlineTarget, Timers, VisibilityTarget } from "./types.js";

/** What `getToken` returns: a token (null: anonymous), or a token and the user it was issued for. */
export type TokenResult = string | null | undefined | { token: string | null; userId?: string | null };

/** Options for {@link createHeraldClient}. */
export interface HeraldClientOptions {
  /** The SSE endpoint, e.g. `/api/realtime/sse`. */
  url: string;
  /**
   * Returns a fresh single-use token; called before every (re)connect. When it throws or takes
   * longer than `tokenTimeoutMs`, the attempt counts as failed and is retried with backoff. It may
   * return `{ token, userId }` (what Herald's token route answers): the user tells which tabs may
   * share a connection (`shareConnection`). Pass `signal` to `fetch`: a call that has not answered
   * within a quarter of `tokenTimeoutMs` is repeated (a dead keep-alive connection can hold a request
   * forever), and the calls that lost are aborted.
   */
  getToken?: (context: { signal: AbortSignal }) => TokenResult | Promise<TokenResult>;
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
  /**
   * One connection per browser: a tab alone holds a connection of its own; once a second tab of the
   * origin follows the same `url` (they find each other over `BroadcastChannel`), the tabs of one
   * user elect a leader (Web Locks, else BroadcastChannel), which holds one connection for all their
   * channels and forwards events to the others; when it closes, crashes or freezes, another tab
   * takes over within about a second and resumes from the cursor. Each tab sees only its own
   * channels and the shared connection's state. The user is what `getToken` returns as `userId`
   * (null: signed out; no `getToken`: anonymous); a `getToken` that returns a bare token keeps one
   * connection per tab, since its tabs could belong to different users. Default: true in a browser
   * page with `BroadcastChannel`; `false`: one connection per tab.
   */
  shareConnection?: boolean;
  /** Polling settings (long-poll wait, idle backoff, floor). */
  poll?: Omit<PollOptions, "timers" | "visibilityTarget" | "random">;
  /** When to fall back and when to probe SSE again, in `"auto"` mode. */
  negotiation?: NegotiationOptions;
  /** In `"auto"` mode, how long an SSE attempt may take to open before it counts as buffered (default 5,000 ms). */
  sseOpenTimeoutMs?: number;
}

/** The transports the client speaks: {@link TransportKind} and `"ws"`. */
export type ClientTransport = TransportKind | "ws";
