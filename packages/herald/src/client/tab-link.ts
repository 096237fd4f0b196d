/**
 * The link of a tab that shares its connection with the other tabs of the browser
 * (`shareConnection`, on by default in a page). The shared connection (`shared.ts`, a chunk of its
 * own) is loaded only once there is another tab to share with: on start the tab says `hello` on a
 * `BroadcastChannel` of the endpoint, and every tab already following it answers `here`. A tab
 * that hears another one within {@link WAIT_MS} loads the shared connection before it connects;
 * a tab that hears nobody connects on its own, and when a later tab says hello it loads the shared
 * connection and hands it its open connection (kept while this tab leads the group, dropped once it
 * follows another tab's; it joins first, so it often leads). A tab alone never loads the chunk.
 * Into the back/forward cache (`pagehide`) a tab on its own connection lets go of it
 * and of the channel, and starts over when it is shown again (resuming from its cursor).
 */
import { Connection, type ConnectionHost, type Link } from "./connection.js";
import type { ClientTransport, HeraldClientOptions } from "./options.js";
import { pageHref } from "./routes.js";
import { Timer, timersOf } from "./timer.js";
import type { EventSourceFactory } from "./types.js";

/** How long a starting tab listens for another one before it connects on its own (ms). */
export const WAIT_MS = 50;

type Role = "own" | "leader" | "follower";

interface PageEvents {
  addEventListener(type: string, fn: (e: Event) => void): void;
  removeEventListener(type: string, fn: (e: Event) => void): void;
}

/** See the module comment. */
export class TabLink implements Link {
  /** The tab's own connection or, once loaded, the shared one (null while listening). */
  #link: (Link & { role?: Role }) | null = null;
  /** The tab's own connection while it is the link. */
  #own: Connection | null = null;
  #bc: BroadcastChannel | null = null;
  /** The shared connection is loading or loaded. */
  #sharing = false;
  #closed = false;
  readonly #wait: Timer;
  readonly #page: PageEvents | null;

  readonly #options: HeraldClientOptions;
  readonly #host: ConnectionHost;
  readonly #ES: EventSourceFactory;

  constructor(options: HeraldClientOptions, host: ConnectionHost, ES: EventSourceFactory) {
    this.#options = options;
    this.#host = host;
    this.#ES = ES;
    this.#wait = new Timer(timersOf(options.timers));
    const win = (globalThis as { window?: PageEvents }).window;
    this.#page = win && typeof win.addEventListener === "function" ? win : null;
    this.#page?.addEventListener("pagehide", this.#onPageHide);
    this.#page?.addEventListener("pageshow", this.#onPageShow);
    this.#listen(true);
  }

  get attempt(): number {
    return this.#link?.attempt ?? 0;
  }

  get nextRetryAt(): number | null {
    return this.#link?.nextRetryAt ?? null;
  }

  get transport(): ClientTransport {
    return this.#link?.transport ?? (this.#options.transport === "ws" ? "ws" : "sse");
  }

  /** Whose connection the tab is on (see `HeraldClient.connectionRole`). */
  get role(): Role {
    return this.#link?.role ?? "own";
  }

  channelsChanged(removal: boolean): void {
    this.#link?.channelsChanged(removal);
  }

  reconnect(): void {
    this.#link?.reconnect();
  }

  sendOnSocket(channel: string, event: string, data: unknown): boolean {
    return this.#link?.sendOnSocket(channel, event, data) ?? false;
  }

  close(): void {
    this.#closed = true;
    this.#wait.clear();
    this.#bc?.close();
    this.#link?.close();
    this.#page?.removeEventListener("pagehide", this.#onPageHide);
    this.#page?.removeEventListener("pageshow", this.#onPageShow);
  }

  /**
   * Answers the tabs that say hello (and shares with them); `start`: says hello too, and connects
   * alone when nobody answers in time.
   */
  #listen(start: boolean): void {
    const bc = new BroadcastChannel(`herald-tabs:${new URL(this.#options.url, pageHref()).href}`);
    (bc as { unref?: () => void }).unref?.(); // Node: never keeps the process alive
    bc.onmessage = (event: MessageEvent) => {
      if (event.data === "hello") bc.postMessage("here");
      this.#share();
    };
    this.#bc = bc;
    if (!start) return;
    bc.postMessage("hello");
    this.#wait.set(WAIT_MS, () => {
      if (!this.#sharing) this.#use((this.#own = new Connection(this.#options, this.#host, this.#ES)));
    });
  }

  /** Loads the shared connection and moves to it, handing it the tab's own connection if open. */
  #share(): void {
    if (this.#sharing || this.#closed) return;
    this.#sharing = true;
    this.#wait.clear();
    const own = this.#own;
    import("./shared.js").then(
      ({ SharedLink }) => {
        if (this.#closed) return;
        // Its own connection, unless the page went into the back/forward cache meanwhile.
        const open = own && own === this.#own ? own : undefined;
        this.#own = null;
        const shared = new SharedLink(this.#options, this.#host, this.#ES, open);
        if (open) this.#link = shared;
        else this.#use(shared);
      },
      () => {
        // The chunk did not load: the tab stays on (or opens) its own connection.
        this.#sharing = false;
        if (!own && !this.#closed) this.#use((this.#own = new Connection(this.#options, this.#host, this.#ES)));
      },
    );
  }

  /** Makes `link` the tab's and applies the channels asked for meanwhile. */
  #use(link: Link): void {
    this.#link = link;
    link.channelsChanged(false);
  }

  readonly #onPageHide = (event: Event): void => {
    if (!(event as PageTransitionEvent).persisted || this.#closed) return;
    // Into the back/forward cache: no connection or channel may stay open (the shared link lets
    // go of its own).
    this.#wait.clear();
    this.#bc?.close();
    this.#bc = null;
    if (this.#own) {
      this.#own.close(true);
      this.#own = null;
      this.#link = null;
    }
  };

  readonly #onPageShow = (event: Event): void => {
    if (!(event as PageTransitionEvent).persisted || this.#closed || this.#bc) return;
    // On the shared link (which catches up and rejoins by itself) the tab answers hellos again;
    // on its own, it starts over.
    this.#listen(!this.#link);
  };
}
