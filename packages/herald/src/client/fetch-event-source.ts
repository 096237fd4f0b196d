/**
 * An EventSource built on `fetch`, used by default. Unlike the browser's, its `error` event tells
 * why a connection was refused: `code` (HTTP status), `retryAfter` (seconds, from `Retry-After`)
 * and `errorCode` (from Herald's JSON error body). It never reconnects by itself: the client does.
 * It also dispatches `activity` for every chunk of bytes received (heartbeat comments included), so
 * the client can tell a silent, dead connection from a quiet one. `update` changes the channels of
 * the open stream (Herald's `POST …/channels`) instead of reconnecting.
 */
import { createSseParser } from "../protocol/sse-parse.js";
import { CONTROL } from "../protocol/envelope.js";
import { messageEvent, parseJson, refusalOf, SourceBase } from "./source-base.js";
import type { EventSourceLike, FetchErrorDetail } from "./types.js";

export type { FetchErrorDetail } from "./types.js";

/** See the module comment. Constructed like `EventSource(url, { withCredentials })`. */
export class FetchEventSource extends SourceBase implements EventSourceLike {
  /** Dispatches `activity` per chunk received (see {@link EventSourceLike.reportsActivity}). */
  readonly reportsActivity = true;
  readonly #abort = new AbortController();
  /** The stream's id, from its `herald:connected`. */
  #connectionId: string | null = null;
  readonly #withCredentials: boolean;

  constructor(
    readonly url: string,
    init: { withCredentials?: boolean } = {},
  ) {
    super();
    this.#withCredentials = init.withCredentials ?? false;
    void this.#run();
  }

  /**
   * Moves the open stream to the channels of `url` (`channel`, `lastEventId` and `token`
   * parameters, as the constructor's): `POST …/channels` beside the stream's URL. False when the
   * stream is not open yet, another instance holds it, or the request failed; the refusal's detail
   * when a channel was refused (403, the stream unchanged).
   */
  async update(url: string): Promise<boolean | FetchErrorDetail> {
    if (this.readyState !== 1 || !this.#connectionId) return false;
    const connectionId = this.#connectionId;
    try {
      const { postChannels } = await import("./requests.js");
      return await postChannels(this.url, url, connectionId, this.#withCredentials, () => this.readyState === 1);
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.readyState === 2) return;
    this.readyState = 2;
    this.#abort.abort();
  }

  async #run(): Promise<void> {
    let response: Response;
    try {
      response = await fetch(this.url, {
        headers: { Accept: "text/event-stream" },
        credentials: this.#withCredentials ? "include" : "same-origin",
        cache: "no-store",
        signal: this.#abort.signal,
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
        if (this.readyState === 2) return;
        if (e.type === CONTROL.connected) this.#connectionId = connectionIdOf(e.data);
        this.dispatch(e.type, messageEvent(e.type, e.data, e.lastEventId));
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

function connectionIdOf(data: string): string | null {
  const id = parseJson<{ connectionId?: unknown }>(data)?.connectionId;
  return typeof id === "string" ? id : null;
}
