import type { ReactNode } from "react";
import { requireSession } from "@/lib/auth";
import { RealtimeProvider } from "@/components/realtime-provider";
import { SiteHeader } from "@/components/site-header";

export default async function AppLayout({ children }: { children: ReactNode }) {
  const session = await requireSession();
  return (
    <RealtimeProvider userId={session.id}>
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
