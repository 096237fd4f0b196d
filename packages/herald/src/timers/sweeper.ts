/**
 * The one expiry sweep of in-memory state (the memory broker's logs, tokens, tasks, rate-limit
 * buckets): a periodic call on an unref'd timer that runs only while something is held. The owner
 * starts it when it stores something that expires, stops it when nothing is left and on `close()`.
 * It never keeps the process alive. Imports nothing: every layer may use it.
 */
export class Sweeper {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly sweep: () => void) {}

  /** Starts sweeping every `everyMs` (no-op while it runs). */
  start(everyMs: number): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(this.sweep, everyMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Stops sweeping (no-op when stopped). */
  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** True while the timer runs. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** True when the timer would keep the process alive (never, where timers can be unref'd). */
  get holdsProcess(): boolean {
    return (this.timer as { hasRef?: () => boolean } | undefined)?.hasRef?.() ?? false;
  }
}
