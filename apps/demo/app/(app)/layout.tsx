import { cookies, headers } from "next/headers";
import type { ReactNode } from "react";
import { requireSession } from "@/lib/auth";
import { parseTransport, TRANSPORT_COOKIE, TRANSPORT_HEADER } from "@/lib/transport";
import { RealtimeProvider } from "@/components/realtime-provider";
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
        <SiteHeader user={session} />
        <main className="mx-auto w-full max-w-6xl flex-1 px-4 py-8 sm:px-6 lg:py-10">{children}</main>
        <footer className="border-t border-border px-4 py-5 text-center text-xs text-muted-foreground">
          Herald demo · one SSE connection per tab, every page below shares it
        </footer>
      </div>
    </RealtimeProvider>
  );
}
