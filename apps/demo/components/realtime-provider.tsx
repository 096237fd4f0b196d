"use client";
/**
 * The demo's client-side realtime shell: one Herald client for the whole app (the layout persists
 * across navigations), sonner's Toaster, the reconnection toasts, notification toasts for the
 * signed-in user's `user-{id}` channel (in every tab), and the move to the sign-in page when the
 * session ends in another tab (a BroadcastChannel message in this browser, or the server's
 * `session-ended` event on `user-{id}` after a sign-out or an eviction).
 */
import { HeraldProvider, useEvent } from "herald/react";
import { useEffect, type ReactNode } from "react";
import { toast, Toaster } from "sonner";
import { ReconnectionToast } from "@/components/realtime/reconnection-toast";
import { NotificationToast } from "@/components/realtime/notification-toast";
import type { DemoNotification } from "@/lib/inbox";
import { SESSION_BROADCAST } from "@/lib/utils";

/** Leaves for the sign-in page, which brings the user back here afterwards. */
function toSignIn(): void {
  const here = `${window.location.pathname}${window.location.search}`;
  window.location.replace(`/signin?next=${encodeURIComponent(here)}`);
}

/** Asks the server for a single-use token before every (re)connect. */
async function getToken(): Promise<string> {
  const response = await fetch("/api/realtime/token", { method: "POST", credentials: "same-origin" });
  if (response.status === 401) {
    toSignIn();
    throw new Error("signed out");
  }
  if (!response.ok) throw new Error(`token request failed (${response.status})`);
  return ((await response.json()) as { token: string }).token;
}

const OPTIONS = { maxAttempts: 8, backoff: { baseMs: 1000, capMs: 15_000 } };

export function RealtimeProvider({ userId, children }: { userId: string; children: ReactNode }) {
  return (
    <HeraldProvider url="/api/realtime/sse" getToken={getToken} options={OPTIONS}>
      {children}
      <NotificationToasts userId={userId} />
      <SessionWatch userId={userId} />
      <ReconnectionToast />
      <Toaster position="bottom-right" theme="system" closeButton toastOptions={{ className: "font-sans" }} />
    </HeraldProvider>
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
