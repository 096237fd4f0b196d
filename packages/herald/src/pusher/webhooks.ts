/**
 * Webhooks as Pusher sends them (docs: server_api/webhooks): POSTed JSON `{ time_ms, events }`,
 * `Content-Type: application/json`, `X-Pusher-Key`, and `X-Pusher-Signature` = hex HMAC-SHA256 of
 * the raw body under the app secret. Events are batched; `channel_vacated` and `member_removed`
 * wait a little and are dropped when the channel or member comes back meanwhile (so a reconnect
 * does not flap); failed deliveries (network, timeout or non-2xx) are retried with backoff for a
 * while. What waits for a retry is bounded in bytes: past the bound the oldest batch is dropped.
 */
import { Buffer } from "node:buffer";
import { hmacHex } from "./signature.js";

/** One webhook event. */
export type WebhookEvent =
  | { name: "channel_occupied" | "channel_vacated" | "cache_miss"; channel: string }
  | { name: "member_added" | "member_removed"; channel: string; user_id: string }
  | { name: "client_event"; channel: string; event: string; data: string; socket_id: string; user_id?: string };

/** Webhook options of `createPusherServer`. */
export interface WebhookOptions {
  /** Where to POST. */
  url: string;
  /** Which events to send (default: all). */
  events?: WebhookEvent["name"][];
  /** How long events are gathered into one request, in ms (default 50). */
  batchMs?: number;
  /** Delay of `channel_vacated` / `member_removed`, in ms (default 3,000, like Pusher). */
  vacateDelayMs?: number;
  /** How long a failing delivery is retried, in ms (default 5 minutes, like Pusher). */
  retryForMs?: number;
  /** How long one delivery may take before it counts as failed, in ms (default 10,000). */
  timeoutMs?: number;
  /** Bytes of batches kept for a retry (default 1 MiB); past it the oldest batch is dropped. */
  maxPendingBytes?: number;
  /** `fetch`, injectable. */
  fetch?: typeof fetch;
}

/** See the module comment. */
export class Webhooks {
  private batch: WebhookEvent[] = [];
  private batchTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly delayed = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly inflight = new Set<Promise<void>>();
  /** Batches waiting for a retry, oldest first, with their timers. */
  private readonly retries = new Map<ReturnType<typeof setTimeout>, number>();
  private queuedBytes = 0;
  /** Batches dropped because the retry queue was full. */
  dropped = 0;
  private closed = false;

  constructor(
    private readonly options: WebhookOptions,
    private readonly key: string,
    private readonly secret: string,
  ) {}

  /** Bytes of batches waiting for a retry. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  /** Queues `event` (vacated/removed after the delay, cancelling a pending opposite). */
  emit(event: WebhookEvent): void {
    if (this.closed || (this.options.events && !this.options.events.includes(event.name))) return;
    if (event.name === "channel_occupied" || event.name === "member_added") {
      const key = delayKey(event);
      const pending = this.delayed.get(key);
      if (pending !== undefined) {
        // Back before the vacate/removal went out: neither is reported.
        clearTimeout(pending);
        this.delayed.delete(key);
        return;
      }
    }
    if (event.name === "channel_vacated" || event.name === "member_removed") {
      const key = delayKey(event);
      const timer = setTimeout(() => {
        this.delayed.delete(key);
        this.push(event);
      }, this.options.vacateDelayMs ?? 3000);
      timer.unref?.();
      this.delayed.set(key, timer);
      return;
    }
    this.push(event);
  }

  /** Sends what is queued (including delayed events) and waits for in-flight requests. */
  async close(): Promise<void> {
    for (const timer of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    for (const timer of this.retries.keys()) clearTimeout(timer);
    this.retries.clear();
    this.queuedBytes = 0;
    this.flush();
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
  }

  private push(event: WebhookEvent): void {
    this.batch.push(event);
    if (this.batchTimer === undefined) {
      this.batchTimer = setTimeout(() => this.flush(), this.options.batchMs ?? 50);
      this.batchTimer.unref?.();
    }
  }

  private flush(): void {
    if (this.batchTimer !== undefined) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.batch.length === 0 || this.closed) return;
    const body = JSON.stringify({ time_ms: Date.now(), events: this.batch });
    this.batch = [];
    this.deliver(body, Date.now(), 0);
  }

  private deliver(body: string, firstAt: number, attempt: number): void {
    const doFetch = this.options.fetch ?? fetch;
    const sending = doFetch(this.options.url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "X-Pusher-Key": this.key,
        "X-Pusher-Signature": hmacHex(this.secret, body),
      },
      body,
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
    })
      .then(async (res) => {
        await res.arrayBuffer().catch(() => undefined);
        if (res.status < 200 || res.status >= 300) throw new Error(`webhook answered ${res.status}`);
      })
      .catch(() => {
        const delay = Math.min(60_000, 1000 * 2 ** attempt);
        if (this.closed || Date.now() + delay - firstAt > (this.options.retryForMs ?? 5 * 60_000)) return;
        const size = Buffer.byteLength(body);
        const max = this.options.maxPendingBytes ?? 1024 * 1024;
        if (size > max) {
          this.dropped++;
          return;
        }
        while (this.queuedBytes + size > max) {
          const [oldest, bytes] = this.retries.entries().next().value!;
          clearTimeout(oldest);
          this.retries.delete(oldest);
          this.queuedBytes -= bytes;
          this.dropped++;
        }
        const timer = setTimeout(() => {
          this.retries.delete(timer);
          this.queuedBytes -= size;
          this.deliver(body, firstAt, attempt + 1);
        }, delay);
        timer.unref?.();
        this.retries.set(timer, size);
        this.queuedBytes += size;
      })
      .finally(() => this.inflight.delete(sending));
    this.inflight.add(sending);
  }
}

function delayKey(event: WebhookEvent): string {
  return "user_id" in event && event.name !== "client_event"
    ? `m\u0000${event.channel}\u0000${event.user_id}`
    : `c\u0000${event.channel}`;
}
