"use client";
/**
 * usePaused: true while the shared connection has been down for more than `graceMs` (so a stream
 * rotation's blink shows nothing). Live widgets use it to stop looking live: spinners stop, numbers
 * say they are stale. The first connect after a page load does not count as down.
 */
import { useConnectionStatus } from "herald/react";
import { useEffect, useRef, useState } from "react";

export function usePaused(graceMs = 1000): boolean {
  const { state } = useConnectionStatus();
  const everConnected = useRef(false);
  if (state === "connected") everConnected.current = true;
  const down = state !== "connected" && state !== "idle" && (state !== "connecting" || everConnected.current);
  const [paused, setPaused] = useState(false);
  useEffect(() => {
    if (!down) {
      setPaused(false);
      return;
    }
    const timer = setTimeout(() => setPaused(true), graceMs);
    return () => clearTimeout(timer);
  }, [down, graceMs]);
  return paused && down;
}
