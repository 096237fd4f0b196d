/**
 * The WebSocket transport: the Pusher Channels protocol (version 7) behind the EventSource
 * interface, so the client's cursor, resume, reconnection and failure handling work unchanged on
 * it. It is given the URL the client built (channels, cursor, token), opens `ws(s)://…/app/{key}`,
 * subscribes to those channels (private and presence ones signed by the app's auth endpoint, as
 * pusher-js does) and dispatches every event frame as a Herald `message` (the id from Herald's
 * extra `id` field, the data parsed from the protocol's JSON string).
 *
 * Lossless resume: the live events of the new subscriptions are held back while the server answers
 * what was published after the client's cursor; those are dispatched first, then the held ones (but
 * those the catch-up already dispatched), then `herald:connected`. Herald's server answers over the socket
 * itself (`herald:resume` → `herald:catch_up`, announced by `herald: 1` in
 * `pusher:connection_established`); any other Pusher server through Herald's poll route. Without a
 * cursor the same request gives the position to resume from next time.
 *
 * Presence (`pusher_internal:subscription_succeeded` with members, `member_added`,
 * `member_removed`) is dispatched as `herald:presence`; client events are sent with `send`.
 */
import { CONTROL, type EventEnvelope, type PresenceMember, type PresencePayload } from "../protocol/envelope.js";
import type { EventSourceFactory, EventSourceLike, FetchErrorDetail } from "./types.js";
import { messageEvent, refusalOf, SourceBase } from "./source-base.js";
import { pollUrlOf } from "./routes.js";

/** The part of the WebSocket API used (the browser's, or the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** A WebSocket constructor. */
export type WebSocketFactory = new (url: string) => WebSocketLike;

/** What a channel auth endpoint answers (`pusher.authorizeChannel(...)`'s result). */
export interface ChannelAuth {
  auth: string;
  channel_data?: string;
}

/** Options of {@link createWebSocketEventSource}. */
export interface WebSocketSourceOptions {
  /** The Pusher endpoint, `ws(s)://host/app/{key}` (a path is taken relative to the page, `ws:` for `http:`). */
  url: string;
  /**
   * Signs private and presence subscriptions: POSTed `socket_id` and `channel_name` (form-encoded,
   * with the page's cookies), it answers `{ auth, channel_data? }`, as for pusher-js.
   */
  authEndpoint?: string;
  /** Extra headers of the auth request. */
  authHeaders?: Record<string, string>;
  /** Extra form fields of the auth request. */
  authParams?: Record<string, string>;
  /** Signs subscriptions instead of the auth endpoint. */
  authorize?: (socketId: string, channel: string) => Promise<ChannelAuth>;
  /**
   * Herald's poll route, which answers the events missed while disconnected (default: the
   * client's `url` with its last segment `sse` turned into `poll`; none when it does not end in
   * `/sse`). `false`: no catch-up (a reconnect may then miss events).
   */
  pollUrl?: string | false;
  /** WebSocket implementation (default: the global one; in Node 20, pass the `ws` package's). */
  WebSocket?: WebSocketFactory;
  /** `fetch` for the auth and poll requests (default: the global one). */
  fetch?: typeof fetch;
}

/** A catch-up answer: the poll route's, or `herald:catch_up`'s (the same shape). */
interface CatchUpAnswer {
  events: EventEnvelope[];
  cursor: string;
  gaps: unknown[];
  token?: string;
}

/** A source that can send client events (the WebSocket one). */
export interface ClientEventSender {
  /** Sends `event` (a `client-*` name) on `channel`; throws when not subscribed yet. */
  send(channel: string, event: string, data: unknown): void;
}

const VERSION = "0.1.0";
const BASE = "http://relative.invalid";

