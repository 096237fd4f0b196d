"use client";
/**
 * TransportSelect: the header's setting for the realtime transport. "Auto" lets the client
 * negotiate (SSE, long-polling when streams do not get through); "SSE" and "Polling" force one.
 * Changing it stores the choice and reloads the page on the new transport.
 */
import type { TransportChoice } from "@/lib/transport";
import { cn } from "@/lib/utils";
import { useTransportChoice } from "./use-transport";

const CHOICES: Array<{ value: TransportChoice; label: string }> = [
  { value: "auto", label: "Auto" },
  { value: "sse", label: "SSE" },
  { value: "poll", label: "Polling" },
];

export function TransportSelect({ className }: { className?: string }) {
  const { choice, choose } = useTransportChoice();
  return (
    <label className={cn("text-xs text-muted-foreground", className)}>
      <span className="sr-only">Realtime transport</span>
      <select
        data-testid="transport-select"
        value={choice}
        onChange={(event) => choose(event.target.value as TransportChoice)}
        title="Realtime transport: Auto negotiates, SSE and Polling force one"
        className="h-8 rounded-md border border-border bg-card px-2 text-xs font-medium text-foreground shadow-xs focus-visible:ring-2 focus-visible:ring-ring focus-visible:outline-none"
      >
        {CHOICES.map((c) => (
          <option key={c.value} value={c.value}>
            {c.label}
          </option>
        ))}
      </select>
    </label>
  );
}
