"use client";
/**
 * The demo's client-side realtime shell: one Herald client for the whole app (the layout persists
 * across navigations), sonner's Toaster, the reconnection toasts, notification toasts for the
 * signed-in user's `user-{id}` channel (in every tab), and the move to the sign-in page when the
 * session ends: in another tab (a BroadcastChannel message in this browser, or the server's
 * `session-ended` event on `user-{id}` after a sign-out or an eviction), or when the token route
 * says this browser is signed out. `HeraldProvider` fetches its own tokens (`POST
 * /api/realtime/token` before every connect) and reconnects when `session` changes.
 *
 * The transport (`auto`, or forced `sse` / `poll`) is part of the provider's key: the provider
 * creates its client once, so another transport needs another provider.
 */
import { HeraldProvider, useEvent, useHerald } from "herald/react";
import { useEffect, useMemo, type ReactNode } from "react";
import { toast, Toaster } from "sonner";
import { ReconnectionToast } from "@/components/realtime/reconnection-toast";
import { NotificationToast } from "@/components/realtime/notification-toast";
import { TransportChoiceContext } from "@/components/realtime/use-transport";
import type { DemoNotification } from "@/lib/inbox";
import { TRANSPORT_COOKIE, type TransportChoice } from "@/lib/transport";
import { SESSION_BROADCAST } from "@/lib/utils";

/** Leaves for the sign-in page, which brings the user back here afterwards. */
function toSignIn(): void {
  const here = `${window.location.pathname}${window.location.search}`;
  window.location.replace(`/signin?next=${encodeURIComponent(here)}`);
}

/** Stores another transport and reloads, so every widget starts over on it. */
function chooseTransport(choice: TransportChoice): void {
  document.cookie = `${TRANSPORT_COOKIE}=${choice}; path=/; max-age=${60 * 60 * 24 * 365}; samesite=lax`;
  const url = new URL(window.location.href);
  url.searchParams.delete("transport");
  window.location.replace(url);
}

const OPTIONS = { maxAttempts: 8, backoff: { baseMs: 1000, capMs: 15_000 } };

export function RealtimeProvider({
  userId,
  transport,
  children,
}: {
  userId: string;
  transport: TransportChoice;
  children: ReactNode;
}) {
  const options = useMemo(() => ({ ...OPTIONS, transport }), [transport]);
  const choice = useMemo(() => ({ choice: transport, choose: chooseTransport }), [transport]);
  return (
    <TransportChoiceContext.Provider value={choice}>
      <HeraldProvider key={transport} session={userId} options={options}>
        {children}
        <NotificationToasts userId={userId} />
        <SessionWatch userId={userId} />
        <ReconnectionToast />
        <Toaster position="bottom-right" theme="system" closeButton toastOptions={{ className: "font-sans" }} />
      </HeraldProvider>
    </TransportChoiceContext.Provider>
  );
}

function NotificationToasts({ userId }: { userId: string }) {
  useEvent<DemoNotification>(`user-${userId}`, "notification", (n) => {
    toast.custom(
      (id) => <NotificationToast from={n.from.name} message={n.message} onClose={() => toast.dismiss(id)} />,
      { id: `notification-${n.id}`, duration: 8000 },
    );
  });
  return null;
}

/** Moves this tab to the sign-in page as soon as the session ends elsewhere. */
function SessionWatch({ userId }: { userId: string }) {
  useEvent(`user-${userId}`, "session-ended", () => toSignIn());
  // The token route answered 401: this browser's session is over (signed out, evicted, restart).
  const signedOut = useHerald().userId === null;
  useEffect(() => {
    if (signedOut) toSignIn();
  }, [signedOut]);
  useEffect(() => {
    if (typeof BroadcastChannel === "undefined") return;
    const channel = new BroadcastChannel(SESSION_BROADCAST);
    channel.onmessage = (event: MessageEvent<{ type?: string; userId?: string }>) => {
      if (event.data?.type === "signed-out" && (!event.data.userId || event.data.userId === userId)) toSignIn();
    };
    return () => channel.close();
  }, [userId]);
  return null;
}
