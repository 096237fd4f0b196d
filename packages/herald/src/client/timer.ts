/** One resettable timer over injectable {@link Timers}: `set` replaces what was pending, `clear` is idempotent. */
import type { Timers } from "./types.js";

/** See the module comment. */
export class Timer {
  #handle: unknown = null;
  /** Clock time (ms, by the caller's clock) the pending callback is due, when set with one. */
  dueAt = 0;

  readonly #timers: Timers;

  constructor(timers: Timers) {
    this.#timers = timers;
  }

  /** True while a callback is pending. */
  get armed(): boolean {
    return this.#handle !== null;
  }

  /** Runs `fn` after `ms`, replacing any pending callback. */
  set(ms: number, fn: () => void): void {
    this.clear();
    this.#handle = this.#timers.setTimeout(() => {
      this.#handle = null;
      fn();
    }, ms);
  }

  /** Cancels the pending callback, if any. */
  clear(): void {
    if (this.#handle !== null) this.#timers.clearTimeout(this.#handle);
    this.#handle = null;
  }
}

/** `timers`, or the global ones. */
export function timersOf(timers: Timers | undefined): Timers {
  return (
    timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
    }
  );
}
