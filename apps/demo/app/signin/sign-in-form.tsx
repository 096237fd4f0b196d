"use client";
import { ArrowRight, LoaderCircle } from "lucide-react";
import { useActionState } from "react";
import { signIn } from "@/app/actions";
import { Button } from "@/components/ui/button";

export function SignInForm({ next }: { next: string }) {
  const [state, action, pending] = useActionState(signIn, null);
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
          autoComplete="nickname"
          autoFocus
          placeholder="Ada Lovelace"
          className="h-10 w-full rounded-lg border border-border bg-background px-3 text-sm shadow-xs transition-colors outline-none placeholder:text-muted-foreground/70 focus:border-accent focus:ring-3 focus:ring-accent/20"
        />
        {state?.error ? <p className="text-sm text-red-600 dark:text-red-400">{state.error}</p> : null}
      </div>
      <Button type="submit" className="h-10 w-full" disabled={pending}>
        {pending ? <LoaderCircle className="animate-spin" /> : null}
        Continue
        {!pending ? <ArrowRight /> : null}
      </Button>
    </form>
  );
}
