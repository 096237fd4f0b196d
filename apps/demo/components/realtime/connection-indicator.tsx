"use client";
/**
 * ConnectionIndicator: a dot and a word for the shared Herald connection: green and pulsing when
 * live, amber while connecting or waiting to reconnect (with a countdown), red once the client has
 * given up. `data-state` is `connected | connecting | disconnected`. Beside the word, the transport
 * the client speaks (`SSE`, `Polling`, ...; `data-transport`), marked "forced" when the demo was told
 * to use it rather than negotiating. Screen readers are told the state when it changes ("Live",
 * "Reconnecting…", "Offline", a polite live region), never the ticking seconds of the countdown.
 */
import { motion, useReducedMotion } from "motion/react";
import { useConnectionStatus } from "herald/react";
import { useRef } from "react";
import { cn } from "@/lib/utils";
import { secondsUntil, useNow } from "./use-now";
import { transportName, useActiveTransport, useTransportChoice } from "./use-transport";

export type Tone = "connected" | "connecting" | "disconnected";

/** Maps the client's state onto three tones. */
export function toneOf(state: string): Tone {
  if (state === "connected") return "connected";
  if (state === "failed" || state === "closed") return "disconnected";
  return "connecting";
}

const DOT: Record<Tone, string> = {
  connected: "bg-emerald-500",
  connecting: "bg-amber-500",
  disconnected: "bg-red-500",
};
const RING: Record<Tone, string> = {
  connected: "bg-emerald-400",
  connecting: "bg-amber-400",
  disconnected: "bg-red-400",
};

export function ConnectionIndicator({ className }: { className?: string }) {
  const { state, nextRetryAt } = useConnectionStatus();
  const transport = useActiveTransport();
  const { choice } = useTransportChoice();
  const transportLabel = transport ? transportName(transport) : null;
  const reduced = useReducedMotion();
  const tone = toneOf(state);
  // Once live, every later attempt is a reconnection, whether waiting or trying.
  const wasLive = useRef(false);
  if (tone === "connected") wasLive.current = true;
  const now = useNow(nextRetryAt !== null);
  const wait = secondsUntil(nextRetryAt, now);
  const label =
    tone === "connected"
      ? "Live"
      : tone === "disconnected"
        ? "Offline"
        : state === "reconnecting"
          ? wait > 0
            ? `Reconnecting in ${wait}s`
            : "Reconnecting…"
          : "Connecting…";
  const spoken =
    tone === "connected"
      ? "Live"
      : tone === "disconnected"
        ? "Offline"
        : wasLive.current
          ? "Reconnecting…"
          : "Connecting…";

  return (
    <div
      data-testid="connection-indicator"
      data-state={tone}
      data-transport={transport ?? undefined}
      title={`Realtime connection: ${state}${transportLabel ? ` over ${transportLabel}` : ""}${choice === "auto" ? " (negotiated)" : " (forced)"}`}
      className={cn(
        "inline-flex h-8 items-center gap-2 rounded-full border border-border bg-card px-3 text-xs font-medium text-muted-foreground shadow-xs",
        className,
      )}
    >
      <span className="relative flex size-2">
        {!reduced && tone !== "disconnected" ? (
          <motion.span
            key={tone}
            className={cn("absolute inline-flex size-full rounded-full", RING[tone])}
            animate={tone === "connected" ? { scale: [1, 2.4], opacity: [0.6, 0] } : { opacity: [1, 0.25, 1] }}
            transition={{ repeat: Infinity, duration: tone === "connected" ? 2 : 1.1, ease: "easeOut" }}
          />
        ) : null}
        <span className={cn("relative inline-flex size-2 rounded-full transition-colors", DOT[tone])} />
      </span>
      <span aria-hidden className="tabular-nums">
        {label}
      </span>
      {/* The live region: the state, announced when it changes (not every second of the countdown). */}
      <span role="status" className="sr-only">
        Realtime connection: {spoken}
      </span>
      {transportLabel ? (
        <span
          data-testid="connection-transport"
          data-forced={choice === "auto" ? undefined : "true"}
          className="border-l border-border pl-2 text-[11px] text-muted-foreground"
        >
          {transportLabel}
          {choice === "auto" ? null : <span className="sr-only"> (forced)</span>}
        </span>
      ) : null}
    </div>
  );
}
