/**
 * One connection per browser. The tabs of one origin that follow the same endpoint as the same user
 * form a group (a `BroadcastChannel` named by endpoint, transport and user). One tab, the leader,
 * holds the group's connection for the union of every tab's channels and forwards what arrives to
 * the others; each tab dispatches only its own channels and shows the leader's connection state.
 *
 * Election: the Web Locks API (the lock's holder leads; when its tab closes or crashes the browser
 * hands the lock to the next tab at once). A leader that goes quiet (a frozen tab keeps its lock)
 * is asked whether it is alive; no answer within half a second and a follower steals the lock.
 * Without Web Locks, a follower that hears no leader claims leadership, and of two leaders that
 * hear each other the one with the greater id steps down.
 *
 * Nothing is lost or delivered twice across a change of leader: every tab sees every forwarded
 * event and keeps the cursor, so a new leader resumes from the last event the group saw, and each
 * tab drops what it already has by position. A tab going into the back/forward cache (`pagehide`)
 * leaves the group, releasing its lock and connection; when it is shown again it catches up on its
 * own connection from its cursor and then rejoins.
 */
import type { ErrorPayload } from "../protocol/envelope.js";
import { backoffDelay } from "./backoff.js";
import { Connection, tokenOf, type ConnectionHost, type Link } from "./connection.js";
import { oldest } from "./cursor-tracker.js";
import type { ClientTransport, HeraldClientOptions } from "./options.js";
import { randomId } from "./source-base.js";
import type { ConnectionState, Transition } from "./state.js";
import { Timer, timersOf } from "./timer.js";
import type { EventSourceFactory, Timers } from "./types.js";

/** How often the leader says it is alive and each follower says which channels it follows (ms). */
const BEAT_MS = 250;
/** Silence of the leader after which a follower asks whether it is alive (ms). */
const QUIET_MS = 1000;
/** How long a follower waits for the answer before taking over (ms). */
const ANSWER_MS = 500;
/** A follower not heard from this long has gone: its channels leave the connection (ms). */
const FOLLOWER_GONE_MS = 5000;

interface Snapshot {
  state: ConnectionState;
  attempt: number;
  nextRetryAt: number | null;
  transport: ClientTransport;
}

/** What tabs of a group tell each other. */
type Message =
  | { k: "hi"; from: string; channels: string[]; since: (string | null)[] }
  | { k: "bye"; from: string }
  | { k: "ping"; from: string }
  | { k: "lead"; from: string; snap: Snapshot }
  | { k: "frame"; from: string; type: string; data: string }
  | { k: "state"; from: string; t: Transition; snap: Snapshot }
  | { k: "error"; from: string; payload: ErrorPayload }
  | { k: "transport"; from: string; kind: ClientTransport }
  | { k: "send"; from: string; channel: string; event: string; data: unknown }
  | { k: "reconnect"; from: string };

interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal; steal?: boolean }, grant: () => Promise<void>): Promise<void>;
}

function lockManager(): LockManagerLike | null {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  return locks && typeof locks.request === "function" ? locks : null;
}

interface PageEvents {
  addEventListener(type: string, fn: (e: Event) => void): void;
  removeEventListener(type: string, fn: (e: Event) => void): void;
}

/** See the module comment. */
export class SharedLink implements Link {
  readonly #id = randomId();
  #state: "idle" | "solo" | "leader" | "follower" = "idle";
  /** This tab's connection: the group's when leading, its own when solo or catching up. */
  #conn: Connection | null = null;
  /** The host given to `conn` (see `hostFor`). */
  #connHost: ConnectionHost | null = null;
  #bc: BroadcastChannel | null = null;
  #key = "";
  #user: string | null = null;
  #leaderId: string | null = null;
  /** Last time the leader was heard from (any message). */
  #leaderHeard = 0;
  #pinged = false;
  #snap: Snapshot | null = null;
  /** Channels the server refused on the group's connection (another tab's, maybe): left out of it. */
  readonly #refusedChannels = new Set<string>();
  /** The other tabs' channels, by tab id. */
  readonly #tabs = new Map<string, { channels: string[]; since: (string | null)[]; heard: number }>();
  readonly #beat: Timer;
  readonly #retry: Timer;
  #failures = 0;
  #lock: AbortController | null = null;
  #release: (() => void) | null = null;
  /** The token got to learn the user, for this tab's first connection if it leads at once. */
  #spare: { token: string; at: number } | null = null;
  readonly #timers: Timers;
  readonly #now: () => number;
  readonly #page: PageEvents | null;
  #closed = false;
  /** Catching up on this tab's own connection before joining the group of this user. */
  #joinAfterCatchUp: { userId: string | null } | null = null;

