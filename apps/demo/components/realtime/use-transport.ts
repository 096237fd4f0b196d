"use client";
/**
 * The transport, for the connection indicator and the header's setting: which one the shared
 * client uses now (`client.transport`, updated on its `transport` and `state` events), and which
 * one the demo asked for (`auto`, or forced `sse` / `poll`, with a way to change it).
 */
import { useHerald, type HeraldClient } from "herald/react";
import { createContext, useCallback, useContext, useSyncExternalStore } from "react";
import type { TransportChoice } from "@/lib/transport";

/** What the client speaks now (or will, for the next connection): `"sse"`, `"poll"`, ... */
export type ActiveTransport = HeraldClient["transport"];

/** How the indicator names a transport. */
export function transportName(transport: ActiveTransport): string {
  const names: Record<string, string> = { sse: "SSE", poll: "Polling", ws: "WebSocket" };
  return names[transport] ?? String(transport).toUpperCase();
}

/** The transport of the shared client, or null before it exists (server render, first render). */
export function useActiveTransport(): ActiveTransport | null {
  const { client } = useHerald();
  const subscribe = useCallback(
    (listener: () => void) => {
      if (!client) return () => undefined;
      const offTransport = client.on("transport", listener);
      const offState = client.on("state", listener);
      return () => {
        offTransport();
        offState();
      };
    },
    [client],
  );
  return useSyncExternalStore(
    subscribe,
    () => client?.transport ?? null,
    () => null,
  );
}

/** The chosen transport and how to change it. */
export interface TransportChoiceValue {
  choice: TransportChoice;
  choose(choice: TransportChoice): void;
}

export const TransportChoiceContext = createContext<TransportChoiceValue>({
  choice: "auto",
  choose: () => undefined,
});

/** The chosen transport (from the nearest `RealtimeProvider`). */
export function useTransportChoice(): TransportChoiceValue {
  return useContext(TransportChoiceContext);
}
