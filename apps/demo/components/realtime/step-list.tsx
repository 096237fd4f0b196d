"use client";
/**
 * StepList: a task's named steps as a small timeline: pending circles, a spinner on the active
 * step, a check when done, a cross when failed. Honours `prefers-reduced-motion`.
 */
import { AnimatePresence, motion, useReducedMotion } from "motion/react";
import { Check, LoaderCircle, Minus, X } from "lucide-react";
import { cn } from "@/lib/utils";

export type StepStatus = "pending" | "active" | "done" | "failed";

export function StepList({
  steps,
  stopped = false,
  paused = false,
  className,
}: {
  steps: ReadonlyArray<{ name: string; status: StepStatus }>;
  /** The task has ended (canceled, failed): a step still `active` is shown as interrupted. */
  stopped?: boolean;
  /** The connection is down: the active step's spinner stops (its state is not live). */
  paused?: boolean;
  className?: string;
}) {
  return (
    <ol className={cn("relative", className)}>
      {steps.map((step, i) => {
        const shown: StepStatus | "stopped" = stopped && step.status === "active" ? "stopped" : step.status;
        return (
          <li key={step.name} data-step-status={step.status} className="relative flex gap-3 pb-3 last:pb-0">
            {i < steps.length - 1 ? (
              <span
                aria-hidden
                className={cn(
                  "absolute top-6 bottom-0 left-[9.5px] w-px transition-colors duration-500",
                  step.status === "done" ? "bg-emerald-500/50" : "bg-border",
                )}
              />
            ) : null}
            <StepIcon status={shown} paused={paused} />
            <span
              className={cn(
                "pt-px text-sm transition-colors",
                (shown === "pending" || shown === "stopped") && "text-muted-foreground",
                shown === "active" && "font-medium text-foreground",
                shown === "done" && "text-muted-foreground",
                shown === "failed" && "font-medium text-red-600 dark:text-red-400",
              )}
            >
              {step.name}
              <span className="sr-only"> ({shown === "stopped" ? "interrupted" : step.status})</span>
            </span>
          </li>
        );
      })}
    </ol>
  );
}

function StepIcon({ status, paused }: { status: StepStatus | "stopped"; paused: boolean }) {
  const reduced = useReducedMotion();
  const pop = reduced
    ? { initial: false as const }
    : {
        initial: { scale: 0.4, opacity: 0 },
        animate: { scale: 1, opacity: 1 },
        exit: { scale: 0.4, opacity: 0 },
        transition: { type: "spring" as const, stiffness: 500, damping: 28 },
      };
  return (
    <span className="relative flex size-5 shrink-0 items-center justify-center">
      <AnimatePresence mode="popLayout" initial={false}>
        {status === "done" ? (
          <motion.span
            key="done"
            {...pop}
            className="flex size-5 items-center justify-center rounded-full bg-emerald-500 text-white"
          >
            <Check className="size-3" strokeWidth={3} />
          </motion.span>
        ) : status === "active" ? (
          <motion.span key="active" {...pop} className="flex size-5 items-center justify-center text-accent">
            <LoaderCircle
              className={cn("size-5", !paused && "animate-spin motion-reduce:animate-none")}
              strokeWidth={2.25}
            />
          </motion.span>
        ) : status === "stopped" ? (
          <motion.span
            key="stopped"
            {...pop}
            className="flex size-5 items-center justify-center rounded-full border-2 border-muted-foreground/50 text-muted-foreground"
          >
            <Minus className="size-3" strokeWidth={3} />
          </motion.span>
        ) : status === "failed" ? (
          <motion.span
            key="failed"
            {...pop}
            className="flex size-5 items-center justify-center rounded-full bg-red-500 text-white"
          >
            <X className="size-3" strokeWidth={3} />
          </motion.span>
        ) : (
          <motion.span
            key="pending"
            {...pop}
            className="size-5 rounded-full border-2 border-dashed border-muted-foreground/35 bg-card"
          />
        )}
      </AnimatePresence>
    </span>
  );
}
