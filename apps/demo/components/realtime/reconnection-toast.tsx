"use client";
/**
 * ReconnectionToast: renders nothing; drives sonner toasts from the connection state. After a
 * second without a connection it shows "Reconnecting…" (next attempt in Ns, attempt k of max) with
 * "Retry now"; when the client gives up it shows "Connection lost" with "Refresh" and "Try again";
 * when the connection comes back it says "Back online" for a few seconds. Short blips (a stream
 * rotation) show nothing. Each state is its own toast (its own id): a new state replaces the
 * previous toast instead of patching it, so no button or action of the old one carries over, and a
 * click that dismisses the old toast cannot hide the new one. Mount it once, inside
 * `<HeraldProvider>`, next to sonner's `<Toaster />`.
 */
import { useConnectionStatus } from "herald/react";
import { useEffect, useRef, useState } from "react";
import { toast } from "sonner";
import { secondsUntil, useNow } from "./use-now";

type Shown = "reconnecting" | "failed" | "online";
const ID: Record<Shown, string> = {
  reconnecting: "herald-connection-reconnecting",
  failed: "herald-connection-failed",
  online: "herald-connection-online",
};

/** Shows `kind`'s toast alone: the other connection toasts are dismissed. */
function only(kind: Shown): string {
  for (const other of Object.keys(ID) as Shown[]) if (other !== kind) toast.dismiss(ID[other]);
  return ID[kind];
}

export function ReconnectionToast({ graceMs = 1000 }: { graceMs?: number }) {
  const { state, retry } = useConnectionStatus();
  const down = state !== "connected" && state !== "idle" && state !== "connecting";
  const [since, setSince] = useState<number | null>(null);
  /** The toast on screen (null: none, or "Back online" already timing out). */
  const shown = useRef<Shown | null>(null);

  // Start the grace period when the connection drops.
  useEffect(() => {
    if (!down) {
      setSince(null);
      return;
    }
    setSince((s) => s ?? Date.now());
  }, [down]);
  const now = useNow(since !== null && shown.current === null, 200);
  const visible = since !== null && (state === "failed" || now - since >= graceMs);

  useEffect(() => {
    if (visible && state === "failed") {
      if (shown.current === "failed") return;
      shown.current = "failed";
      toast.error("Connection lost", {
        id: only("failed"),
        description: "Could not reconnect. Live updates are paused.",
        duration: Infinity,
        action: { label: "Refresh", onClick: () => window.location.reload() },
        cancel: { label: "Try again", onClick: () => retry() },
      });
    } else if (visible) {
      if (shown.current === "reconnecting") return; // the countdown updates itself
      shown.current = "reconnecting";
      toast.loading("Reconnecting…", {
        id: only("reconnecting"),
        description: <Countdown />,
        duration: Infinity,
        action: {
          label: "Retry now",
          onClick: (event) => {
            event.preventDefault(); // keep this toast until the next state replaces it
            retry();
          },
        },
      });
    } else if (state === "connected" && shown.current !== null) {
      shown.current = null;
      toast.success("Back online", {
        id: only("online"),
        description: "Reconnected and caught up on everything you missed.",
        duration: 4000,
      });
    }
  }, [visible, state, retry]);

  useEffect(
    () => () => {
      for (const id of Object.values(ID)) toast.dismiss(id);
    },
    [],
  );
  return null;
}

/** "Next attempt in Ns · attempt k of max", live from the connection status (screen readers: the attempt only). */
function Countdown() {
  const { nextRetryAt: at, attempt, maxAttempts: max } = useConnectionStatus();
  const now = useNow(at !== null);
  const wait = secondsUntil(at, now);
  return (
    <span className="tabular-nums">
      {/* The toaster is a live region: the seconds are shown, not announced every second. */}
      <span aria-hidden>
        {wait > 0 ? `Next attempt in ${wait}s` : "Trying now"}
        {max !== null ? " · " : ""}
      </span>
      {max !== null ? `attempt ${Math.min(attempt, max)} of ${max}` : ""}
    </span>
  );
}
