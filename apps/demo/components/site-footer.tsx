"use client";
/**
 * The footer: how this page talks to the server, truthfully. The tabs of one signed-in browser share
 * one realtime connection (the transport it negotiated: SSE, or long-polling), held by one of them;
 * the chat, when told to use WebSocket (`?chat=ws`), adds one of its own.
 */
import { usePathname } from "next/navigation";
import { useHerald } from "herald/react";
import { transportName, useActiveTransport } from "@/components/realtime/use-transport";

export function SiteFooter({ chatOnWebSocket = false }: { chatOnWebSocket?: boolean }) {
  const pathname = usePathname();
  const transport = useActiveTransport(); // re-renders on every state change, when the holder may change too
  const role = useHerald().client?.connectionRole ?? "own";
  const via = transport ? ` (${transportName(transport)})` : "";
  const shared =
    role === "own"
      ? `one realtime connection per tab${via}`
      : `one realtime connection per browser${via}, held by ${role === "leader" ? "this tab" : "another tab"} for every tab`;
  const chat = chatOnWebSocket && (pathname === "/chat" || pathname.startsWith("/chat/"));
  return (
    <footer
      className="border-t border-border px-4 py-5 text-center text-xs text-muted-foreground"
      data-testid="site-footer"
    >
      Herald demo ·{" "}
      {chat
        ? `this page uses ${shared}, shared with every page, plus a WebSocket for the chat room`
        : `${shared}, shared by every page`}
    </footer>
  );
}
