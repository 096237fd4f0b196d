/** Injectable environment of the client: EventSource, timers, clock, window and document events. */

/** The part of the EventSource API the client uses (the browser's, or the `eventsource` npm package). */
export interface EventSourceLike {
  readonly readyState: number;
  close(): void;
  addEventListener(type: string, listener: (event: MessageEvent | Event) => void): void;
  removeEventListener(type: string, listener: (event: MessageEvent | Event) => void): void;
  /**
   * True when this source dispatches an `activity` event for every chunk of bytes it receives,
   * the server's heartbeat comments included ({@link FetchEventSource} does). The browser's
   * EventSource hides comments, so with it the client can only tell a silent connection from a
   * quiet one when the server sends heartbeats as `herald:heartbeat` events.
   */
  readonly reportsActivity?: boolean;
  /** True while the source is silent on purpose (polling paused on a hidden page): not a stall. */
  readonly paused?: boolean;
  /**
   * Moves the open connection to the channel set of `url` (built like the constructor's: channels,
   * cursor, a fresh token) without reconnecting: SSE attaches and detaches channels on its stream,
   * polling uses it for the next request, WebSocket subscribes and unsubscribes. Resolves false
   * when that was not possible (the client then opens a new connection), or with the refusal when
   * the server refused a channel (the connection stays as it was).
   */
  update?(url: string): Promise<boolean | FetchErrorDetail>;
}

/** An EventSource constructor. */
export type EventSourceFactory = new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;

/** Timer functions (defaults: the global ones). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Something that emits `online` and `offline` (a `window`). */
export interface OnlineTarget {
  addEventListener(type: "online" | "offline", listener: () => void): void;
  removeEventListener(type: "online" | "offline", listener: () => void): void;
}

/** Something that emits `visibilitychange` and has a `visibilityState` (a `document`). */
export interface VisibilityTarget {
  /** `"visible"` when the page is shown. */
  readonly visibilityState: string;
  addEventListener(type: "visibilitychange", listener: () => void): void;
  removeEventListener(type: "visibilitychange", listener: () => void): void;
}

/** The extra fields of a source's `error` event when a request was refused (every source fills them). */
export interface FetchErrorDetail {
  code?: number;
  retryAfter?: number;
  errorCode?: string;
  message?: string;
  /** The channel a refusal names (Herald's error body says which one it refused). */
  channel?: string;
}
