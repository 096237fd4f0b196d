"use client";
import { Ban, CircleAlert, CircleCheck, CircleDashed, CirclePause, Clock, LoaderCircle, X } from "lucide-react";
import { useTask, type TaskSnapshot, type UseTaskStatus } from "herald/react";
import { useEffect, useState } from "react";
import { toast } from "sonner";
import { StepList } from "@/components/realtime/step-list";
import { StreamingText } from "@/components/realtime/streaming-text";
import { TaskProgress } from "@/components/realtime/task-progress";
import { useNow } from "@/components/realtime/use-now";
import { usePaused } from "@/components/realtime/use-paused";
import { Button } from "@/components/ui/button";
import { Card } from "@/components/ui/card";
import type { ReportResult } from "@/lib/report-job";
import { cn, formatMoney } from "@/lib/utils";

const BADGE: Record<UseTaskStatus, { label: string; className: string; icon: typeof Clock }> = {
  loading: { label: "Loading", className: "bg-muted text-muted-foreground", icon: LoaderCircle },
  error: { label: "Unavailable", className: "bg-red-500/10 text-red-700 dark:text-red-300", icon: CircleAlert },
  queued: { label: "Queued", className: "bg-muted text-muted-foreground", icon: Clock },
  running: { label: "Running", className: "bg-accent/10 text-indigo-700 dark:text-indigo-300", icon: LoaderCircle },
  succeeded: {
    label: "Completed",
    className: "bg-emerald-500/10 text-emerald-700 dark:text-emerald-300",
    icon: CircleCheck,
  },
  failed: { label: "Failed", className: "bg-red-500/10 text-red-700 dark:text-red-300", icon: CircleAlert },
  canceled: { label: "Canceled", className: "bg-muted text-muted-foreground", icon: Ban },
};

/** The badge while the connection is down: the last known state, not live. */
const PAUSED = {
  label: "Paused — reconnecting",
  className: "bg-amber-500/10 text-amber-800 dark:text-amber-200",
  icon: CirclePause,
};

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
}

export function TaskCard({
  initial,
  onStatus,
}: {
  initial: TaskSnapshot<ReportResult>;
  /** Told the task's status whenever it changes (for counts around the list). */
  onStatus?: (id: string, status: UseTaskStatus) => void;
}) {
  const task = useTask<ReportResult>(initial.id, { initial });
  const { status, progress, steps, text, result, error } = task;
  useEffect(() => onStatus?.(initial.id, status), [onStatus, initial.id, status]);
  const [canceling, setCanceling] = useState(false);
  const active = status === "running" || status === "queued";
  // While the connection is down nothing here is live: stop spinning and say so.
  const paused = usePaused() && (active || status === "loading");
  const now = useNow(active, 1000);
  const snap = task.task ?? initial;
  const elapsed = (active ? now : snap.updatedAt) - snap.createdAt;
  const badge = paused ? PAUSED : BADGE[status];
  const BadgeIcon = badge.icon;

  const cancel = async () => {
    setCanceling(true);
    try {
      await task.cancel();
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== "task_finished") toast.error("Could not cancel", { description: (e as Error).message });
    } finally {
      setCanceling(false);
    }
  };

  return (
    <Card
      className="overflow-hidden"
      data-testid="task-card"
      data-task-id={initial.id}
      data-status={status}
      data-paused={paused ? "true" : undefined}
    >
      <div className="flex flex-wrap items-center gap-x-3 gap-y-2 px-5 pt-4">
        {/* A row of its own on phones (never cut: the row count is the end of the title), beside the rest from sm up. */}
        <h3
          className="min-w-0 basis-full text-sm font-semibold tracking-tight [overflow-wrap:anywhere] sm:flex-1 sm:basis-0"
          data-testid="task-title"
        >
          {task.title ?? "Task"}
        </h3>
        <span className="flex items-center gap-1 text-xs text-muted-foreground tabular-nums">
          <Clock className="size-3.5" />
          <span suppressHydrationWarning>{duration(elapsed)}</span>
        </span>
        <span
          className={cn("inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium", badge.className)}
          data-testid="task-status"
        >
          <BadgeIcon
            className={cn("size-3.5", !paused && status === "running" && "animate-spin motion-reduce:animate-none")}
          />
          {badge.label}
        </span>
        {active ? (
          <Button variant="danger" size="sm" onClick={cancel} disabled={canceling} data-testid="cancel-task">
            {canceling ? <LoaderCircle className="animate-spin" /> : <X />}
            Cancel
          </Button>
        ) : null}
      </div>

      <div className="flex items-center gap-3 px-5 pt-3">
        <TaskProgress value={progress} status={status} paused={paused} label={`${task.title ?? "Task"} progress`} />
        <span
          className="w-11 text-right text-xs font-medium text-muted-foreground tabular-nums"
          data-testid="task-percent"
        >
          {Math.round(progress)}%
        </span>
      </div>

      <div className="mt-4 grid gap-5 border-t border-border bg-muted/30 px-5 py-4 md:grid-cols-[15rem_1fr]">
        <StepList steps={steps} stopped={status === "canceled" || status === "failed"} paused={paused} />
        <div className="min-w-0 space-y-3">
          <div>
            <div className="mb-1.5 text-xs font-medium tracking-wide text-muted-foreground uppercase">Summary</div>
            {text.length === 0 && active ? (
              <div className="space-y-2 pt-1">
                {["w-11/12", "w-4/5", "w-2/3"].map((w) => (
                  <div
                    key={w}
                    aria-hidden
                    className={cn(
                      "h-2.5 rounded-full bg-muted",
                      !paused && "animate-pulse motion-reduce:animate-none",
                      w,
                    )}
                  />
                ))}
                <p className="pt-1 text-xs text-muted-foreground">Written once the statistics are ready.</p>
              </div>
            ) : (
              <StreamingText
                text={text}
                streaming={status === "running" && !paused}
                placeholder={status === "succeeded" ? "" : "No summary was written."}
                className="text-foreground/90"
              />
            )}
          </div>
          {status === "succeeded" && result ? <ResultStats result={result} /> : null}
          {status === "failed" && error ? (
            <div className="flex items-start gap-2 rounded-lg border border-red-500/25 bg-red-500/5 px-3 py-2 text-sm text-red-700 dark:text-red-300">
              <CircleAlert className="mt-0.5 size-4 shrink-0" />
              <span>{error.message}</span>
            </div>
          ) : null}
          {status === "canceled" ? (
            <div className="flex items-center gap-2 text-sm text-muted-foreground">
              <CircleDashed className="size-4" /> Canceled at {Math.round(progress)}%.
            </div>
          ) : null}
        </div>
      </div>
    </Card>
  );
}

function ResultStats({ result }: { result: ReportResult }) {
  const items = [
    { label: "Revenue", value: formatMoney(result.revenue) },
    { label: "Median order", value: formatMoney(result.medianOrder) },
    { label: "p95 order", value: formatMoney(result.p95Order) },
    { label: "Top region", value: result.topRegion },
  ];
  return (
    <dl className="grid grid-cols-2 gap-2 sm:grid-cols-4">
      {items.map((item) => (
        <div key={item.label} className="rounded-lg border border-border bg-card px-3 py-2">
          <dt className="text-xs text-muted-foreground">{item.label}</dt>
          <dd className="mt-0.5 truncate text-sm font-semibold tabular-nums">{item.value}</dd>
        </div>
      ))}
    </dl>
  );
}
