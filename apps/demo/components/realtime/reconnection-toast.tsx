"use client";
/**
 * ReconnectionToast: renders nothing; drives one sonner toast from the connection state. After a
 * second without a connection it shows "Reconnecting in Ns" (attempt k of max) with "Retry now";
 * when the client gives up it shows "Connection lost" with "Refresh"; when the connection comes
 * back it says so briefly. Short blips (a stream rotation) show nothing. Mount it once, inside
 * `<HeraldProvider>`, next to sonner's `<Toaster />`.
 */
import { useConnectionStatus } from "herald/react";
import { useEffect, useRef, useState } from "react";
import { toast } from "sonner";
import { secondsUntil, useNow } from "./use-now";

const TOAST_ID = "herald-connection";

export function ReconnectionToast({ graceMs = 1000 }: { graceMs?: number }) {
  const status = useConnectionStatus();
  const { state, attempt, maxAttempts, nextRetryAt, retry } = status;
  const down = state === "reconnecting" || state === "failed";
  const [since, setSince] = useState<number | null>(null);
  const shown = useRef(false);

  // Start the grace period when the connection drops.
  useEffect(() => {
    if (!down) {
      setSince(null);
      return;
    }
    setSince((s) => s ?? Date.now());
  }, [down]);
  const now = useNow(since !== null && !shown.current, 200);
  const visible = since !== null && (state === "failed" || now - since >= graceMs);

  useEffect(() => {
    if (visible && state === "failed") {
      shown.current = true;
      toast.error("Connection lost", {
        id: TOAST_ID,
        description: `Could not reconnect after ${attempt} attempts. Live updates are paused.`,
        duration: Infinity,
        action: { label: "Refresh", onClick: () => window.location.reload() },
        cancel: { label: "Try again", onClick: () => retry() },
      });
    } else if (visible) {
      shown.current = true;
      toast.loading("Reconnecting…", {
        id: TOAST_ID,
        description: <Countdown at={nextRetryAt} attempt={attempt} max={maxAttempts} />,
        duration: Infinity,
        action: { label: "Retry now", onClick: () => retry() },
      });
    } else if (state === "connected" && shown.current) {
      shown.current = false;
      toast.success("Back online", {
        id: TOAST_ID,
        description: "Reconnected and caught up on everything you missed.",
        duration: 3000,
      });
    }
  }, [visible, state, attempt, maxAttempts, nextRetryAt, retry]);

  useEffect(() => () => void toast.dismiss(TOAST_ID), []);
  return null;
}

function Countdown({ at, attempt, max }: { at: number | null; attempt: number; max: number | null }) {
  const now = useNow(at !== null);
  const wait = secondsUntil(at, now);
  return (
    <span className="tabular-nums">
      {wait > 0 ? `Next attempt in ${wait}s` : "Trying now"}
      {max !== null ? ` · attempt ${Math.min(attempt, max)} of ${max}` : ""}
    </span>
  );
}
