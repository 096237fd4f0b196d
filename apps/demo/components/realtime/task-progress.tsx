"use client";
/**
 * TaskProgress: an accessible progress bar on a spring. Copy it into your app and adapt it.
 * `role="progressbar"` with `aria-valuenow/min/max`; honours `prefers-reduced-motion`.
 */
import { motion, useReducedMotion } from "motion/react";
import { cn } from "@/lib/utils";

/** Whatever the bar should look like: a task status, or `loading`/`error`. */
export type ProgressTone = "loading" | "error" | "queued" | "running" | "succeeded" | "failed" | "canceled";

const FILL: Record<ProgressTone, string> = {
  loading: "bg-muted-foreground/30",
  error: "bg-red-500",
  queued: "bg-muted-foreground/40",
  running: "bg-gradient-to-r from-accent/80 to-accent",
  succeeded: "bg-emerald-500",
  failed: "bg-red-500",
  canceled: "bg-muted-foreground/50",
};

export function TaskProgress({
  value,
  status,
  paused = false,
  label = "Progress",
  className,
}: {
  /** 0-100. */
  value: number;
  status: ProgressTone;
  /** The connection is down: the bar shows the last known value, without the running shimmer. */
  paused?: boolean;
  /** Accessible name. */
  label?: string;
  className?: string;
}) {
  const reduced = useReducedMotion();
  const pct = Math.max(0, Math.min(100, Number.isFinite(value) ? value : 0));
  const active = (status === "running" || status === "queued") && !paused;
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuenow={Math.round(pct)}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuetext={`${Math.round(pct)}%`}
      data-status={status}
      data-paused={paused ? "true" : undefined}
      className={cn("relative h-2 w-full overflow-hidden rounded-full bg-muted", className)}
    >
      <motion.div
        className={cn(
          "absolute inset-y-0 left-0 overflow-hidden rounded-full transition-opacity",
          paused ? "bg-amber-500/70" : FILL[status],
        )}
        initial={false}
        animate={{ width: `${pct}%` }}
        transition={reduced ? { duration: 0 } : { type: "spring", stiffness: 90, damping: 20, mass: 0.8 }}
      >
        {active && !reduced ? (
          <span className="absolute inset-0 animate-[shimmer_1.6s_linear_infinite] bg-[linear-gradient(90deg,transparent,rgb(255_255_255/0.35),transparent)] bg-[length:50%_100%] bg-no-repeat" />
        ) : null}
      </motion.div>
    </div>
  );
}
