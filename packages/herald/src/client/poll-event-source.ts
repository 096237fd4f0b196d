/**
 * `createPollEventSource`, the long-poll transport as an EventSource constructor for apps that
 * use it directly (`options.EventSource`). The polling itself (`poll-source.ts`) loads in its own
 * chunk when the first source is constructed, so that apps that import `herald/client` and never
 * poll do not ship it (the client loads it the same way when it falls back to polling).
 */
import type { PollOptions, PollSourceFactory } from "./poll-source.js";
import { Listeners } from "./source-base.js";
import type { EventSourceFactory, EventSourceLike, FetchErrorDetail } from "./types.js";

export type { PollOptions };
export { pollUrlOf, routeBeside } from "./routes.js";

/**
 * An EventSource constructor that polls. The URL it is given is the SSE URL the client built
 * (channels, cursor, token); it polls the sibling `…/poll` route (see {@link PollOptions}). Its
 * sources are `CONNECTING` until the polling code has loaded; a load that fails ends them with an
 * `error` event, as a failed request does.
 */
export function createPollEventSource(options: PollOptions = {}): EventSourceFactory {
  let load: Promise<PollSourceFactory> | undefined;
  return class PollEventSource implements EventSourceLike {
    readonly reportsActivity = true;
    /** Which transport this is (the client shows it). */
    readonly transport = "poll";
    readonly #listeners = new Listeners();
    #source: EventSourceLike | null = null;
    #closed = false;

    constructor(
      readonly url: string,
      init: { withCredentials?: boolean } = {},
    ) {
      (load ??= import("./poll-source.js").then((m) => m.createPollSource(options))).then(
        (Source) => {
          if (!this.#closed) this.#source = new Source(url, init, this.#listeners);
        },
        (error: unknown) => {
          if (this.#closed) return;
          this.#closed = true;
          const detail: FetchErrorDetail = { message: String((error as Error)?.message ?? error) };
          this.#listeners.dispatch("error", Object.assign(new Event("error"), detail));
        },
      );
    }

    get readyState(): number {
      return this.#closed ? 2 : (this.#source?.readyState ?? 0);
    }

    /** Polling waits for the page to be shown: the silence is deliberate. */
    get paused(): boolean {
      return this.#source?.paused ?? false;
    }

    addEventListener(type: string, listener: (event: MessageEvent | Event) => void): void {
      this.#listeners.addEventListener(type, listener);
    }

    removeEventListener(type: string, listener: (event: MessageEvent | Event) => void): void {
      this.#listeners.removeEventListener(type, listener);
    }

    /** See `EventSourceLike.update`: false until the first answer. */
    update(url: string): Promise<boolean | FetchErrorDetail> {
      return this.#source?.update?.(url) ?? Promise.resolve(false);
    }

    close(): void {
      this.#closed = true;
      this.#source?.close();
    }
  };
}