  readonly #options: HeraldClientOptions;
  readonly #host: ConnectionHost;
  readonly #ES: EventSourceFactory;

  /**
   * `own`: this tab's open connection, which it held alone until another tab came (`tab-link.ts`):
   * the link takes it over and joins the group at once, keeping it while it leads and dropping it
   * once it hears another tab lead. Without `own` the link starts with the first channel.
   */
  constructor(options: HeraldClientOptions, host: ConnectionHost, ES: EventSourceFactory, own?: Connection) {
    this.#options = options;
    this.#host = host;
    this.#ES = ES;
    this.#timers = timersOf(options.timers);
    this.#now = options.now ?? Date.now;
    this.#beat = new Timer(this.#timers);
    this.#retry = new Timer(this.#timers);
    const win = (globalThis as { window?: PageEvents }).window;
    this.#page = win && typeof win.addEventListener === "function" ? win : null;
    this.#page?.addEventListener("pagehide", this.#onPageHide);
    this.#page?.addEventListener("pageshow", this.#onPageShow);
    if (own) {
      this.#conn = own;
      own.hostedBy(this.#hostFor());
      void this.#start(false);
    }
  }

  /** Whose connection this tab is on. */
  get role(): "own" | "leader" | "follower" {
    return this.#state === "leader" || this.#state === "follower" ? this.#state : "own";
  }

  get attempt(): number {
    return this.#conn && this.#state !== "follower" ? this.#conn.attempt : (this.#snap?.attempt ?? 0);
  }

  get nextRetryAt(): number | null {
    return this.#conn && this.#state !== "follower" ? this.#conn.nextRetryAt : (this.#snap?.nextRetryAt ?? null);
  }

  get transport(): ClientTransport {
    if (this.#conn && this.#state !== "follower") return this.#conn.transport;
    return this.#snap?.transport ?? (this.#options.transport === "ws" ? "ws" : "sse");
  }

  channelsChanged(removal: boolean): void {
    if (this.#closed) return;
    if (this.#state === "idle") {
      if (!this.#retry.armed && this.#host.channels().length > 0) void this.#start(false);
      return;
    }
    this.#conn?.channelsChanged(removal);
    if (this.#state === "follower") this.#hello();
  }

  reconnect(): void {
    if (this.#closed) return;
    if (this.#state === "follower") {
      // The session may have changed: learn the user again (another user means another group).
      void this.#identify().then((who) => {
        if (!who || this.#closed) return;
        if (who.userId !== undefined && who.userId !== this.#user) return this.#rejoin(who.userId, who.token);
        this.#post({ k: "reconnect", from: this.#id });
      });
      return;
    }
    this.#conn?.reconnect();
  }

  sendOnSocket(channel: string, event: string, data: unknown): boolean {
    if (this.#state !== "follower") return this.#conn?.sendOnSocket(channel, event, data) ?? false;
    if (this.transport !== "ws") return false;
    this.#post({ k: "send", from: this.#id, channel, event, data });
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#leave();
    this.#joinAfterCatchUp = null;
    this.#retry.clear();
    this.#closed = true;
    this.#page?.removeEventListener("pagehide", this.#onPageHide);
    this.#page?.removeEventListener("pageshow", this.#onPageShow);
  }

  // --- joining ----------------------------------------------------------------------------------

  /** The token and its user from `getToken` (null when it failed: retried with backoff). */
  async #identify(): Promise<{ token: string | null; userId?: string | null } | null> {
    // No getToken: the page's cookies say who the user is, and every tab has the same ones. Over
    // WebSocket the auth endpoint's parameters may name a user per tab: no sharing then.
    if (!this.#options.getToken) return { token: null, userId: this.#options.transport === "ws" ? undefined : null };
    try {
      const result = tokenOf(await this.#options.getToken({ signal: new AbortController().signal }));
      this.#failures = 0;
      return result;
    } catch (error) {
      this.#host.error({ code: "token_fetch_failed", message: String((error as Error)?.message ?? error) });
      const delay = backoffDelay(this.#failures++, this.#options.backoff, this.#options.random ?? Math.random);
      this.#retry.set(delay, () => void this.#start(false));
      return null;
    }
  }

  /**
   * Learns who the user is, then joins that user's group (or, when `getToken` does not say, keeps
   * a connection of its own). `catchUp`: first resume this tab's channels on its own connection
   * (back from the back/forward cache), then join.
   */
  async #start(catchUp: boolean): Promise<void> {
    const own = this.#conn; // taken over from this tab (see the constructor): it serves meanwhile
    // Its user is known from its last token: join at once, ahead of the tab that just came (which
    // asks for a token first), so that this tab often leads and its stream stays.
    if (own?.userId !== undefined && !catchUp) return this.#join(own.userId, null);
    this.#state = "solo"; // until the group is joined: no second start meanwhile
    if (!own) this.#host.changed({ prev: "idle", next: "connecting", reason: "connect", attempt: 0, delayMs: 0 });
    const who = await this.#identify();
    if (this.#closed) return;
    if (!who) {
      if (!own) this.#state = "idle";
      return;
    }
    if (own && who.userId === undefined) return; // a bare token: this tab keeps its own connection
    if (who.userId === undefined || catchUp) {
      // A bare token (the tabs could be different users): a connection of its own. Back from the
      // back/forward cache: its own connection until caught up, then the group (see `hostFor`).
      if (who.userId !== undefined) this.#joinAfterCatchUp = { userId: who.userId };
      this.#conn = new Connection(this.#options, this.#hostFor(), this.#ES);
      this.#conn.useToken(who.token);
      this.#conn.channelsChanged(false);
      return;
    }
    this.#join(who.userId, who.token);
  }

  #join(userId: string | null, token: string | null): void {
    const base = (globalThis as { location?: { href: string } }).location?.href ?? "http://localhost/";
    this.#user = userId;
    this.#key = `herald:${new URL(this.#options.url, base).href}|${this.#options.transport ?? ""}|${userId ?? ""}`;
    // Null: none was got (or anonymous): the connection asks when this tab leads.
    this.#spare = token === null ? null : { token, at: this.#now() };
    this.#bc = new BroadcastChannel(this.#key);
    this.#bc.onmessage = (event: MessageEvent) => this.#receive(event.data as Message);
    this.#state = "follower";
    // Ask at once whether a leader is there; without Web Locks, no answer makes this tab lead.
    this.#leaderHeard = this.#now() - QUIET_MS;
    this.#pinged = true;
    this.#post({ k: "ping", from: this.#id });
    this.#hello();
    this.#tick();
    if (lockManager()) this.#requestLock(false);
  }

  /** Leaves the group: tells the others, lets go of the connection, the lock and the channel. */
  #leave(): void {
    if (this.#bc) this.#post({ k: "bye", from: this.#id });
    this.#drop();
    this.#release?.();
    this.#release = null;
    this.#lock?.abort();
    this.#lock = null;
    this.#bc?.close();
    this.#bc = null;
    this.#beat.clear();
    this.#tabs.clear();
    this.#refusedChannels.clear();
    this.#leaderId = null;
    this.#state = "idle";
  }

  #rejoin(userId: string | null, token: string | null): void {
    this.#leave();
    this.#join(userId, token);
  }

  /** Closes this tab's connection without telling the client (the group's state goes on). */
  #drop(): void {
    const conn = this.#conn;
    this.#conn = null;
    conn?.close();
  }

  #hello(): void {
    const channels = this.#host.channels();
    const since = channels.map((c) => this.#host.since?.([c]) ?? null);
    this.#post({ k: "hi", from: this.#id, channels, since });
  }

  #post(message: Message): void {
    try {
      this.#bc?.postMessage(message);
    } catch {
      /* closed, or data that cannot be cloned: the follower's own call reports nothing else */
    }
  }

  // --- leading ----------------------------------------------------------------------------------

  #requestLock(steal: boolean): void {
    const locks = lockManager();
    if (!locks) return;
    this.#lock?.abort();
    const lock = new AbortController();
    this.#lock = lock;
    const grant = (): Promise<void> =>
      new Promise<void>((resolve) => {
        if (lock !== this.#lock || this.#closed) return resolve();
        this.#release = resolve;
        this.#lead();
      });
    // A steal cannot be aborted (the API refuses a signal with it); a stale grant resolves at once.
    locks.request(this.#key, steal ? { steal: true } : { signal: lock.signal }, grant).catch(() => {
      // Aborted by this tab, or stolen by another because this one went quiet (frozen).
      if (lock === this.#lock && this.#state === "leader") this.#stepDown();
    });
  }

  #lead(): void {
    if (this.#state !== "follower") return;
    this.#state = "leader";
    this.#leaderId = this.#id;
    if (!this.#conn) {
      this.#conn = new Connection(this.#options, this.#hostFor(), this.#ES);
      // Only while fresh: a tab that leads much later (a takeover) asks for a new token.
      if (this.#spare && this.#now() - this.#spare.at < 5000) this.#conn.useToken(this.#spare.token);
    }
    this.#spare = null;
    this.#post({ k: "lead", from: this.#id, snap: this.#snapshot() });
    this.#conn.channelsChanged(false);
  }

  #stepDown(): void {
    this.#drop();
    this.#release?.();
    this.#release = null;
    this.#state = "follower";
    this.#leaderHeard = this.#now();
    this.#pinged = false;
    if (lockManager()) this.#requestLock(false);
    this.#hello();
  }

  #snapshot(): Snapshot {
    return {
      state: this.#conn?.state ?? "idle",
      attempt: this.attempt,
      nextRetryAt: this.nextRetryAt,
      transport: this.transport,
    };
  }

  /** The channels of every tab of the group, but those the server refused. */
  #union(): string[] {
    const all = new Set(this.#host.channels());
    for (const tab of this.#tabs.values()) for (const c of tab.channels) all.add(c);
    for (const c of this.#refusedChannels) if (!all.delete(c)) this.#refusedChannels.delete(c); // no tab has it now
    return [...all];
  }

  /** The host of this tab's connection: the client, and the group when this tab leads. */
  #hostFor(): ConnectionHost {
    const host = this.#host;
    // Reports of a connection this tab has let go of (dropped, replaced) are ignored.
    const ours = (): boolean => this.#connHost === self && this.#conn !== null;
    const forward = (message: Message): void => {
      if (this.#state === "leader") this.#post(message);
    };
    const self: ConnectionHost = {
      channels: () => (this.#state === "leader" ? this.#union() : host.channels()),
      resumeCursor: () => host.resumeCursor(),
      frame: (type, data) => {
        if (!ours()) return;
        host.frame(type, data);
        forward({ k: "frame", from: this.#id, type, data });
        const pending = this.#joinAfterCatchUp;
        if (pending && type === "herald:connected") {
          // Caught up on this tab's own connection: join the group; the connection stays until
          // this tab is a follower hearing its leader (then it goes) or the leader (then it serves).
          this.#joinAfterCatchUp = null;
          this.#join(pending.userId, null);
        }
      },
      changed: (t) => {
        if (!ours()) return;
        host.changed(t);
        forward({ k: "state", from: this.#id, t, snap: this.#snapshot() });
      },
      error: (payload) => {
        if (!ours()) return;
        host.error(payload);
        forward({ k: "error", from: this.#id, payload });
      },
      transported: (kind) => {
        if (!ours()) return;
        host.transported(kind);
        forward({ k: "transport", from: this.#id, kind });
      },
      since: (channels) => {
        if (this.#state !== "leader") return host.since?.(channels) ?? null;
        const mine = host.channels();
        const starts = channels.map((c) => {
          if (mine.includes(c)) return host.since?.([c]) ?? null;
          for (const tab of this.#tabs.values()) {
            const i = tab.channels.indexOf(c);
            if (i >= 0) return tab.since[i] ?? null;
          }
          return null;
        });
        return oldest(starts);
      },
      refused: (channel) => {
        if (this.#state === "leader") this.#refusedChannels.add(channel);
        host.refused?.(channel);
      },
      identity: (userId) => {
        if (this.#state !== "leader" || userId === this.#user) return true;
        // The session changed under this tab: its connection must not serve the old user's tabs.
        queueMicrotask(() => this.#rejoin(userId, null));
        return false;
      },
    };
    this.#connHost = self;
    return self;
  }

  // --- the beat ---------------------------------------------------------------------------------

  #tick(): void {
    const now = this.#now();
    if (this.#state === "leader") {
      this.#post({ k: "lead", from: this.#id, snap: this.#snapshot() });
      let gone = false;
      for (const [id, tab] of this.#tabs) if (now - tab.heard > FOLLOWER_GONE_MS) gone = this.#tabs.delete(id) || gone;
      if (gone) this.#conn?.channelsChanged(true);
    } else if (this.#state === "follower") {
      this.#hello();
      const quiet = now - this.#leaderHeard;
      if (!this.#pinged && quiet >= QUIET_MS) {
        // A leader in a background tab beats slowly (throttled timers) but answers at once.
        this.#pinged = true;
        this.#post({ k: "ping", from: this.#id });
      } else if (this.#pinged && quiet >= QUIET_MS + ANSWER_MS * (1 + Math.random())) {
        this.#takeOver();
      }
    }
    if (this.#state === "leader" || this.#state === "follower") this.#beat.set(BEAT_MS, () => this.#tick());
  }

  #takeOver(): void {
    this.#leaderHeard = this.#now();
    this.#pinged = false;
    if (lockManager()) this.#requestLock(true);
    else this.#lead();
  }

  #receive(message: Message): void {
    if (this.#closed || message.from === this.#id) return;
    const now = this.#now();
    switch (message.k) {
      case "hi": {
        const before = this.#state === "leader" ? this.#union() : null;
        this.#tabs.set(message.from, { channels: message.channels, since: message.since ?? [], heard: now });
        if (before) this.#unionChanged(before);
        return;
      }
      case "bye": {
        const before = this.#state === "leader" ? this.#union() : null;
        this.#tabs.delete(message.from);
        if (before) this.#unionChanged(before);
        if (message.from === this.#leaderId) {
          this.#leaderId = null;
          this.#leaderHeard = 0; // ask at once
        }
        return;
      }
      case "ping":
        if (this.#state === "leader") this.#post({ k: "lead", from: this.#id, snap: this.#snapshot() });
        return;
      case "lead":
        if (this.#state === "leader") {
          // Two leaders (no Web Locks, or a steal in flight): without locks the greater id yields;
          // with locks the one whose lock was stolen learns it from the lock and steps down.
          if (!lockManager() && this.#id > message.from) this.#stepDown();
          else return;
        }
        this.#heard(message.from, now);
        this.#follow(message.snap);
        return;
      case "frame":
        // From any leader, past or present: a tab drops what it already has by position.
        this.#heard(message.from, now);
        this.#host.frame(message.type, message.data);
        return;
      case "state":
        if (message.from !== this.#leaderId || this.#state === "leader") return;
        this.#heard(message.from, now);
        this.#snap = message.snap;
        this.#host.changed(message.t);
        return;
      case "error": {
        if (message.from !== this.#leaderId || this.#state === "leader") return;
        // A channel the server refused stays out of the connection when this tab leads later.
        const { channel, status } = message.payload;
        if (status === 403 && typeof channel === "string") this.#refusedChannels.add(channel);
        this.#host.error(message.payload);
        return;
      }
      case "transport":
        if (message.from === this.#leaderId && this.#state !== "leader") this.#host.transported(message.kind);
        return;
      case "send":
        if (this.#state === "leader") this.#conn?.sendOnSocket(message.channel, message.event, message.data);
        return;
      case "reconnect":
        if (this.#state === "leader") this.#conn?.reconnect();
        return;
    }
  }

  #heard(from: string, now: number): void {
    if (this.#state === "leader") return;
    if (from !== this.#leaderId) {
      this.#leaderId = from;
      this.#hello(); // a new leader learns this tab's channels at once
    }
    this.#leaderHeard = now;
    this.#pinged = false;
    // Caught up on its own connection and now hearing the group: that connection can go.
    if (this.#state === "follower" && this.#conn) this.#drop();
  }

  /** Shows the leader's state in this tab (a tab that joins late, or missed a transition). */
  #follow(snap: Snapshot): void {
    const prev = this.#snap?.state;
    this.#snap = snap;
    if (prev !== snap.state)
      this.#host.changed({
        prev: prev ?? "idle",
        next: snap.state,
        reason: "shared",
        attempt: snap.attempt,
        delayMs: 0,
      });
  }

  #unionChanged(before: string[]): void {
    const after = this.#union();
    if (after.length === before.length && after.every((c) => before.includes(c))) return;
    this.#conn?.channelsChanged(before.some((c) => !after.includes(c)) && after.every((c) => before.includes(c)));
  }

  readonly #onPageHide = (event: Event): void => {
    if (this.#state === "idle" || this.#state === "solo") return;
    // Unloading: the browser releases the lock; the others learn at once that this tab's channels go.
    if (!(event as PageTransitionEvent).persisted) return this.#post({ k: "bye", from: this.#id });
    this.#leave(); // into the back/forward cache: no lock, connection or channel may stay open
  };

  readonly #onPageShow = (event: Event): void => {
    if (!(event as PageTransitionEvent).persisted || this.#closed || this.#state !== "idle") return;
    if (this.#host.channels().length > 0) void this.#start(true);
  };
}
