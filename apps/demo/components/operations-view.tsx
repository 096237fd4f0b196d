"use client";
import { Activity, Gauge, PlugZap, ShieldAlert, Timer, TriangleAlert, Waves } from "lucide-react";
import { useEvent } from "herald/react";
import { useEffect, useRef, useState } from "react";
import { pingOperations } from "@/app/actions";
import { LiveChart } from "@/components/realtime/live-chart";
import { LiveCounter } from "@/components/realtime/live-counter";
import { usePaused } from "@/components/realtime/use-paused";
import { Card, CardHeader, PageHeader } from "@/components/ui/card";
import { OPERATIONS_CHANNEL, TRANSPORTS, type OperationsSample, type TransportName } from "@/lib/operations-shared";
import { plural } from "@/lib/utils";

const LABELS: Record<TransportName, string> = { sse: "SSE", poll: "Long-poll", websocket: "WebSocket" };
const COLORS: Record<TransportName, string> = {
  sse: "bg-sky-500",
  poll: "bg-amber-500",
  websocket: "bg-violet-500",
};
/** Time between two latency pings, in ms. */
const PING_MS = 2000;

export function OperationsView({ history }: { history: OperationsSample[] }) {
  const [samples, setSamples] = useState(history);
  const [latencies, setLatencies] = useState<number[]>([]);
  const pending = useRef(new Map<string, number>());
  const stale = usePaused();

  useEvent<OperationsSample>(OPERATIONS_CHANNEL, "tick", (sample) =>
    setSamples((list) => [...list.slice(-59), sample]),
  );
  useEvent<{ nonce: string }>(OPERATIONS_CHANNEL, "ping", ({ nonce }) => {
    const sentAt = pending.current.get(nonce);
    if (sentAt === undefined) return; // another browser's ping
    pending.current.delete(nonce);
    setLatencies((list) => [...list.slice(-59), Math.round(performance.now() - sentAt)]);
  });

  // Publish-to-receive, measured here: ask the server to publish a ping, time its arrival.
  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState !== "visible") return;
      const nonce = Math.random().toString(36).slice(2, 12);
      pending.current.set(nonce, performance.now());
      if (pending.current.size > 10) pending.current.delete(pending.current.keys().next().value!);
      void pingOperations(nonce).catch(() => pending.current.delete(nonce));
    }, PING_MS);
    return () => clearInterval(timer);
  }, []);

  const latest = samples[samples.length - 1];
  const total = (s: OperationsSample | undefined, f: (s: OperationsSample) => Record<TransportName, number>) =>
    s ? TRANSPORTS.reduce((sum, name) => sum + f(s)[name], 0) : 0;
  const sorted = [...latencies].sort((a, b) => a - b);
  const p50 = sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
  const p95 = sorted[Math.ceil((sorted.length - 1) * 0.95)] ?? 0;

  return (
    <div>
      <PageHeader
        title="Operations"
        description="This server as Prometheus sees it (GET /api/realtime/metrics), pushed once a second over Herald itself."
      />
      <div className="grid grid-cols-2 gap-4 lg:grid-cols-4">
        <LiveCounter
          stale={stale}
          testId="ops-connections"
          label="Connections"
          value={total(latest, (s) => s.connections)}
          icon={<PlugZap />}
          hint="SSE, long-poll and WebSocket"
        />
        <LiveCounter
          stale={stale}
          testId="ops-deliveries"
          label="Deliveries / s"
          value={total(latest, (s) => s.deliveriesPerSecond)}
          icon={<Waves />}
          hint={`${latest?.publishesPerSecond ?? 0} publishes / s`}
        />
        <LiveCounter
          stale={stale}
          testId="ops-latency"
          label="Publish → receive (ms)"
          value={p50}
          icon={<Timer />}
          hint={latencies.length > 0 ? `p95 ${p95} ms, ${latencies.length} pings from this browser` : "Measuring…"}
        />
        <LiveCounter
          stale={stale}
          testId="ops-drops"
          label="Slow consumers dropped"
          value={latest?.drops ?? 0}
          icon={<TriangleAlert />}
          hint={`${plural(latest?.gaps ?? 0, "gap")}, ${latest?.rateLimited ?? 0} rate limited`}
        />
      </div>

      <div className="mt-6 grid gap-6 lg:grid-cols-2">
        <Card>
          <CardHeader icon={<Gauge />} title="Connections by transport" description="Open now on this process." />
          <ul className="space-y-3 p-5" data-testid="ops-transports">
            {TRANSPORTS.map((name) => {
              const value = latest?.connections[name] ?? 0;
              const max = Math.max(
                1,
                total(latest, (s) => s.connections),
              );
              return (
                <li key={name} data-transport={name} className="text-sm">
                  <div className="mb-1 flex justify-between">
                    <span className="font-medium">{LABELS[name]}</span>
                    <span className="tabular-nums text-muted-foreground">
                      {value.toLocaleString("en-US")} ·{" "}
                      {(latest?.deliveriesPerSecond[name] ?? 0).toLocaleString("en-US")}
                      /s
                    </span>
                  </div>
                  <div className="h-2 overflow-hidden rounded-full bg-muted">
                    <div
                      className={`h-full rounded-full ${COLORS[name]} transition-[width] duration-500`}
                      style={{ width: `${(100 * value) / max}%` }}
                    />
                  </div>
                </li>
              );
            })}
          </ul>
        </Card>
        <Card>
          <CardHeader
            icon={<Timer />}
            title="Publish → receive"
            description="Milliseconds from this browser asking for a ping to the ping arriving over its connection."
          />
          <div className="px-5 pt-6 pb-5">
            <LiveChart values={latencies} label="Publish to receive latency" unit=" ms" heightRem={10} stale={stale} />
          </div>
        </Card>
        <Card className="lg:col-span-2">
          <CardHeader
            icon={<Activity />}
            title="Deliveries per second"
            description="Events written to connections, every transport, the last 60 seconds."
            actions={
              <span className="flex items-center gap-1 text-xs text-muted-foreground">
                <ShieldAlert className="size-3.5" /> Metrics: /api/realtime/metrics
              </span>
            }
          />
          <div className="px-5 pt-6 pb-5">
            <LiveChart
              values={samples.map((s) => total(s, (x) => x.deliveriesPerSecond))}
              label="Deliveries per second"
              unit=" /s"
              heightRem={12}
              stale={stale}
            />
          </div>
        </Card>
      </div>
    </div>
  );
}
