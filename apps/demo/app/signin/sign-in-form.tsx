"use client";
import { ArrowRight, LoaderCircle } from "lucide-react";
import { useActionState, useEffect, useState } from "react";
import { signIn } from "@/app/actions";
import { SESSION_BROADCAST } from "@/lib/utils";
import { Button } from "@/components/ui/button";

export function SignInForm({ next }: { next: string }) {
  const [state, action, pending] = useActionState(signIn, null);
  // Controlled: the typed name survives a refusal and the form reset after each action, even when
  // the next name is typed while the previous attempt is still pending.
  const [name, setName] = useState("");
  // This page renders only without a session: any other tab of this browser still showing a
  // signed-in page is out of date (it moves to the sign-in page too).
  useEffect(() => {
    if (typeof BroadcastChannel === "undefined") return;
    const channel = new BroadcastChannel(SESSION_BROADCAST);
    channel.postMessage({ type: "signed-out" });
    channel.close();
  }, []);
  return (
    <form action={action} className="space-y-4">
      <input type="hidden" name="next" value={next} />
      <div className="space-y-1.5">
        <label htmlFor="name" className="text-sm font-medium">
          Display name
        </label>
        <input
          id="name"
          name="name"
          required
          minLength={2}
          maxLength={40}
          value={name}
          onChange={(event) => setName(event.target.value)}
          autoComplete="nickname"
          autoFocus
          placeholder="Ada Lovelace"
          aria-invalid={state?.error ? true : undefined}
          aria-describedby={state?.error ? "name-error" : undefined}
          className="h-10 w-full rounded-lg border border-border bg-background px-3 text-sm shadow-xs transition-colors outline-none placeholder:text-muted-foreground/70 focus:border-accent focus:ring-3 focus:ring-accent/20"
        />
        {state?.error ? (
          <p id="name-error" role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="signin-error">
            {state.error}
          </p>
        ) : null}
      </div>
      <Button type="submit" className="h-10 w-full" disabled={pending}>
        {pending ? <LoaderCircle className="animate-spin" /> : null}
        Continue
        {!pending ? <ArrowRight /> : null}
      </Button>
    </form>
  );
}
