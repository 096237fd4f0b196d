"use client";
/**
 * LiveCounter: a number that springs to each new value and pulses when it changes. The exact value
 * is in `data-value` (and in the accessible text), the animation is only visual.
 */
import { motion, useReducedMotion, useSpring, useTransform } from "motion/react";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { cn } from "@/lib/utils";

export function LiveCounter({
  value,
  label,
  icon,
  hint,
  decimals = 0,
  stale = false,
  className,
  testId,
}: {
  value: number;
  label: string;
  icon?: ReactNode;
  /** A small line under the number. */
  hint?: ReactNode;
  decimals?: number;
  /** The connection is down: the number is the last one received, shown dimmed with a "Stale" tag. */
  stale?: boolean;
  className?: string;
  testId?: string;
}) {
  const reduced = useReducedMotion();
  const spring = useSpring(value, { stiffness: 140, damping: 22, mass: 0.6 });
  const text = useTransform(spring, (v) =>
    v.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals }),
  );
  const [pulse, setPulse] = useState(0);
  const previous = useRef(value);

  useEffect(() => {
    if (reduced) spring.jump(value);
    else spring.set(value);
    if (previous.current !== value) {
      previous.current = value;
      setPulse((n) => n + 1);
    }
  }, [value, reduced, spring]);

  return (
    <div
      data-testid={testId}
      data-value={value}
      data-stale={stale ? "true" : undefined}
      className={cn(
        "relative overflow-hidden rounded-xl border bg-card p-5 shadow-xs transition-colors",
        stale ? "border-dashed border-amber-500/50" : "border-border",
        className,
      )}
    >
      {pulse > 0 && !reduced ? (
        <motion.span
          key={pulse}
          aria-hidden
          className="pointer-events-none absolute inset-0 rounded-xl bg-accent/[0.07] ring-1 ring-accent/30 ring-inset"
          initial={{ opacity: 1 }}
          animate={{ opacity: 0 }}
          transition={{ duration: 0.9, ease: "easeOut" }}
        />
      ) : null}
      <div className="flex items-center justify-between gap-2">
        <span className="text-sm font-medium text-muted-foreground">{label}</span>
        {stale ? (
          <span className="rounded-full bg-amber-500/10 px-1.5 py-0.5 text-[11px] font-medium text-amber-800 dark:text-amber-200">
            Stale
          </span>
        ) : icon ? (
          <span aria-hidden className="text-muted-foreground [&_svg]:size-4">
            {icon}
          </span>
        ) : null}
      </div>
      <div className="mt-3 flex items-baseline gap-2">
        <span className="sr-only">{value}</span>
        <motion.span
          aria-hidden
          className={cn("text-3xl font-semibold tracking-tight tabular-nums transition-opacity", stale && "opacity-50")}
        >
          {text}
        </motion.span>
        {pulse > 0 && !reduced ? (
          <motion.span
            key={`dot-${pulse}`}
            aria-hidden
            className="size-1.5 rounded-full bg-accent"
            initial={{ opacity: 1, scale: 1 }}
            animate={{ opacity: 0, scale: 2.2 }}
            transition={{ duration: 0.8 }}
          />
        ) : null}
      </div>
      {hint ? <div className="mt-1 text-xs text-muted-foreground">{hint}</div> : null}
    </div>
  );
}
