/**
 * The transport contract every browser-side source keeps (issue #20), as one function each
 * source's adapter runs: FetchEventSource (SSE), the long-poll source and the WebSocket source all
 * sit behind `EventSourceLike`, and the client relies on the same things from each. Run against a
 * real Herald server on port 0, one per test:
 *
 * 1. open: `open`, then `herald:connected` with a connection id, the head cursor and the channels;
 *    `readyState` OPEN.
 * 2. events: every event on a followed channel as `message` (the envelope, `lastEventId` = its id),
 *    in order; none of a channel not followed.
 * 3. cursor: from an id seen earlier, exactly the events after it (none before, none twice), also
 *    while events keep coming during the connection's setup.
 * 4. gap: a cursor of another epoch gives one `herald:gap` for the channel, nothing replayed, then live.
 * 5. auth refusal: another user's `user-*` channel, or a reused token, ends in `error` with the
 *    status and Herald's error code, and no `herald:connected`.
 * 6. close: nothing dispatched after `close()` while events go on (nor the rest of an answer when
 *    a listener closes it), `readyState` CLOSED, and the server's count of this transport's
 *    connections goes back down.
 *
 * Where a source behaves otherwise by design, its adapter says so in `differences` (with the
 * reason), and the test asserts what the source does instead: nothing is skipped.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FetchErrorDetail } from "../../src/client/fetch-event-source.js";
import type { EventSourceFactory, EventSourceLike } from "../../src/client/types.js";
import { CONTROL, type ConnectedPayload, type EventEnvelope, type GapPayload } from "../../src/protocol/envelope.js";
import { MemoryBroker, type Herald, type HeraldOptions } from "../../src/server/index.js";
import { CursorTracker } from "../../src/client/cursor-tracker.js";
import { decodeCursor, parsePosition } from "../../src/protocol/cursor.js";
import { waitFor } from "../helpers.js";

/** A Herald serving one source's transport, on a real server. */
export interface SourceServer {
  readonly herald: Herald;
  /** Herald's SSE route (`…/api/realtime/sse`): every source is given a URL on it, as the client builds it. */
  readonly sseUrl: string;
  /** Closes the server and the Herald. */
  close(): Promise<void>;
}

/** How the contract drives one source. */
export interface SourceAdapter {
  name: string;
  /** The source's key in `herald.stats().transports`. */
  transport: "sse" | "poll" | "websocket";
  /** Starts a Herald with `options` (and whatever else the transport needs) on port 0. */
  start(options: HeraldOptions): Promise<SourceServer>;
  /** The source's constructor for `server`, as the client would be given it. */
  factory(server: SourceServer): EventSourceFactory;
  /** What this source does differently from the contract, each with the reason. */
  differences?: {
    /** Refusals carry the status but not Herald's error code (`errorCode` undefined). */
    refusalWithoutErrorCode?: string;
    /** The `token` in the URL never reaches the server: a reused token is not refused, the stream opens. */
    tokenNotPresented?: string;
  };
}

/** The signed-in user of every request (`getUserId`), and another one. */
const USER = "u1";
const OTHER = "u2";

/** What every server of the contract runs with: a session (so tokens and user channels are in play), no attempt rates. */
const OPTIONS: HeraldOptions = {
  getUserId: () => USER,
  limits: { connectPerIp: false, connectPerUser: false },
};

/** Every type a source may dispatch, recorded in order. */
const TYPES = ["open", "message", "error", "activity", ...Object.values(CONTROL)];

/** One dispatched event: its type, its data (parsed JSON), `lastEventId`, and on `error` the detail. */
export interface Seen {
  type: string;
  data?: unknown;
  lastEventId?: string;
  detail?: FetchErrorDetail;
}

/** A source and everything it dispatched, with bounded waits on it. */
export class Recorder {
  readonly seen: Seen[] = [];

  constructor(readonly source: EventSourceLike) {
    for (const type of TYPES) {
      source.addEventListener(type, (event) => {
        const e = event as MessageEvent & FetchErrorDetail;
        if (type === "error") {
          const { code, retryAfter, errorCode, message } = e;
          this.seen.push({ type, detail: { code, retryAfter, errorCode, message } });
        } else if (typeof e.data === "string") {
          this.seen.push({ type, data: JSON.parse(e.data) as unknown, lastEventId: e.lastEventId });
        } else this.seen.push({ type });
      });
    }
  }

