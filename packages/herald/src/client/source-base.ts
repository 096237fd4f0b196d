/**
 * What Herald's EventSource-like transports share: listeners by event type, dispatch, the ready
 * state, building message events, and reading a refused HTTP answer into the `error` event's
 * detail (`code`, `retryAfter`, `errorCode`, `message`).
 */
import type { FetchErrorDetail } from "./types.js";

type Listener = (event: MessageEvent | Event) => void;

/** The listeners of a source, by event type. */
export class Listeners extends Map<string, Set<Listener>> {
  addEventListener(type: string, listener: Listener): void {
    let set = this.get(type);
    if (!set) this.set(type, (set = new Set()));
    set.add(listener);
  }

  removeEventListener(type: string, listener: Listener): void {
    this.get(type)?.delete(listener);
  }

  /** Calls the listeners of `type` (those there when it starts). */
  dispatch(type: string, event: Event): void {
    for (const listener of [...(this.get(type) ?? [])]) listener(event);
  }
}

/** Listener bookkeeping and dispatch for an `EventSourceLike`. */
export abstract class SourceBase {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readyState = 0;

  readonly #listeners: Listeners;

  /** @param listeners the listeners to dispatch to (another source's, when this one works for it) */
  constructor(listeners = new Listeners()) {
    this.#listeners = listeners;
  }

  addEventListener(type: string, listener: Listener): void {
    this.#listeners.addEventListener(type, listener);
  }

  removeEventListener(type: string, listener: Listener): void {
    this.#listeners.removeEventListener(type, listener);
  }

  abstract close(): void;

  protected dispatch(type: string, event: Event): void {
    this.#listeners.dispatch(type, event);
  }

  /** Closes, then reports `error` with `detail` (once). */
  protected fail(detail: FetchErrorDetail): void {
    if (this.readyState === 2) return;
    this.close();
    this.readyState = 2;
    this.dispatch("error", Object.assign(new Event("error"), detail));
  }
}

/** A `MessageEvent` (or a stand-in where the runtime has none). */
export function messageEvent(type: string, data: string, lastEventId: string): MessageEvent {
  if (typeof MessageEvent === "function") return new MessageEvent(type, { data, lastEventId });
  return Object.assign(new Event(type), { data, lastEventId }) as MessageEvent;
}

/** The detail of a refused HTTP answer: its status, `Retry-After`, and Herald's error body if any. */
export async function refusalOf(response: Response): Promise<FetchErrorDetail> {
  const detail: FetchErrorDetail = { code: response.status };
  const retryAfter = Number(response.headers.get("retry-after"));
  if (Number.isFinite(retryAfter) && retryAfter > 0) detail.retryAfter = retryAfter;
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown; channel?: unknown } };
    if (typeof body?.error?.code === "string") detail.errorCode = body.error.code;
    if (typeof body?.error?.message === "string") detail.message = body.error.message;
    if (typeof body?.error?.channel === "string") detail.channel = body.error.channel;
  } catch {
    /* not a Herald error body */
  }
  return detail;
}

/** An id for a client's own requests and events: unique enough to tell them apart, not a secret. */
export function randomId(): string {
  return `${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
}

/** `JSON.parse(data)`, or null when `data` is not JSON. */
export function parseJson<T>(data: string): T | null {
  try {
    return JSON.parse(data) as T;
  } catch {
    return null;
  }
}
