"use client";
/**
 * How the chat talks. By default (`sse`) on the tab's one connection, the app's `HeraldProvider`,
 * like every other page: presence, typing (client events sent as requests) and messages all work
 * on it. With `?chat=ws`, on a client of its own on WebSocket: a `HeraldProvider` nested in the
 * app's, to Herald's Pusher-compatible server at `/app/{key}` (server.ts), its private and presence
 * subscriptions signed by `/api/chat/auth`, its catch-up over the socket.
 */
import { HeraldProvider } from "herald/react";
import { createWebSocketEventSource } from "herald/client/ws";
import { createContext, useContext, useMemo, type ReactNode } from "react";
import type { ChatTransport } from "@/lib/transport";

const BACKOFF = { baseMs: 1000, capMs: 15_000 };
const ChatTransportContext = createContext<ChatTransport>("sse");

/** How this chat talks (`sse` or `ws`). */
export function useChatTransport(): ChatTransport {
  return useContext(ChatTransportContext);
}

export function ChatProvider({
  userId,
  pusherKey,
  via,
  children,
}: {
  userId: string;
  pusherKey: string;
  via: ChatTransport;
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
    <ChatTransportContext.Provider value={via}>
      {via === "ws" ? (
        <HeraldProvider session={userId} options={options}>
          {children}
        </HeraldProvider>
      ) : (
        children
      )}
    </ChatTransportContext.Provider>
  );
}
