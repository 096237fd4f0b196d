"use client";
/**
 * The demo's client-side realtime shell: one Herald client for the whole app (the layout persists
 * across navigations), sonner's Toaster, the reconnection toast, and notification toasts for the
 * signed-in user's `user-{id}` channel (in every tab).
 */
import { HeraldProvider, useEvent } from "herald/react";
import type { ReactNode } from "react";
import { toast, Toaster } from "sonner";
import { ReconnectionToast } from "@/components/realtime/reconnection-toast";
import { NotificationToast } from "@/components/realtime/notification-toast";
import type { DemoNotification } from "@/lib/inbox";

/** Asks the server for a single-use token before every (re)connect. */
async function getToken(): Promise<string> {
  const response = await fetch("/api/realtime/token", { method: "POST", credentials: "same-origin" });
  if (response.status === 401) {
    window.location.href = "/signin";
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
