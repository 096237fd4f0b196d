/** Injectable environment of the client: EventSource, timers, clock, window events. */

/** The part of the EventSource API the client uses (the browser's, or the `eventsource` npm package). */
export interface EventSourceLike {
  readonly readyState: number;
  close(): void;
  addEventListener(type: string, listener: (event: MessageEvent | Event) => void): void;
  removeEventListener(type: string, listener: (event: MessageEvent | Event) => void): void;
}

/** An EventSource constructor. */
export type EventSourceFactory = new (url: string, init?: { withCredentials?: boolean }) => EventSourceLike;

/** Timer functions (defaults: the global ones). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Something that emits `online` (a `window`). */
export interface OnlineTarget {
  addEventListener(type: "online", listener: () => void): void;
  removeEventListener(type: "online", listener: () => void): void;
}
