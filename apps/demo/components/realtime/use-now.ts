"use client";
import { useEffect, useState } from "react";

/**
 * The current time, refreshed every `intervalMs` while `active`. While stopped, the stored time
 * grows old: a render that finds it older than one interval reads the clock instead, so the first
 * render after starting again never counts from a stale time (a countdown once showed
 * "Reconnecting in 47s", the seconds since the page loaded, for a frame before correcting).
 */
export function useNow(active: boolean, intervalMs = 250): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const id = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(id);
  }, [active, intervalMs]);
  if (!active) return now;
  const current = Date.now();
  return current - now > intervalMs ? current : now;
}

/** Whole seconds from `now` until `at` (at least 0). */
export function secondsUntil(at: number | null, now: number): number {
  return at === null ? 0 : Math.max(0, Math.ceil((at - now) / 1000));
}
