"use client";
/**
 * The footer: how this page talks to the server, truthfully. Every page shares the tab's one
 * realtime connection (the transport it negotiated: SSE, or long-polling); the chat, when told to
 * use WebSocket (`?chat=ws`), adds one of its own.
 */
import { usePathname } from "next/navigation";
import { transportName, useActiveTransport } from "@/components/realtime/use-transport";

export function SiteFooter({ chatOnWebSocket = false }: { chatOnWebSocket?: boolean }) {
  const pathname = usePathname();
  const transport = useActiveTransport();
  const shared = `one realtime connection per tab${transport ? ` (${transportName(transport)})` : ""}`;
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
