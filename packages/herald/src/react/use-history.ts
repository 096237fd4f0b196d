/** `useHistory`: a channel's last events from its log, then its live ones, with no gap and no duplicate. */
import { useCallback, useEffect, useState } from "react";
import type { EventEnvelope } from "../client/index.js";
import { errorFromReply, HeraldError, type HeraldErrorCode } from "../protocol/errors.js";
import { parsePosition } from "../protocol/cursor.js";
import { useHerald, type HeraldContextValue } from "./provider.js";
import { useLatest } from "./use-latest.js";
import { receiver, validateAll, type ReceiveValidation } from "./validate.js";

/** Options of {@link useHistory}. */
export interface UseHistoryOptions {
  /** Events read from the log on mount, and per {@link HistoryState.loadOlder} (default 50, at most 1,000). */
  limit?: number;
  /** Validation of what is received (set by `createHeraldHooks(channels, { validate: true })`). */
  validate?: ReceiveValidation | undefined;
}

/**
 * Where {@link useHistory} stands: `idle` (no channel or client), `loading` (history not read yet),
 * `ready`, `error` (the read failed, or the stream serving the channel failed before it went live).
 */
export type HistoryStatus = "idle" | "loading" | "ready" | "error";

/** What {@link useHistory} returns. */
export interface HistoryState<E extends EventEnvelope = EventEnvelope> {
  /** See {@link HistoryStatus}. */
  status: HistoryStatus;
  /** The events read from the log, then the live ones, oldest first, each once. */
  events: E[];
  /** True when the log holds older events than the first of `events` (see `loadOlder`). */
  more: boolean;
  /** Why reading the history failed (status `error`), or null. */
  error: HeraldError | null;
  /** Reads the `limit` events before the first of `events` and puts them in front. */
  loadOlder(): Promise<void>;
}

/** What `GET …/history` answers. */
interface Page {
  events: EventEnvelope[];
  cursor: string;
  more: boolean;
}

/**
 * Follows `channel` and returns its last `limit` events from the channel's log, followed by every
 * event published since, live. It subscribes first and reads the history (`GET …/history`, with a
 * fresh token and the same channel rules as the stream) once the stream serves the channel, then
 * merges both by position: nothing published meanwhile is missing or shown twice. When the stream
 * later reports a gap on the channel (the server's log restarted, or trimmed what a reconnecting
 * client missed), it reads the history again and merges it in. Pass `null` to follow nothing.
 *
 * @example
 * ```tsx
 * const { status, events, more, loadOlder } = useHistory<{ text: string }>("room-lobby", { limit: 50 });
 * ```
 */
export function useHistory<T = unknown>(
  channel: string | null | undefined,
  options: UseHistoryOptions = {},
): HistoryState<EventEnvelope<T>> {
  const limit = options.limit ?? 50;
  const herald = useHerald();
  const { client, store } = herald;
  const [state, setState] = useState<Omit<HistoryState<EventEnvelope<T>>, "loadOlder">>(IDLE);
  const context = useLatest(herald);
  const validate = useLatest(options.validate);

  useEffect(() => {
    setState(client && channel ? LOADING : IDLE);
    if (!client || !channel) return;
    let active = true;
    const merge = (events: EventEnvelope<T>[], patch: Partial<typeof state> = {}): void => {
      if (active) setState((prev) => ({ ...prev, ...patch, events: mergeById(prev.events, events) }));
    };
    const unsubscribe = client.subscribe<T>(
      channel,
      receiver<T>(validate.current, (envelope) => merge([envelope])),
    );
    let started = false;
    let loaded = false;
    const start = (): void => {
      const { state, reason } = store.getSnapshot();
      if (!started && state === "failed" && active) {
        // The stream was refused (or gave up): the channel will not go live, so nothing is read.
        const code = (reason ?? "http_error") as HeraldErrorCode;
        setState((prev) => ({ ...prev, status: "error", error: new HeraldError(code, `the stream failed: ${code}`) }));
      }
      if (started || !store.isLive(channel)) return;
      started = true;
      readPage<T>(context.current, channel, `limit=${limit}`, validate.current).then(
        (page) => {
          // A read again after a gap fills it; `more` still describes the oldest page shown.
          merge(page.events, loaded ? {} : { status: "ready", more: page.more });
          loaded = true;
        },
        (error: unknown) => {
          if (active) setState((prev) => ({ ...prev, status: "error", error: asHeraldError(error) }));
        },
      );
    };
    const off = store.subscribe(start);
    // The stream could not resume this channel from its cursor (the log restarted, or trimmed what
    // it missed): read the history again once the channel is live anew, and merge.
    const offGap = client.on("gap", (gap) => {
      if (gap.channel === channel) started = false;
    });
    start();
    return () => {
      active = false;
      off();
      offGap();
      unsubscribe();
    };
  }, [client, store, channel, limit, context, validate]);

  const first = state.events[0]?.id;
  const loadOlder = useCallback(async (): Promise<void> => {
    if (!channel || first === undefined) return;
    const query = `limit=${limit}&before=${encodeURIComponent(first)}`;
    const page = await readPage<T>(context.current, channel, query, validate.current);
    setState((prev) => ({ ...prev, more: page.more, events: mergeById(prev.events, page.events) }));
  }, [channel, limit, first, context, validate]);

  return { ...state, loadOlder };
}

type Loaded = Omit<HistoryState<never>, "loadOlder">;
const IDLE: Loaded = { status: "idle", events: [], more: false, error: null };
const LOADING: Loaded = { ...IDLE, status: "loading" };

/** One `GET {basePath}/history` with a fresh token; its events validated when asked. */
async function readPage<T>(
  herald: HeraldContextValue,
  channel: string,
  query: string,
  validation: ReceiveValidation | undefined,
): Promise<Omit<Page, "events"> & { events: EventEnvelope<T>[] }> {
  const token = await herald.token();
  const tokenQuery = token ? `&token=${encodeURIComponent(token)}` : "";
  const url = `${herald.basePath}/history?channel=${encodeURIComponent(channel)}&${query}${tokenQuery}`;
  const response = await fetch(url, { credentials: "same-origin" });
  const body = (await response.json().catch(() => null)) as Page | null;
  if (!response.ok || !body) throw errorFromReply(response.status, body);
  return { ...body, events: await validateAll<T>(validation, body.events) };
}

/**
 * `a` and `b` merged into one list in log order, each id once. Epochs name the log's incarnations
 * in the order they began, so an event of a later one (the log restarted) sorts after.
 */
function mergeById<E extends EventEnvelope>(a: readonly E[], b: readonly E[]): E[] {
  const byId = new Map(a.map((e) => [e.id, e]));
  for (const e of b) if (!byId.has(e.id)) byId.set(e.id, e);
  const at = (e: E) => parsePosition(e.id) ?? { epoch: "", seq: 0 };
  return [...byId.values()].sort((x, y) => {
    const [p, q] = [at(x), at(y)];
    return p.epoch === q.epoch ? p.seq - q.seq : p.epoch < q.epoch ? -1 : 1;
  });
}

function asHeraldError(error: unknown): HeraldError {
  return error instanceof HeraldError ? error : new HeraldError("network", String((error as Error)?.message ?? error));
}
