/**
 * An EventSource built on `fetch`, used by default. Unlike the browser's, its `error` event tells
 * why a connection was refused: `code` (HTTP status), `retryAfter` (seconds, from `Retry-After`)
 * and `errorCode` (from Herald's JSON error body). It never reconnects by itself: the client does.
 * It also dispatches `activity` for every chunk of bytes received (heartbeat comments included), so
 * the client can tell a silent, dead connection from a quiet one.
 */
import { createSseParser } from "../protocol/sse-parse.js";
import { messageEvent, refusalOf, SourceBase } from "./source-base.js";
import type { EventSourceLike } from "./types.js";

/** The extra fields of a connection-refused `error` event. */
export interface FetchErrorDetail {
  code?: number;
  retryAfter?: number;
  errorCode?: string;
  message?: string;
}

/** See the module comment. Constructed like `EventSource(url, { withCredentials })`. */
export class FetchEventSource extends SourceBase implements EventSourceLike {
  /** Dispatches `activity` per chunk received (see {@link EventSourceLike.reportsActivity}). */
  readonly reportsActivity = true;
  private readonly abort = new AbortController();

  constructor(
    readonly url: string,
    init: { withCredentials?: boolean } = {},
  ) {
    super();
    void this.run(init.withCredentials ?? false);
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
      return this.fail(await refusalOf(response));
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
}