/** An EventSource constructor speaking the Pusher protocol to Herald's WebSocket server. */
export function createWebSocketEventSource(options: WebSocketSourceOptions): EventSourceFactory {
  return class WebSocketEventSource extends SourceBase implements EventSourceLike, ClientEventSender {
    readonly reportsActivity = true;
    readonly transport = "ws";
    readonly #abort = new AbortController();
    readonly #ws: WebSocketLike;
    #channels: string[];
    readonly #subscribed = new Set<string>();
    /** Live events held back until the catch-up is dispatched; null once live. */
    #held: EventEnvelope[] | null = [];
    #socketId = "";
    #activityMs = 120_000;
    /** The interval Herald's server pings at (`heartbeat` in `connection_established`), or 0. */
    #heartbeatMs = 0;
    #lastFrame = Date.now();
    #pingTimer: ReturnType<typeof setTimeout> | undefined;
    #error: FetchErrorDetail = {};
    /** The server answers `herald:resume` (Herald's own): the catch-up goes over the socket. */
    #resumesOnSocket = false;
    /** Receives the next `herald:catch_up` answer, its refusal, or null when the socket goes. */
    #onCatchUp: ((body: string | FetchErrorDetail | null) => void) | null = null;

    readonly #init: { withCredentials?: boolean };

    constructor(
      readonly url: string,
      init: { withCredentials?: boolean } = {},
    ) {
      super();
      this.#init = init;
      const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketFactory }).WebSocket;
      if (!WS) throw new TypeError("herald/client: no WebSocket available; pass options.WebSocket");
      this.#channels = new URL(url, BASE).searchParams.getAll("channel");
      const base = (globalThis as { location?: { href: string } }).location?.href ?? BASE;
      const target = new URL(options.url, base);
      target.protocol = target.protocol.replace(/^http/, "ws");
      target.search = `?protocol=7&client=herald-js&version=${VERSION}&flash=false`;
      this.#ws = new WS(target.href);
      this.#ws.onmessage = (e) => this.#onFrame(String(e.data));
      this.#ws.onerror = () => undefined; // `close` follows
      this.#ws.onclose = (e) => {
        const c = e.code;
        // 4000–4099: do not reconnect as is (4009: unauthorized); others: reconnect after backoff.
        if (c >= 4000 && c < 4100) this.#error = { code: c === 4009 ? 401 : 400, errorCode: `pusher_${c}` };
        this.fail({ message: e.reason || `WebSocket closed (${c})`, ...this.#error });
      };
    }

    close(): void {
      if (this.readyState === 2) return;
      this.readyState = 2;
      this.#abort.abort();
      clearTimeout(this.#pingTimer);
      for (const resolve of this.#joining.values()) resolve(false);
      this.#joining.clear();
      this.#onCatchUp?.(null);
      this.#onCatchUp = null;
      this.#ws.onclose = this.#ws.onmessage = null;
      try {
        this.#ws.close(1000);
      } catch {
        /* still connecting */
      }
    }

    /**
     * Moves the open socket to the channels of `url`: subscribes to the added ones, dispatches what
     * they got after `url`'s `lastEventId` (then their live events, held meanwhile), unsubscribes
     * from the removed ones; resolves once the added ones are live. False before the first
     * catch-up is done, or when a subscription fails (the client then opens a new connection).
     */
    async update(url: string): Promise<boolean> {
      if (this.readyState !== 1 || this.#held) return false;
      const next = new URL(url, BASE).searchParams.getAll("channel");
      for (const channel of this.#channels) {
        if (next.includes(channel)) continue;
        this.#subscribed.delete(channel);
        this.#ws.send(JSON.stringify({ event: "pusher:unsubscribe", data: { channel } }));
      }
      const added = next.filter((c) => !this.#channels.includes(c));
      this.#channels = next;
      if (added.length === 0) return true;
      // The added channels' live events wait while what they got since the cursor is read.
      const held: EventEnvelope[] = [];
      this.#holding = { channels: new Set(added), events: held };
      const live = added.map((channel) => new Promise<boolean>((resolve) => this.#joining.set(channel, resolve)));
      for (const channel of added) void this.#subscribe(channel);
      const subscribed = (await Promise.all(live)).every(Boolean);
      const params = new URL(url, BASE).searchParams;
      const since = params.get("lastEventId");
      const done = subscribed && since ? await this.#replay(added, since, params.get("token"), () => held) : "";
      if (this.#holding?.events === held) this.#holding = null;
      if (subscribed && !since) for (const event of held) this.#emitEvent(event);
      return subscribed && done !== null;
    }

    /** Channels added by `update` whose live events wait for their catch-up, and those events. */
    #holding: { channels: Set<string>; events: EventEnvelope[] } | null = null;

    /** Channels added by `update`, each resolved when its subscription succeeded (false: the source failed). */
    readonly #joining = new Map<string, (ok: boolean) => void>();

    send(channel: string, event: string, data: unknown): void {
      if (this.readyState !== 1 || !this.#subscribed.has(channel))
        throw new Error(`herald/client: not subscribed to ${channel} yet`);
      this.#ws.send(JSON.stringify({ event, channel, data }));
    }

    #onFrame(text: string): void {
      this.#lastFrame = Date.now();
      this.dispatch("activity", new Event("activity"));
      let f: { event?: string; channel?: string; data?: unknown; id?: string; user_id?: string };
      try {
        f = JSON.parse(text) as typeof f;
      } catch {
        return;
      }
      const channel = f.channel ?? "";
      const data = typeof f.data === "string" ? parseData(f.data) : f.data;
      const d = (data ?? {}) as Record<string, unknown>;
      switch (f.event) {
        case "pusher:connection_established":
          this.#socketId = String(d.socket_id);
          this.#resumesOnSocket = d.herald === 1;
          if (Number(d.activity_timeout) > 0) this.#activityMs = Number(d.activity_timeout) * 1000;
          if (Number(d.heartbeat) > 0) this.#heartbeatMs = Number(d.heartbeat);
          this.readyState = 1;
          this.dispatch("open", new Event("open"));
          this.#schedulePing();
          for (const c of this.#channels) void this.#subscribe(c);
          return;
        case "pusher:ping":
          this.#ws.send('{"event":"pusher:pong","data":{}}');
          return;
        case "pusher:error": {
          const code = Number(d.code);
          const message = String(d.message ?? "");
          // A close follows codes 4000–4299; others (client event refused, rate limit) are notices,
          // but a refused catch-up fails this attempt (the client reconnects and resumes).
          if (code >= 4000 && code < 4300) this.#error = { message };
          else if (this.#onCatchUp && message.startsWith("herald:resume")) {
            const take = this.#onCatchUp;
            this.#onCatchUp = null;
            take({ message });
          } else this.#control(CONTROL.error, { code: code ? `pusher_${code}` : "pusher_error", message });
          return;
        }
        case "pusher:subscription_error":
          this.fail({
            code: Number(d.status) || 400,
            errorCode: d.type === "AuthError" ? undefined : String(d.type ?? "subscription_error"),
            message: `${channel}: ${String(d.error ?? "subscription refused")}`,
          });
          return;
        case "pusher_internal:subscription_succeeded": {
          const presence = d.presence as { hash?: Record<string, unknown> } | undefined;
          if (presence) {
            const members: PresenceMember[] = Object.entries(presence.hash ?? {}).map(([id, info]) => ({ id, info }));
            this.#control(CONTROL.presence, { channel, type: "members", members, me: this.#me.get(channel) ?? null });
          }
          this.#subscribed.add(channel);
          this.#joining.get(channel)?.(true);
          this.#joining.delete(channel);
          if (this.#held && this.#subscribed.size === this.#channels.length) void this.#catchUp();
          return;
        }
        case "herald:catch_up": {
          const take = this.#onCatchUp;
          this.#onCatchUp = null;
          take?.(typeof f.data === "string" ? f.data : null);
          return;
        }
        case "pusher_internal:member_added":
        case "pusher_internal:member_removed":
          this.#control(CONTROL.presence, {
            channel,
            type: f.event.endsWith("added") ? "added" : "removed",
            member: { id: String(d.user_id), info: d.user_info ?? null },
          } satisfies PresencePayload);
          return;
      }
      if (!f.event || f.event.startsWith("pusher") || !channel) return;
      const envelope: EventEnvelope = { channel, event: f.event, data, id: f.id ?? "", ts: Date.now() };
      if (f.user_id !== undefined) envelope.userId = f.user_id;
      if (this.#held) this.#held.push(envelope);
      else if (this.#holding?.channels.has(channel)) this.#holding.events.push(envelope);
      else this.#emitEvent(envelope);
    }

    /** The user id each presence subscription joined as. */
    readonly #me = new Map<string, string>();

    async #subscribe(channel: string): Promise<void> {
      const frame: Record<string, unknown> = { channel };
      if (/^(private|presence)-/.test(channel)) {
        let signed: ChannelAuth;
        try {
          signed = await this.#authorize(channel);
        } catch (error) {
          return this.fail(error as FetchErrorDetail);
        }
        frame.auth = signed.auth;
        if (signed.channel_data !== undefined) {
          frame.channel_data = signed.channel_data;
          const id = (parseData(signed.channel_data) as { user_id?: unknown } | null)?.user_id;
          if (id !== undefined) this.#me.set(channel, String(id));
        }
      }
      if (this.readyState === 1) this.#ws.send(JSON.stringify({ event: "pusher:subscribe", data: frame }));
    }

    async #authorize(channel: string): Promise<ChannelAuth> {
      if (options.authorize) return options.authorize(this.#socketId, channel);
      if (!options.authEndpoint)
        throw { code: 400, errorCode: "no_auth_endpoint", message: `${channel} needs an authEndpoint` };
      const body = new URLSearchParams({ ...options.authParams, socket_id: this.#socketId, channel_name: channel });
      const response = await this.#fetch(options.authEndpoint, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", ...options.authHeaders },
        body: body.toString(),
      });
      return (await response.json()) as ChannelAuth;
    }

    /**
     * Dispatches what was published after the cursor (over the socket from Herald's server, else
     * from the poll route), then the held live events.
     */
    async #catchUp(): Promise<void> {
      const url = new URL(this.url, BASE);
      const cursor = await this.#replay(
        this.#channels,
        url.searchParams.get("lastEventId") ?? "",
        url.searchParams.get("token"),
        () => this.#held ?? [],
      );
      if (cursor === null) return;
      this.#held = null;
      this.#control(CONTROL.connected, {
        connectionId: this.#socketId,
        cursor,
        channels: this.#channels,
        // The client counts a socket silent for about two of these as stalled: Herald's server
        // pings every `heartbeat`; another Pusher server is only known to answer our pings.
        heartbeat: this.#heartbeatMs || this.#activityMs,
      });
    }

    /**
     * Dispatches what `channels` got after `cursor` (over the socket from Herald's server, else
     * from the poll route), then the live events `held()` returns that the catch-up did not
     * dispatch. Resolves to the cursor reached, or null when the source failed or closed.
     */
    async #replay(
      channels: string[],
      cursor: string,
      token: string | null,
      held: () => EventEnvelope[],
    ): Promise<string | null> {
      // Default: the poll route beside Herald's SSE route; with another URL there is none to guess.
      const pollUrl = options.pollUrl ?? (/\/sse\/?$/.test(new URL(this.url, BASE).pathname) && pollUrlOf(this.url));
      const read = this.#resumesOnSocket
        ? () => this.#readOverSocket(channels, cursor)
        : pollUrl
          ? () => this.#readOverHttp(pollUrl, channels, cursor, token)
          : null;
      /** Ids of the events the catch-up dispatched: the held ones among them are not dispatched again. */
      const caughtUp = new Set<string>();
      if (read) {
        for (let page = 0; page < 100; page++) {
          let answer: CatchUpAnswer | null;
          try {
            answer = await read();
          } catch (error) {
            this.fail(error as FetchErrorDetail);
            return null;
          }
          if (answer === null || this.readyState === 2) return null;
          for (const gap of answer.gaps) this.#control(CONTROL.gap, gap);
          for (const event of answer.events) {
            caughtUp.add(event.id);
            this.#emitEvent(event);
          }
          const moved = answer.cursor !== cursor;
          cursor = answer.cursor;
          token = answer.token ?? null;
          // Done when the log has no more, or has reached the live events held meanwhile (a page of
          // nothing but those): reading on would only fetch them again, a request per page, and on a
          // busy channel spend the connection's message allowance until the server closes it.
          const live = new Set(held().map((e) => e.id));
          const reachedLive = answer.events.every((e) => live.has(e.id));
          if (answer.events.length === 0 || answer.gaps.length > 0 || !moved || reachedLive) break;
        }
      }
      for (const event of held()) if (!caughtUp.has(event.id)) this.#emitEvent(event);
      return cursor;
    }

    /** One page of the catch-up over the socket (`herald:resume`); null when the socket went. */
    #readOverSocket(channels: string[], cursor: string): Promise<CatchUpAnswer | null> {
      return new Promise((resolve, reject) => {
        this.#onCatchUp = (body) => {
          if (body === null || typeof body === "string")
            resolve(body === null ? null : (JSON.parse(body) as CatchUpAnswer));
          else reject(body);
        };
        this.#ws.send(JSON.stringify({ event: "herald:resume", data: { channels, cursor } }));
      });
    }

    /** One page of the catch-up from the poll route. */
    async #readOverHttp(
      pollUrl: string,
      channels: string[],
      cursor: string,
      token: string | null,
    ): Promise<CatchUpAnswer> {
      const poll = new URL(pollUrl, BASE);
      for (const c of channels) poll.searchParams.append("channel", c);
      if (cursor) poll.searchParams.set("lastEventId", cursor);
      if (token) poll.searchParams.set("token", token);
      const href = poll.origin === BASE ? poll.pathname + poll.search : poll.href;
      return (await (await this.#fetch(href)).json()) as CatchUpAnswer;
    }

    /** `fetch` with the page's cookies; a refusal throws its status and Herald's error code. */
    async #fetch(href: string, init: RequestInit = {}): Promise<Response> {
      let response: Response;
      try {
        response = await (options.fetch ?? fetch)(href, {
          ...init,
          credentials: this.#init.withCredentials ? "include" : "same-origin",
          cache: "no-store",
          signal: this.#abort.signal,
        });
      } catch (error) {
        throw { message: String((error as Error)?.message ?? error) };
      }
      if (response.ok) return response;
      throw { message: `${href}: ${response.status}`, ...(await refusalOf(response)) };
    }

    /** Pings the server after `activity_timeout` without a frame, as pusher-js does. */
    #schedulePing(): void {
      this.#pingTimer = setTimeout(() => {
        if (Date.now() - this.#lastFrame >= this.#activityMs) this.#ws.send('{"event":"pusher:ping","data":{}}');
        this.#schedulePing();
      }, this.#activityMs / 2);
    }

    #emitEvent(envelope: EventEnvelope): void {
      this.dispatch("message", messageEvent("message", JSON.stringify(envelope), envelope.id));
    }

    #control(type: string, payload: unknown): void {
      this.dispatch(type, messageEvent(type, JSON.stringify(payload), ""));
    }

    /** Nothing but the final `error` after close. */
    protected override dispatch(type: string, event: Event): void {
      if (this.readyState === 2 && type !== "error") return;
      super.dispatch(type, event);
    }
  };
}

/** Pusher's `data` string as JSON when it is JSON, else the string itself (as Herald's server maps it). */
function parseData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
