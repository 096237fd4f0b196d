/**
 * Polling behind the EventSource interface, so the client's cursor, resume, reconnection and
 * failure handling work unchanged on it. Each request is `GET …/poll` with the channels, the
 * cursor and the token; the answer's events and gaps are dispatched as the SSE stream would
 * dispatch them (`herald:connected` after the first answer), and the next request carries the
 * answer's cursor and the single-use token the server renewed. Long-poll by default (the server
 * holds the request until an event); with `wait: 0`, short polls with idle backoff and jitter that
 * resets on activity. It pauses while the page is hidden and catches up at once when it shows, and
 * never polls faster than `minIntervalMs`. A refused request (401/403/429/5xx, a network error)
 * ends it with an `error` event carrying `code`, `retryAfter` and `errorCode`, as FetchEventSource
 * does: the client decides what to do.
 */
import type { PollReply } from "../protocol/envelope.js";
import { pollUrlOf } from "./routes.js";
import { timersOf } from "./timer.js";
import { Listeners, messageEvent, randomId, refusalOf, SourceBase } from "./source-base.js";
import type { EventSourceLike, Timers, VisibilityTarget } from "./types.js";

/** Options of `createPollEventSource`. */
export interface PollOptions {
  /**
   * Seconds the server may hold a request (long-poll; default 8, so an answer comes at least every
   * 8 s and a stalled request is noticed within 10 s). 0: short polls with idle backoff.
   */
  wait?: number;
  /** Short polls: first idle delay and its cap, in ms (default 1,000 → 30,000, doubling, with jitter). */
  idleMs?: { baseMs?: number; capMs?: number };
  /** Least time between two requests, in ms (default 250). */
  minIntervalMs?: number;
  /** Timers (default: the global ones). */
  timers?: Timers;
  /** The page, to pause while hidden (default: `document` when there is one). */
  visibilityTarget?: VisibilityTarget | null;
  /** Random numbers in [0, 1) for jitter (default `Math.random`). */
  random?: () => number;
  /** `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
}

/** A polling source's constructor; `listeners` are those of the source it works for (see `poll-event-source.ts`). */
export type PollSourceFactory = new (
  url: string,
  init?: { withCredentials?: boolean },
  listeners?: Listeners,
) => EventSourceLike;

/**
 * An EventSource constructor that polls. The URL it is given is the SSE URL the client built
 * (channels, cursor, token); it polls the sibling `…/poll` route. Loaded in its own chunk.
 */
export function createPollSource(options: PollOptions = {}): PollSourceFactory {
  return class PollEventSource extends SourceBase implements EventSourceLike {
    readonly reportsActivity = true;
    /** Which transport this is (the client shows it). */
    readonly transport = "poll";
    readonly #abort = new AbortController();
    readonly #timers: Timers;
    readonly #visibility: VisibilityTarget | null;
    readonly #wait: number;
    #timer: unknown = null;
    #idle: number;
    #lastRequestAt = -Infinity;
    #resumeOnShow: (() => void) | null = null;
    /** The request in flight (a newer one replaces it after a channel change). */
    #request: AbortController | null = null;
    /** The next request's URL (channels, the last answer's cursor, the renewed token). */
    #next: URL | null = null;
    /** This poller's id on every request: the server keeps it a member of its presence channels. */
    readonly #pid = randomId();

    readonly #init: { withCredentials?: boolean };

    constructor(
      readonly url: string,
      init: { withCredentials?: boolean } = {},
      listeners?: Listeners,
    ) {
      super(listeners);
      this.#init = init;
      this.#timers = timersOf(options.timers);
      this.#visibility =
        options.visibilityTarget !== undefined
          ? options.visibilityTarget
          : typeof document === "undefined"
            ? null
            : (document as VisibilityTarget);
      this.#wait = options.wait ?? 8;
      this.#idle = options.idleMs?.baseMs ?? 1000;
      void this.#poll(new URL(pollUrlOf(this.url), "http://relative.invalid"), true);
    }

    /** Polling waits for the page to be shown: the silence is deliberate. */
    get paused(): boolean {
      return this.#resumeOnShow !== null;
    }

    /**
     * Moves polling to the channels of `url` at once: the held request is dropped (its events
     * are asked for again, from the same cursor) and the next one carries the new set and `url`'s
     * token. False before the first answer (the client then opens a new connection).
     */
    async update(url: string): Promise<boolean> {
      if (this.readyState !== 1 || !this.#next) return false;
      const params = new URL(url, "http://relative.invalid").searchParams;
      const next = new URL(this.#next);
      next.searchParams.delete("channel");
      for (const channel of params.getAll("channel")) next.searchParams.append("channel", channel);
      const token = params.get("token");
      if (token) next.searchParams.set("token", token);
      // An added channel's catch-up starts where the client asks (it may be older than this
      // source's cursor: the events of the other channels that come again are dropped by position).
      const since = params.get("lastEventId");
      if (since) next.searchParams.set("lastEventId", since);
      this.#next = next;
      if (this.#resumeOnShow) return true; // paused while hidden: the request on show uses it
      if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
      this.#timer = null;
      this.#request?.abort();
      void this.#poll(next, false);
      return true;
    }

    close(): void {
      if (this.readyState === 2) return;
      this.readyState = 2;
      this.#abort.abort();
      if (this.#timer !== null) this.#timers.clearTimeout(this.#timer);
      if (this.#resumeOnShow) this.#visibility?.removeEventListener("visibilitychange", this.#resumeOnShow);
    }

    /**
     * Nothing but the final `error` after close: a listener that closes the source mid-answer
     * stops the rest of that answer's events (and its `herald:connected`).
     */
    protected override dispatch(type: string, event: Event): void {
      if (this.readyState === 2 && type !== "error") return;
      super.dispatch(type, event);
    }

    async #poll(url: URL, first: boolean): Promise<void> {
      if (this.readyState === 2) return;
      if (this.#wait > 0) url.searchParams.set("wait", String(this.#wait));
      url.searchParams.set("pid", this.#pid);
      this.#lastRequestAt = Date.now();
      const request = new AbortController();
      this.#request = request;
      const onClose = () => request.abort();
      this.#abort.signal.addEventListener("abort", onClose);
      // A newer request (a channel change) replaced this one: its answer is not read.
      const superseded = () => this.#request !== request || this.readyState === 2;
      let response: Response;
      let answer: PollReply;
      const href = url.origin === "http://relative.invalid" ? `${url.pathname}${url.search}` : url.toString();
      try {
        try {
          response = await (options.fetch ?? fetch)(href, {
            credentials: this.#init.withCredentials ? "include" : "same-origin",
            cache: "no-store",
            signal: request.signal,
          });
        } catch (error) {
          if (superseded()) return;
          return this.fail({ message: String((error as Error)?.message ?? error) });
        }
        if (superseded()) return;
        if (response.status !== 200) return this.fail(await refusalOf(response));
        try {
          answer = (await response.json()) as PollReply;
        } catch {
          if (superseded()) return;
          return this.fail({ code: response.status, message: "poll answer is not JSON" });
        }
      } finally {
        this.#abort.signal.removeEventListener("abort", onClose);
      }
      if (superseded()) return;
      this.dispatch("activity", new Event("activity"));
      if (first) {
        this.readyState = 1;
        this.dispatch("open", new Event("open"));
      }
      for (const gap of answer.gaps) this.dispatch("herald:gap", messageEvent("herald:gap", JSON.stringify(gap), ""));
      for (const [channel, { members, me }] of Object.entries(answer.presence ?? {})) {
        const payload = JSON.stringify({ channel, type: "members", members, me });
        this.dispatch("herald:presence", messageEvent("herald:presence", payload, ""));
      }
      for (const event of answer.events)
        this.dispatch("message", messageEvent("message", JSON.stringify(event), event.id));
      if (first) {
        const channels = url.searchParams.getAll("channel");
        // A held request answers at least every `wait` seconds: silence for a little more than that
        // is a stall, so the announced heartbeat is half of it (the client allows two and a margin).
        const heartbeat = this.#wait > 0 ? this.#wait * 500 : (options.idleMs?.capMs ?? 30_000);
        const connected = { connectionId: `poll`, cursor: answer.cursor, channels, retry: answer.retryMs, heartbeat };
        this.dispatch("herald:connected", messageEvent("herald:connected", JSON.stringify(connected), answer.cursor));
      }
      if (this.readyState === 2) return;
      const next = new URL(url);
      next.searchParams.set("lastEventId", answer.cursor);
      if (answer.token) next.searchParams.set("token", answer.token);
      else next.searchParams.delete("token");
      this.#next = next;
      this.#schedule(answer);
    }

    #schedule(answer: PollReply): void {
      let delay: number;
      if (this.#wait > 0) delay = answer.retryMs;
      else if (answer.events.length > 0 || answer.gaps.length > 0) {
        this.#idle = options.idleMs?.baseMs ?? 1000;
        delay = Math.min(answer.retryMs, this.#idle);
      } else {
        const cap = options.idleMs?.capMs ?? 30_000;
        delay = this.#idle / 2 + (options.random ?? Math.random)() * (this.#idle / 2);
        this.#idle = Math.min(cap, this.#idle * 2);
      }
      const floor = options.minIntervalMs ?? 250;
      delay = Math.max(delay, floor - (Date.now() - this.#lastRequestAt), 0);
      this.#timer = this.#timers.setTimeout(() => {
        this.#timer = null;
        this.#whenVisible(() => void this.#poll(this.#next!, false));
      }, delay);
    }

    /** Runs `go` now when the page is shown, else as soon as it is (catching up at once). */
    #whenVisible(go: () => void): void {
      if (!this.#visibility || this.#visibility.visibilityState !== "hidden") return go();
      const onChange = () => {
        if (this.#visibility!.visibilityState === "hidden") return;
        this.#visibility!.removeEventListener("visibilitychange", onChange);
        this.#resumeOnShow = null;
        if (this.readyState !== 2) go();
      };
      this.#resumeOnShow = onChange;
      this.#visibility.addEventListener("visibilitychange", onChange);
    }
  };
}
