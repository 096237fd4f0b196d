import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { RadioTower } from "lucide-react";
import { getSession } from "@/lib/auth";
import { safeNext } from "@/lib/redirect";
import { SignInForm } from "./sign-in-form";

export const metadata: Metadata = { title: "Sign in" };

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ next?: string }> }) {
  const { next: asked } = await searchParams;
  const next = safeNext(asked, "");
  if (await getSession()) redirect(next || "/tasks");
  return (
    <main className="relative flex min-h-dvh items-center justify-center overflow-hidden px-4">
      <div
        aria-hidden
        className="pointer-events-none absolute inset-0 bg-[radial-gradient(60rem_30rem_at_50%_-10%,color-mix(in_oklch,var(--color-accent)_14%,transparent),transparent)]"
      />
      <div className="relative w-full max-w-sm">
        <div className="mb-8 flex flex-col items-center text-center">
          <div className="mb-4 flex size-11 items-center justify-center rounded-xl bg-foreground text-background shadow-sm">
            <RadioTower className="size-5" />
          </div>
          <h1 className="text-xl font-semibold tracking-tight">Welcome to Herald</h1>
          <p className="mt-1.5 text-sm text-muted-foreground">
            Real-time tasks, notifications and a live dashboard, all over one connection.
          </p>
        </div>
        <div className="rounded-xl border border-border bg-card p-6 shadow-sm">
          <SignInForm next={next} />
        </div>
        <p className="mt-6 text-center text-xs text-muted-foreground">
          No password, no email. Open a private window and sign in as someone else to send notifications between the
          two.
        </p>
      </div>
    </main>
  );
}
