"use client";
import { AnimatePresence, motion, useReducedMotion } from "motion/react";
import {
  Activity,
  BellRing,
  CircleCheck,
  CircleX,
  Cpu,
  LogIn,
  LogOut,
  Play,
  PlugZap,
  Send,
  Waves,
  Zap,
  Ban,
  CirclePause,
  Radio,
} from "lucide-react";
import { useEvent } from "herald/react";
import { useState, useTransition } from "react";
import { publishBurst } from "@/app/actions";
import { LiveChart } from "@/components/realtime/live-chart";
import { LiveCounter } from "@/components/realtime/live-counter";
import { useNow } from "@/components/realtime/use-now";
import { usePaused } from "@/components/realtime/use-paused";
import { Button } from "@/components/ui/button";
import { Card, CardHeader, EmptyState, PageHeader } from "@/components/ui/card";
import type { ActivityItem, DashboardSample } from "@/lib/herald";
import { plural, timeAgo } from "@/lib/utils";

type Person = { id: string; name: string };

export function DashboardView({ history, activity }: { history: DashboardSample[]; activity: ActivityItem[] }) {
  const [samples, setSamples] = useState(history);
  const [feed, setFeed] = useState(activity);
  const [bursting, startBurst] = useTransition();
  const reduced = useReducedMotion();
  const now = useNow(true, 5000);
  const stale = usePaused();

  useEvent<DashboardSample>("dashboard", "tick", (sample) => setSamples((list) => [...list.slice(-59), sample]));
  useEvent<ActivityItem["data"]>("activity", "*", (data, envelope) =>
    setFeed((list) =>
      list.some((x) => x.id === envelope.id)
        ? list
        : [{ id: envelope.id, kind: envelope.event, data }, ...list].slice(0, 30),
    ),
  );

  const latest = samples[samples.length - 1];
  const peak = Math.max(0, ...samples.map((s) => s.eventsPerSecond));
  const total = samples.reduce((sum, s) => sum + s.eventsPerSecond, 0);

  return (
    <div>
      <PageHeader
        title="Dashboard"
        description="Live numbers from this server, pushed once a second on a public channel — and only while someone is watching it."
        actions={
          <Button variant="secondary" onClick={() => startBurst(() => publishBurst())} disabled={bursting}>
            <Zap />
            Publish a burst
          </Button>
        }
      />
      {stale ? (
        <div
          role="status"
          data-testid="dashboard-stale"
          className="mb-4 flex items-center gap-2 rounded-lg border border-amber-500/40 bg-amber-500/10 px-3 py-2 text-sm text-amber-900 dark:text-amber-100"
        >
          <CirclePause className="size-4 shrink-0" />
          <span>
            Paused — reconnecting. These numbers are from{" "}
            {latest ? new Date(latest.t).toLocaleTimeString("en-US") : "before the connection dropped"} and will catch
            up once the connection is back.
          </span>
        </div>
      ) : null}
      <div className="grid grid-cols-2 gap-4 lg:grid-cols-4">
        <LiveCounter
          stale={stale}
          testId="counter-connections"
          label="Connected clients"
          value={latest?.connections ?? 0}
          icon={<PlugZap />}
          hint="Open SSE streams"
        />
        <LiveCounter
          stale={stale}
          testId="counter-events"
          label="Events / s"
          value={latest?.eventsPerSecond ?? 0}
          icon={<Activity />}
          hint={`Peak ${peak} in the last minute`}
        />
        <LiveCounter
          stale={stale}
          testId="counter-deliveries"
          label="Deliveries / s"
          value={latest?.deliveriesPerSecond ?? 0}
          icon={<Waves />}
          hint="Events × subscribers"
        />
        <LiveCounter
          stale={stale}
          testId="counter-tasks"
          label="Tasks running"
          value={latest?.tasksRunning ?? 0}
          icon={<Cpu />}
          hint={`${latest?.users ?? 0} signed in`}
        />
      </div>

      <div className="mt-6 grid grid-cols-[minmax(0,1fr)] gap-6 lg:grid-cols-[minmax(0,2fr)_minmax(0,1fr)]">
        <Card>
          <CardHeader
            icon={<Activity />}
            title="Events per second"
            description="Everything published on this server, the last 60 seconds."
            actions={<span className="text-xs text-muted-foreground tabular-nums">{plural(total, "event")}</span>}
          />
          <div className="px-5 pt-6 pb-5">
            <LiveChart
              values={samples.map((s) => s.eventsPerSecond)}
              label="Events per second"
              unit=" events/s"
              heightRem={14}
              stale={stale}
            />
            <div className="mt-2 ml-10 flex justify-between text-[11px] text-muted-foreground">
              <span>60 s ago</span>
              <span>now</span>
            </div>
          </div>
        </Card>

        <Card className="flex flex-col">
          <CardHeader icon={<Radio />} title="Activity" description="The public activity channel." />
          {/* Focusable, so keyboard users can scroll it (axe: scrollable-region-focusable). */}
          <div
            role="region"
            aria-label="Activity feed"
            tabIndex={0}
            className="max-h-[22rem] flex-1 overflow-y-auto p-5 pt-4 focus-visible:ring-2 focus-visible:ring-ring focus-visible:outline-none focus-visible:ring-inset"
          >
            {feed.length === 0 ? (
              <EmptyState icon={<Radio />} title="All quiet" className="py-8">
                Start a task or send a notification.
              </EmptyState>
            ) : (
              <ul className="space-y-1" data-testid="activity-feed">
                <AnimatePresence initial={false}>
                  {feed.map((item) => (
                    <motion.li
                      key={item.id}
                      layout={!reduced}
                      initial={reduced ? false : { opacity: 0, x: -8 }}
                      animate={{ opacity: 1, x: 0 }}
                      className="flex items-start gap-3 rounded-md px-1 py-1.5"
                      data-kind={item.kind}
                    >
                      <ActivityIcon kind={item.kind} data={item.data} />
                      <div className="min-w-0 flex-1 text-sm">
                        <p className="truncate">{describe(item)}</p>
                        <p className="text-xs text-muted-foreground" suppressHydrationWarning>
                          {timeAgo(item.data.at, now)}
                        </p>
                      </div>
                    </motion.li>
                  ))}
                </AnimatePresence>
              </ul>
            )}
          </div>
        </Card>
      </div>
    </div>
  );
}

