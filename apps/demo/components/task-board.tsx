"use client";
import { AnimatePresence, motion, useReducedMotion } from "motion/react";
import { FileChartColumn, FlaskConical, LoaderCircle, Play } from "lucide-react";
import { useTasks, type TaskSnapshot, type UseTaskStatus } from "herald/react";
import { useCallback, useState } from "react";
import { toast } from "sonner";
import { startReport } from "@/app/actions";
import { TaskCard } from "@/components/task-card";
import { Button } from "@/components/ui/button";
import { Card, EmptyState, PageHeader } from "@/components/ui/card";
import { REPORT_LIMIT, type ReportResult, type ReportSize } from "@/lib/report-job";
import { cn } from "@/lib/utils";

const SIZES: Array<{ value: ReportSize; label: string; detail: string }> = [
  { value: "small", label: "Small", detail: "60k rows · ~12 s" },
  { value: "medium", label: "Medium", detail: "250k rows · ~25 s" },
  { value: "large", label: "Large", detail: "1M rows · ~50 s" },
];

export function TaskBoard({ initial }: { initial: TaskSnapshot<ReportResult>[] }) {
  // The user's reports, live in every tab: a report started elsewhere appears here too.
  const { tasks, start: startTask, refresh, starting } = useTasks<ReportResult>({ initial });
  const [size, setSize] = useState<ReportSize>("small");
  const [fail, setFail] = useState(false);
  const reduced = useReducedMotion();
  const [statuses, setStatuses] = useState<Record<string, UseTaskStatus>>({});
  const onStatus = useCallback(
    (id: string, status: UseTaskStatus) => setStatuses((map) => (map[id] === status ? map : { ...map, [id]: status })),
    [],
  );
  const count = (...wanted: UseTaskStatus[]) => tasks.filter((t) => wanted.includes(statuses[t.id] ?? t.status)).length;
  const running = count("running", "queued");
  const completed = count("succeeded");
  const ended = count("failed", "canceled");
  const atCap = running >= REPORT_LIMIT;

  const start = async () => {
    const started = await startTask(() => startReport(size, fail));
    if (started.ok) return;
    toast.error("Could not start the report", { description: started.error.message });
    if (started.error.code === "too_many_tasks") refresh(); // this tab had not seen them all
  };

  return (
    <div>
      <PageHeader
        title="Tasks"
        description="Long-running jobs on the server, streamed live: progress, steps and a summary as it is written. Start several, cancel any, or reload mid-run — each continues from its snapshot."
      />
      <Card className="mb-8 p-5">
        <div className="flex flex-col gap-5 lg:flex-row lg:items-end">
          <div className="flex-1">
            <div className="mb-2 flex items-center gap-2 text-sm font-semibold tracking-tight">
              <FileChartColumn className="size-4 text-muted-foreground" />
              New sales report
            </div>
            <p className="mb-4 text-sm text-muted-foreground">
              Generates orders, validates them, aggregates revenue, computes statistics and writes a summary.
            </p>
            <fieldset>
              <legend className="sr-only">Dataset size</legend>
              <div className="grid grid-cols-3 gap-2 sm:max-w-md">
                {SIZES.map((s) => (
                  // Native radios: one tab stop for the group, arrow keys move the choice.
                  <label
                    key={s.value}
                    data-testid="report-size"
                    data-value={s.value}
                    className={cn(
                      "relative cursor-pointer rounded-lg border px-3 py-2 text-left transition-colors",
                      "has-[:focus-visible]:ring-2 has-[:focus-visible]:ring-ring has-[:focus-visible]:ring-offset-2 has-[:focus-visible]:ring-offset-background",
                      size === s.value
                        ? "border-accent bg-accent/[0.06] ring-1 ring-accent"
                        : "border-border hover:bg-muted/60",
                    )}
                  >
                    <input
                      type="radio"
                      name="report-size"
                      value={s.value}
                      checked={size === s.value}
                      onChange={() => setSize(s.value)}
                      className="sr-only"
                    />
                    <span className="block text-sm font-medium">{s.label}</span>
                    <span className="block text-xs text-muted-foreground">{s.detail}</span>
                  </label>
                ))}
              </div>
            </fieldset>
          </div>
          <div className="flex items-center gap-4">
            <label className="flex cursor-pointer items-center gap-2 text-sm text-muted-foreground select-none">
              <input
                type="checkbox"
                checked={fail}
                onChange={(e) => setFail(e.target.checked)}
                className="size-4 rounded border-border accent-[var(--color-accent)]"
              />
              <FlaskConical className="size-4" />
              Inject a failure
            </label>
            <Button onClick={start} disabled={starting || atCap} data-testid="start-task">
              {starting ? <LoaderCircle className="animate-spin" /> : <Play />}
              Start report
            </Button>
          </div>
        </div>
        {atCap ? (
          <p role="status" className="mt-4 text-sm text-muted-foreground" data-testid="task-cap">
            {REPORT_LIMIT} reports are running; wait for one to finish.
          </p>
        ) : null}
      </Card>

      {tasks.length === 0 ? (
        <EmptyState icon={<FileChartColumn />} title="No reports yet">
          Start one above. It runs on the server; this page only listens. Start a few at once to see them share one
          connection.
        </EmptyState>
      ) : (
        <>
          <div className="mb-3 flex items-center justify-between gap-4">
            <h2 className="text-sm font-semibold tracking-tight">Your reports</h2>
            <div className="flex items-center gap-3 text-xs text-muted-foreground tabular-nums">
              <span className="flex items-center gap-1.5">
                <span className="size-1.5 rounded-full bg-accent" /> {running} running
              </span>
              <span className="flex items-center gap-1.5">
                <span className="size-1.5 rounded-full bg-emerald-500" /> {completed} completed
              </span>
              {ended > 0 ? (
                <span className="flex items-center gap-1.5">
                  <span className="size-1.5 rounded-full bg-muted-foreground/50" /> {ended} stopped
                </span>
              ) : null}
            </div>
          </div>
          <ul className="space-y-4">
            <AnimatePresence initial={false}>
              {tasks.map((task) => (
                <motion.li
                  key={task.id}
                  layout={!reduced}
                  initial={reduced ? false : { opacity: 0, y: -12, scale: 0.99 }}
                  animate={{ opacity: 1, y: 0, scale: 1 }}
                  transition={{ type: "spring", stiffness: 380, damping: 32 }}
                >
                  <TaskCard initial={task} onStatus={onStatus} />
                </motion.li>
              ))}
            </AnimatePresence>
          </ul>
        </>
      )}
    </div>
  );
}