  close(): void {
    this.source.close();
  }

  of(type: string): Seen[] {
    return this.seen.filter((s) => s.type === type);
  }

  /** Types in order, without the bookkeeping ones (`activity`, `herald:heartbeat`). */
  types(): string[] {
    return this.seen.map((s) => s.type).filter((t) => t !== "activity" && t !== CONTROL.heartbeat);
  }

  messages<T = unknown>(): EventEnvelope<T>[] {
    return this.of("message").map((s) => s.data as EventEnvelope<T>);
  }

  /** The payload of `herald:connected`, once it came. */
  connected(): ConnectedPayload | undefined {
    return this.of(CONTROL.connected)[0]?.data as ConnectedPayload | undefined;
  }

  /** Waits (bounded) for `predicate`. */
  until(predicate: (r: this) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return waitFor(() => predicate(this), timeoutMs, what);
  }

  untilConnected(): Promise<void> {
    return this.until((r) => r.connected() !== undefined || r.of("error").length > 0, "herald:connected").then(() =>
      expect(this.of("error"), "refused instead of connected").toEqual([]),
    );
  }

  untilMessage(id: string): Promise<void> {
    return this.until((r) => r.messages().some((m) => m.id === id), `the message ${id}`);
  }

  untilError(): Promise<FetchErrorDetail> {
    return this.until((r) => r.of("error").length > 0, "error").then(() => this.of("error")[0]!.detail!);
  }
}