function name(value: unknown): string {
  return (value as Person | undefined)?.name ?? "Someone";
}

function describe(item: ActivityItem): React.ReactNode {
  const d = item.data;
  const who = <span className="font-medium">{name(d.user ?? d.from)}</span>;
  switch (item.kind) {
    case "signin":
      return <>{who} signed in</>;
    case "signout":
      return <>{who} signed out</>;
    case "task-started":
      return <>{who} started a report</>;
    case "task-finished":
      return (
        <>
          {who}&apos;s report {d.status === "succeeded" ? "completed" : String(d.status)}
        </>
      );
    case "notification":
      return (
        <>
          {who} notified <span className="font-medium">{name(d.to)}</span>
        </>
      );
    case "burst":
      return <>{who} published a burst</>;
    case "probe":
      return <>Probe #{String(d.n)}</>;
    default:
      return item.kind;
  }
}

function ActivityIcon({ kind, data }: { kind: string; data: Record<string, unknown> }) {
  const base = "mt-0.5 flex size-6 shrink-0 items-center justify-center rounded-full [&_svg]:size-3.5";
  switch (kind) {
    case "signin":
      return (
        <span className={`${base} bg-sky-500/10 text-sky-600 dark:text-sky-400`}>
          <LogIn />
        </span>
      );
    case "signout":
      return (
        <span className={`${base} bg-muted text-muted-foreground`}>
          <LogOut />
        </span>
      );
    case "task-started":
      return (
        <span className={`${base} bg-accent/10 text-accent`}>
          <Play />
        </span>
      );
    case "task-finished":
      return data.status === "succeeded" ? (
        <span className={`${base} bg-emerald-500/10 text-emerald-600 dark:text-emerald-400`}>
          <CircleCheck />
        </span>
      ) : data.status === "canceled" ? (
        <span className={`${base} bg-muted text-muted-foreground`}>
          <Ban />
        </span>
      ) : (
        <span className={`${base} bg-red-500/10 text-red-600 dark:text-red-400`}>
          <CircleX />
        </span>
      );
    case "notification":
      return (
        <span className={`${base} bg-amber-500/10 text-amber-600 dark:text-amber-400`}>
          <BellRing />
        </span>
      );
    case "burst":
      return (
        <span className={`${base} bg-violet-500/10 text-violet-600 dark:text-violet-400`}>
          <Zap />
        </span>
      );
    default:
      return (
        <span className={`${base} bg-muted text-muted-foreground`}>
          <Send />
        </span>
      );
  }
}
