"use client";
/**
 * NotificationToast: the body of a sonner `toast.custom()` for an incoming message: avatar,
 * sender, time, message, and a close button. Pair it with `useEvent` on the user's channel.
 */
import { X } from "lucide-react";
import { Avatar } from "@/components/ui/avatar";

export function NotificationToast({ from, message, onClose }: { from: string; message: string; onClose: () => void }) {
  return (
    <div className="flex w-[356px] max-w-[calc(100vw-2rem)] gap-3 rounded-xl border border-border bg-card p-4 font-sans text-foreground shadow-lg">
      <Avatar name={from} className="ring-0" />
      <div className="min-w-0 flex-1">
        <div className="flex items-center gap-2">
          <span className="truncate text-sm font-semibold">{from}</span>
          <span className="shrink-0 text-xs text-muted-foreground">· just now</span>
        </div>
        <p className="mt-0.5 text-sm wrap-anywhere whitespace-pre-line text-foreground/85">{message}</p>
      </div>
      <button
        type="button"
        onClick={onClose}
        aria-label="Dismiss"
        className="-mt-1 -mr-1 flex size-6 shrink-0 items-center justify-center rounded-md text-muted-foreground transition-colors hover:bg-muted hover:text-foreground"
      >
        <X className="size-3.5" />
      </button>
    </div>
  );
}