/** Registers the contract's `describe` block for `adapter`. */
export function sourceContract(adapter: SourceAdapter, partitions = 1): void {
  const d = adapter.differences ?? {};
  const inPartitions = partitions > 1 ? `, the log in ${partitions} partitions` : "";

  describe(`source contract: ${adapter.name}${inPartitions}`, () => {
    let server: SourceServer;
    const recorders: Recorder[] = [];

    beforeEach(async () => {
      const broker = partitions > 1 ? { broker: new MemoryBroker({ partitions }) } : {};
      server = await adapter.start({ ...OPTIONS, ...broker });
    });
    afterEach(async () => {
      for (const r of recorders.splice(0)) r.close();
      await server.close();
    });

    /** A new source on `channels` (from `lastEventId`, with `token`), recording what it dispatches. */
    const open = (channels: string[], query: { lastEventId?: string; token?: string } = {}): Recorder => {
      const url = new URL(server.sseUrl);
      for (const c of channels) url.searchParams.append("channel", c);
      if (query.lastEventId) url.searchParams.set("lastEventId", query.lastEventId);
      if (query.token) url.searchParams.set("token", query.token);
      const Source = adapter.factory(server);
      const recorder = new Recorder(new Source(url.toString()));
      recorders.push(recorder);
      return recorder;
    };
    const publish = (channel: string, n: number) => server.herald.publish(channel, "tick", { n });
    /** In the log's order; with partitions grouped by channel: order is kept per channel, not across partitions. */
    const ordered = <T>(items: readonly T[], channelOf: (item: T) => string | undefined): T[] =>
      partitions === 1 ? [...items] : [...items].sort((x, y) => (channelOf(x) ?? "").localeCompare(channelOf(y) ?? ""));
    /** What a client resumes from after event `id` on `s`: its connected cursor with the id merged in. */
    const cursorAfter = (s: Recorder, id: string): string => {
      const tracker = new CursorTracker();
      tracker.advance(s.connected()!.cursor);
      tracker.advance(id);
      return tracker.cursor!;
    };
    const connections = () => server.herald.stats().transports[adapter.transport]?.connections ?? 0;

    it("1. open: open, then herald:connected with a connection id, the head cursor and the channels; readyState OPEN", async () => {
      const head = await publish("a", 0);
      const s = open(["a", "b"]);
      await s.untilConnected();
      expect(s.connected()!.connectionId).toMatch(/./);
      expect(s.connected()).toMatchObject({ channels: ["a", "b"] });
      // The head of a's partition (with partitions, the cursor holds a position in every one).
      const at = parsePosition(head)!;
      expect(decodeCursor(s.connected()!.cursor).get(at.partition)).toEqual(at);
      expect(s.source.readyState).toBe(1);
      expect(s.types()).toEqual(["open", CONTROL.connected]);
    });

    it("2. events: each followed channel's events as message, in order, lastEventId = the id; none of another channel", async () => {
      const s = open(["a", "b"]);
      await s.untilConnected();
      const expected: Omit<EventEnvelope, "ts">[] = [];
      for (const [channel, n] of [
        ["a", 0],
        ["b", 1],
        ["c", 2],
        ["a", 3],
        ["c", 4],
        ["b", 5],
      ] as const) {
        const id = await publish(channel, n);
        if (channel !== "c") expected.push({ channel, event: "tick", data: { n }, id });
      }
      await s.untilMessage(expected.at(-1)!.id);
      const got = s.messages().map(({ channel, event, data, id }) => ({ channel, event, data, id }));
      expect(ordered(got, (e) => e.channel)).toEqual(ordered(expected, (e) => e.channel));
      // The id, or a cursor with the event's own position first (a stream of several partitions).
      const ids = s
        .messages()
        .map((m, i) => ({ channel: m.channel, id: s.of("message")[i]!.lastEventId!.split(".")[0] }));
      expect(ordered(ids, (e) => e.channel)).toEqual(
        ordered(expected, (e) => e.channel).map(({ channel, id }) => ({ channel, id })),
      );
    });

    it("3. cursor: from an id seen earlier, exactly the events after it (none before, none twice)", async () => {
      const ids: string[] = [];
      for (let n = 0; n < 5; n++) ids.push(await publish("a", n));
      const s = open(["a"], { lastEventId: ids[1] });
      await s.untilConnected();
      const live = await publish("a", 5);
      await s.untilMessage(live);
      expect(s.messages<{ n: number }>().map((m) => m.data.n)).toEqual([2, 3, 4, 5]);
      expect(s.messages().map((m) => m.id)).toEqual([...ids.slice(2), live]);
      expect(s.of(CONTROL.gap)).toEqual([]);
    });

    it("3b. cursor: events published while the source connects (and resumes) arrive once each, in order", async () => {
      const from = await publish("a", 0);
      const s = open(["a"], { lastEventId: from });
      const ids: string[] = [];
      // Publish all along the connection's setup (at most 500: the log keeps 1,000 per channel).
      while (ids.length < 500 && s.connected() === undefined && s.of("error").length === 0) {
        ids.push(await publish("a", ids.length + 1));
        await new Promise((r) => setImmediate(r)); // let the connection make progress
      }
      await s.untilConnected();
      ids.push(await publish("a", -1));
      await s.untilMessage(ids.at(-1)!);
      expect(s.messages().map((m) => m.id)).toEqual(ids);
    });

    it("4. gap: a cursor of another epoch gives one herald:gap for the channel, nothing replayed, then live events", async () => {
      await publish("a", 0); // this epoch's: not replayed against another epoch's cursor
      const old = "oldepoch0-3";
      const s = open(["a"], { lastEventId: old });
      await s.untilConnected();
      const live = await publish("a", 1);
      await s.untilMessage(live);
      expect(s.of(CONTROL.gap).map((g) => g.data)).toEqual([
        { channel: "a", reason: "epoch", cursor: old } satisfies GapPayload,
      ]);
      expect(s.messages<{ n: number }>().map((m) => m.data.n)).toEqual([1]);
      expect(s.types().indexOf(CONTROL.gap)).toBeLessThan(s.types().indexOf("message"));
    });

    const noCode = d.refusalWithoutErrorCode ? ` (no error code: ${d.refusalWithoutErrorCode})` : " forbidden";
    it(`5a. auth refusal: another user's user-* channel ends in error 403${noCode}, never connected`, async () => {
      const s = open([`user-${OTHER}`], { token: await server.herald.tokens.issue(USER) });
      const detail = await s.untilError();
      expect(detail.code).toBe(403);
      expect(detail.errorCode).toBe(d.refusalWithoutErrorCode ? undefined : "forbidden");
      expect(s.of("error")).toHaveLength(1);
      expect(s.connected()).toBeUndefined();
      expect(s.source.readyState).toBe(2);
    });

    const reused = d.tokenNotPresented
      ? `opens anyway (${d.tokenNotPresented})`
      : "ends in error 401 token_used, never connected";
    it(`5b. auth refusal: a reused token ${reused}`, async () => {
      const token = await server.herald.tokens.issue(USER);
      await server.herald.tokens.verify(token, { channels: ["a"] }); // its one use
      const s = open(["a"], { token });
      if (d.tokenNotPresented) {
        await s.untilConnected();
        expect(s.source.readyState).toBe(1);
        return;
      }
      const detail = await s.untilError();
      expect(detail).toMatchObject({ code: 401, errorCode: "token_used" });
      expect(s.of("error")).toHaveLength(1);
      expect(s.connected()).toBeUndefined();
      expect(s.source.readyState).toBe(2);
    });

    it("7. channel change: update() moves the open source to a new set (added channel live, removed one silent), no new connection", async () => {
      const s = open(["a", "b"]);
      await s.untilConnected();
      await waitFor(() => connections() === 1, 10_000, `one ${adapter.transport} connection`);
      const first = await publish("a", 0);
      await s.untilMessage(first);
      const url = new URL(server.sseUrl);
      for (const c of ["a", "c"]) url.searchParams.append("channel", c);
      url.searchParams.set("lastEventId", cursorAfter(s, first));
      expect(await s.source.update!(url.toString())).toBe(true);
      const expected = [{ channel: "a", id: first }];
      for (const [channel, n] of [
        ["c", 1],
        ["b", 2],
        ["a", 3],
        ["c", 4],
      ] as const) {
        const id = await publish(channel, n);
        if (channel !== "b") expected.push({ channel, id });
      }
      await s.untilMessage(expected.at(-1)!.id);
      const got = s.messages().map(({ channel, id }) => ({ channel, id }));
      expect(ordered(got, (e) => e.channel)).toEqual(ordered(expected, (e) => e.channel));
      expect(s.of(CONTROL.connected)).toHaveLength(1);
      expect(s.of("error")).toEqual([]);
      await waitFor(() => connections() === 1, 10_000, `still one ${adapter.transport} connection`);
    });

    it("7b. channel change: an added channel gets its events since the given lastEventId first, then live, once each", async () => {
      const s = open(["a"]);
      await s.untilConnected();
      const first = await publish("a", 0);
      await s.untilMessage(first);
      const early = await publish("c", 1); // before the change, on the channel to come
      const later = await publish("a", 2);
      await s.untilMessage(later); // the source's own position is past `early`
      const url = new URL(server.sseUrl);
      for (const c of ["a", "c"]) url.searchParams.append("channel", c);
      url.searchParams.set("lastEventId", cursorAfter(s, first));
      expect(await s.source.update!(url.toString())).toBe(true);
      const after = await publish("c", 3);
      await s.untilMessage(after);
      expect(
        s
          .messages()
          .filter((m) => m.channel === "c")
          .map((m) => m.id),
      ).toEqual([early, after]);
    });

    it("6. close: nothing dispatched after close() while publishes go on, readyState CLOSED, the server's count goes back down", async () => {
      const closing = open(["a"]);
      await closing.untilConnected();
      await waitFor(() => connections() === 1, 10_000, `one ${adapter.transport} connection`);
      const witness = open(["a"]); // receives what the closed source would have
      await witness.untilConnected();
      const first = await publish("a", 0);
      await closing.untilMessage(first);
      await witness.untilMessage(first);

      closing.close();
      expect(closing.source.readyState).toBe(2);
      const dispatched = closing.seen.length;
      await publish("a", 1);
      const last = await publish("a", 2);
      await witness.untilMessage(last);
      expect(closing.seen.slice(dispatched)).toEqual([]);
      expect(closing.source.readyState).toBe(2);

      witness.close();
      await waitFor(() => connections() === 0, 10_000, `no ${adapter.transport} connection left`);
    });

    it("6b. close: close() from a message listener stops the rest of a replay (and herald:connected)", async () => {
      const ids: string[] = [];
      for (let n = 0; n < 5; n++) ids.push(await publish("a", n));
      const closing = open(["a"], { lastEventId: ids[0] });
      closing.source.addEventListener("message", () => closing.close());
      const witness = open(["a"], { lastEventId: ids[0] }); // the same replay, to the end
      await witness.untilConnected();
      const live = await publish("a", 5);
      await witness.untilMessage(live);
      expect(closing.messages().map((m) => m.id)).toEqual([ids[1]]);
      expect(closing.types()).not.toContain(CONTROL.connected);
      expect(closing.source.readyState).toBe(2);
    });
  });
}
