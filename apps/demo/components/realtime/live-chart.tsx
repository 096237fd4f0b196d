"use client";
/**
 * LiveChart: a small SVG area chart of the last N values (no chart library). New points slide in
 * from the right; the latest one pulses. Pure SVG with a responsive width.
 */
import { motion, useReducedMotion } from "motion/react";
import { useId, useMemo } from "react";
import { cn } from "@/lib/utils";

const W = 600;
const H = 180;
const PAD_TOP = 12;

/** A "nice" axis maximum at or above `v`. */
function niceMax(v: number): number {
  if (v <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function LiveChart({
  values,
  points = 60,
  label,
  unit = "",
  heightRem = 11,
  stale = false,
  className,
}: {
  values: number[];
  /** Points across the width. */
  points?: number;
  /** Accessible description. */
  label: string;
  unit?: string;
  /** Height of the plot, in rem. */
  heightRem?: number;
  /** The connection is down: the line is the last one received, dimmed, and the latest point stops pulsing. */
  stale?: boolean;
  className?: string;
}) {
  const id = useId();
  const reduced = useReducedMotion();
  const data = useMemo(() => {
    const tail = values.slice(-points);
    return [...Array(Math.max(0, points - tail.length)).fill(null), ...tail] as Array<number | null>;
  }, [values, points]);
  const max = niceMax(Math.max(0, ...values.slice(-points)));
  const step = W / (points - 1);
  const y = (v: number): number => PAD_TOP + (H - PAD_TOP) * (1 - v / max);
  const coords = data.map((v, i) => (v === null ? null : ([i * step, y(v)] as const)));
  const firstIndex = coords.findIndex((c) => c !== null);
  let line = "";
  coords.forEach((c, i) => {
    if (!c) return;
    const prev = coords[i - 1];
    if (!prev) line += `M${c[0].toFixed(1)},${c[1].toFixed(1)}`;
    else {
      const mx = (prev[0] + c[0]) / 2;
      line += ` C${mx.toFixed(1)},${prev[1].toFixed(1)} ${mx.toFixed(1)},${c[1].toFixed(1)} ${c[0].toFixed(1)},${c[1].toFixed(1)}`;
    }
  });
  const last = coords[coords.length - 1];
  const area =
    firstIndex >= 0 && last ? `${line} L${last[0].toFixed(1)},${H} L${(firstIndex * step).toFixed(1)},${H} Z` : "";
  const latest = values[values.length - 1] ?? 0;

  return (
    <div className={cn("relative", className)} data-stale={stale ? "true" : undefined}>
      {[max, max / 2, 0].map((v) => (
        <div
          key={v}
          className="pointer-events-none absolute inset-x-0 flex -translate-y-1/2 items-center gap-2 text-[11px] text-muted-foreground tabular-nums"
          style={{ top: `calc(${heightRem}rem * ${y(v) / H})` }}
        >
          <span className="w-8 text-right">{Number.isInteger(v) ? v : v.toFixed(1)}</span>
          <span className="h-px flex-1 border-t border-dashed border-border" />
        </div>
      ))}
      <svg
        viewBox={`0 0 ${W} ${H}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`${label}: latest ${latest}${unit}${stale ? " (stale: reconnecting)" : ""}`}
        className={cn(
          "relative ml-10 block w-[calc(100%-2.5rem)] overflow-visible transition-opacity",
          stale && "opacity-40 grayscale",
        )}
        style={{ height: `${heightRem}rem` }}
      >
        <defs>
          <linearGradient id={`${id}-fill`} x1="0" x2="0" y1="0" y2="1">
            <stop offset="0%" stopColor="var(--color-accent)" stopOpacity="0.28" />
            <stop offset="100%" stopColor="var(--color-accent)" stopOpacity="0" />
          </linearGradient>
        </defs>
        {area ? <path d={area} fill={`url(#${id}-fill)`} /> : null}
        {line ? (
          <path
            d={line}
            fill="none"
            stroke="var(--color-accent)"
            strokeWidth={2}
            strokeLinejoin="round"
            strokeLinecap="round"
            vectorEffect="non-scaling-stroke"
          />
        ) : null}
      </svg>
      {last ? (
        <div
          className="pointer-events-none absolute ml-10 size-0"
          style={{ left: `calc((100% - 2.5rem) * ${last[0] / W})`, top: `calc(${heightRem}rem * ${last[1] / H})` }}
        >
          {!reduced && !stale ? (
            <motion.span
              key={values.length}
              className="absolute -top-2 -left-2 size-4 rounded-full bg-accent/40"
              initial={{ scale: 0.5, opacity: 0.9 }}
              animate={{ scale: 1.8, opacity: 0 }}
              transition={{ duration: 1 }}
            />
          ) : null}
          <span className="absolute -top-[5px] -left-[5px] size-2.5 rounded-full border-2 border-card bg-accent" />
        </div>
      ) : null}
    </div>
  );
}
