"use client";
/**
 * The chat page's own Herald client, on WebSocket: a `HeraldProvider` nested in the app's (which
 * stays on SSE for every other widget, the header's indicator included). Its WebSocket is Herald's
 * Pusher-compatible server at `/app/{key}` (server.ts); private and presence subscriptions are
 * signed by `/api/chat/auth`; the catch-up after a reconnect reads Herald's poll route with a token
 * from `/api/realtime/token`, as the SSE client does.
 */
import { HeraldProvider } from "herald/react";
import { createWebSocketEventSource } from "herald/client/ws";
import { useMemo, type ReactNode } from "react";

const BACKOFF = { baseMs: 1000, capMs: 15_000 };

export function ChatProvider({
  userId,
  pusherKey,
  children,
}: {
  userId: string;
  pusherKey: string;
  children: ReactNode;
}) {
  const options = useMemo(
    () => ({
      transport: "ws" as const,
      ws: createWebSocketEventSource({ url: `/app/${encodeURIComponent(pusherKey)}`, authEndpoint: "/api/chat/auth" }),
      maxAttempts: 8,
      backoff: BACKOFF,
    }),
    [pusherKey],
  );
  return (
    <HeraldProvider session={userId} options={options}>
      {children}
    </HeraldProvider>
  );
}
