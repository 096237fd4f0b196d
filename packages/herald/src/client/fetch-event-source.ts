/**
 * An EventSource built on `fetch`, used by default. Unlike the browser's, its `error` event tells
 * why a connection was refused: `code` (HTTP status), `retryAfter` (seconds, from `Retry-After`)
 * and `errorCode` (from Herald's JSON error body). It never reconnects by itself: the client does.
 * It also dispatches `activity` for every chunk of bytes received (heartbeat comments included), so
 * the client can tell a silent, dead connection from a quiet one.
 */
import { createSseParser } from "../protocol/sse-parse.js";
import type { EventSourceLike } from "./types.js";

type Listener = (event: MessageEvent | Event) => void;

/** The extra fields of a connection-refused `error` event. */
export interface FetchErrorDetail {
  code?: number;
  retryAfter?: number;
  errorCode?: string;
  message?: string;
}

/** See the module comment. Constructed like `EventSource(url, { withCredentials })`. */
export class FetchEventSource implements EventSourceLike {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readyState = 0;
  /** Dispatches `activity` per chunk received (see {@link EventSourceLike.reportsActivity}). */
  readonly reportsActivity = true;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly abort = new AbortController();

  constructor(
    readonly url: string,
    init: { withCredentials?: boolean } = {},
  ) {
    void this.run(init.withCredentials ?? false);
  }

  addEventListener(type: string, listener: Listener): void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener);
  }

  removeEventListener(type: string, listener: Listener): void {
    this.listeners.get(type)?.delete(listener);
  }

  close(): void {
    if (this.readyState === 2) return;
    this.readyState = 2;
    this.abort.abort();
  }

  private async run(withCredentials: boolean): Promise<void> {
    let response: Response;
    try {
      response = await fetch(this.url, {
        headers: { Accept: "text/event-stream" },
        credentials: withCredentials ? "include" : "same-origin",
        cache: "no-store",
        signal: this.abort.signal,
      });
    } catch (error) {
      return this.fail({ message: String((error as Error)?.message ?? error) });
    }
    const type = response.headers.get("content-type") ?? "";
    if (!response.ok || !type.toLowerCase().startsWith("text/event-stream") || !response.body) {
      const detail: FetchErrorDetail = { code: response.status };
      const retryAfter = Number(response.headers.get("retry-after"));
      if (Number.isFinite(retryAfter) && retryAfter > 0) detail.retryAfter = retryAfter;
      try {
        const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
        if (typeof body?.error?.code === "string") detail.errorCode = body.error.code;
        if (typeof body?.error?.message === "string") detail.message = body.error.message;
      } catch {
        /* not a Herald error body */
      }
      return this.fail(detail);
    }
    if (this.readyState === 2) return;
    this.readyState = 1;
    this.dispatch("open", new Event("open"));
    const parser = createSseParser({
      onEvent: (e) => {
        if (this.readyState !== 2) this.dispatch(e.type, messageEvent(e.type, e.data, e.lastEventId));
      },
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.readyState === 2) break;
        if (value.length > 0) this.dispatch("activity", new Event("activity"));
        parser.feed(value);
      }
    } catch {
      /* network error or abort: reported below */
    }
    if (this.readyState !== 2) this.fail({});
  }

  private fail(detail: FetchErrorDetail): void {
    if (this.readyState === 2) return;
    this.readyState = 2;
    this.dispatch("error", Object.assign(new Event("error"), detail));
  }

  private dispatch(type: string, event: Event): void {
    for (const listener of [...(this.listeners.get(type) ?? [])]) listener(event);
  }
}

function messageEvent(type: string, data: string, lastEventId: string): MessageEvent {
  if (typeof MessageEvent === "function") return new MessageEvent(type, { data, lastEventId });
  return Object.assign(new Event(type), { data, lastEventId }) as MessageEvent;
}
