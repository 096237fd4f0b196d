import { cookies, headers } from "next/headers";
import type { ReactNode } from "react";
import { requireSession } from "@/lib/auth";
import { parseTransport, TRANSPORT_COOKIE, TRANSPORT_HEADER } from "@/lib/transport";
import { RealtimeProvider } from "@/components/realtime-provider";
import { chatTransport } from "@/lib/chat-transport";
import { SiteFooter } from "@/components/site-footer";
import { SiteHeader } from "@/components/site-header";

export default async function AppLayout({ children }: { children: ReactNode }) {
  const session = await requireSession();
  const transport =
    parseTransport((await headers()).get(TRANSPORT_HEADER)) ??
    parseTransport((await cookies()).get(TRANSPORT_COOKIE)?.value) ??
    "auto";
  return (
    <RealtimeProvider userId={session.id} transport={transport}>
      <div className="flex min-h-dvh flex-col">
        <a
          href="#main"
          className="sr-only rounded-md bg-foreground px-3 py-2 text-sm font-medium text-background focus:not-sr-only focus:fixed focus:top-2 focus:left-2 focus:z-50 focus:ring-2 focus:ring-ring focus:outline-none"
        >
          Skip to main content
        </a>
        <SiteHeader user={session} />
        <main
          id="main"
          tabIndex={-1}
          className="mx-auto w-full max-w-6xl flex-1 px-4 py-8 outline-none sm:px-6 lg:py-10"
        >
          {children}
        </main>
        <SiteFooter chatOnWebSocket={(await chatTransport()) === "ws"} />
      </div>
    </RealtimeProvider>
  );
}
