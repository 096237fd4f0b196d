"use client";
import { AnimatePresence, motion, useReducedMotion } from "motion/react";
import { Inbox, LoaderCircle, Send, Users } from "lucide-react";
import { useEvent } from "herald/react";
import { useState, useTransition } from "react";
import { toast } from "sonner";
import { sendNotification } from "@/app/actions";
import { useNow } from "@/components/realtime/use-now";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Card, CardHeader, EmptyState, PageHeader } from "@/components/ui/card";
import type { DemoNotification } from "@/lib/inbox";
import type { DemoUser } from "@/lib/users";
import { cn, timeAgo } from "@/lib/utils";

type Person = { id: string; name: string };

export function NotificationsView({
  me,
  users,
  inbox,
  limit,
}: {
  me: Person;
  users: DemoUser[];
  inbox: DemoNotification[];
  /** The server's cap on signed-in users: the live list never grows past it. */
  limit: number;
}) {
  const [people, setPeople] = useState<DemoUser[]>(users);
  const [received, setReceived] = useState(inbox);
  const others = people.filter((u) => u.id !== me.id);
  const [to, setTo] = useState<string>(others[0]?.id ?? "");
  const [message, setMessage] = useState("");
  const [pending, startTransition] = useTransition();
  const reduced = useReducedMotion();
  const now = useNow(true, 5000);
  const recipient = others.find((u) => u.id === to) ?? others[0] ?? null;

  // Who is signed in, kept current from the public activity feed.
  useEvent<{ user: Person; at: number }>("activity", "*", (data, envelope) => {
    if (envelope.event === "signin") {
      setPeople((list) =>
        list.some((u) => u.id === data.user.id) ? list : [{ ...data.user, since: data.at }, ...list].slice(0, limit),
      );
    } else if (envelope.event === "signout") {
      setPeople((list) => list.filter((u) => u.id !== data.user.id));
    }
  });
  // The inbox on this page (toasts are shown by the layout, on every page).
  useEvent<DemoNotification>(`user-${me.id}`, "notification", (n) =>
    setReceived((list) => (list.some((x) => x.id === n.id) ? list : [n, ...list].slice(0, 30))),
  );

  const send = (event: React.FormEvent) => {
    event.preventDefault();
    if (!recipient) return;
    const text = message.trim();
    if (!text) return;
    startTransition(async () => {
      const result = await sendNotification(recipient.id, text);
      if (result.ok) {
        setMessage("");
        toast.success(`Sent to ${recipient.name}`, { duration: 2500 });
      } else toast.error("Not sent", { description: result.error });
    });
  };

  return (
    <div>
      <PageHeader
        title="Notifications"
        description="Send a message to anyone signed in. It is published on their private user channel and pops up as a toast in every tab they have open — on whatever page they are."
      />
      <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_minmax(0,1fr)]">
        <Card>
          <CardHeader
            icon={<Send />}
            title="Send a notification"
            description="Only the recipient can subscribe to their channel."
          />
          {others.length === 0 ? (
            <div className="p-5">
              <EmptyState icon={<Users />} title="You're the only one here">
                Open a private window (or another browser), sign in with a different name, and they will show up here.
              </EmptyState>
            </div>
          ) : (
            <form onSubmit={send} className="space-y-5 p-5">
              <fieldset>
                <legend className="mb-2 text-sm font-medium">Recipient</legend>
                {/* Native radios: one tab stop for the group, arrow keys move the choice. */}
                <div className="grid max-h-64 gap-2 overflow-y-auto p-1 sm:grid-cols-2">
                  {others.map((u) => (
                    <label
                      key={u.id}
                      data-testid="recipient"
                      data-user-name={u.name}
                      className={cn(
                        "relative flex cursor-pointer items-center gap-3 rounded-lg border px-3 py-2.5 text-left transition-colors",
                        "has-[:focus-visible]:ring-2 has-[:focus-visible]:ring-ring",
                        recipient?.id === u.id
                          ? "border-accent bg-accent/[0.06] ring-1 ring-accent"
                          : "border-border hover:bg-muted/60",
                      )}
                    >
                      <input
                        type="radio"
                        name="recipient"
                        value={u.id}
                        checked={recipient?.id === u.id}
                        onChange={() => setTo(u.id)}
                        className="sr-only"
                      />
                      <Avatar name={u.name} className="ring-0" />
                      <span className="min-w-0">
                        <span className="block truncate text-sm font-medium">{u.name}</span>
                        <span className="block text-xs text-muted-foreground" suppressHydrationWarning>
                          signed in {timeAgo(u.since, now)}
                        </span>
                      </span>
                    </label>
                  ))}
                </div>
              </fieldset>
              <div className="space-y-1.5">
                <label htmlFor="message" className="text-sm font-medium">
                  Message
                </label>
                <textarea
                  id="message"
                  value={message}
                  onChange={(e) => setMessage(e.target.value)}
                  maxLength={280}
                  rows={3}
                  placeholder={recipient ? `Say hi to ${recipient.name}…` : ""}
                  className="w-full resize-none rounded-lg border border-border bg-background px-3 py-2 text-sm shadow-xs outline-none placeholder:text-muted-foreground/70 focus:border-accent focus:ring-3 focus:ring-accent/20"
                />
                <div className="text-right text-xs text-muted-foreground tabular-nums">{message.length}/280</div>
              </div>
              <div className="flex justify-end">
                <Button type="submit" disabled={pending || !message.trim()} data-testid="send-notification">
                  {pending ? <LoaderCircle className="animate-spin" /> : <Send />}
                  Send to {recipient?.name ?? "…"}
                </Button>
              </div>
            </form>
          )}
        </Card>

        <Card>
          <CardHeader
            icon={<Inbox />}
            title="Inbox"
            description={`Messages sent to you, ${me.name}.`}
            actions={
              received.length > 0 ? (
                <span className="rounded-full bg-muted px-2 py-0.5 text-xs font-medium text-muted-foreground tabular-nums">
                  {received.length}
                </span>
              ) : null
            }
          />
          <div className="p-5">
            {received.length === 0 ? (
              <EmptyState icon={<Inbox />} title="Nothing yet">
                When someone sends you a message it appears here, and as a toast wherever you are.
              </EmptyState>
            ) : (
              <ul className="space-y-2" data-testid="inbox">
                <AnimatePresence initial={false}>
                  {received.map((n) => (
                    <motion.li
                      key={n.id}
                      layout={!reduced}
                      initial={reduced ? false : { opacity: 0, y: -8 }}
                      animate={{ opacity: 1, y: 0 }}
                      className="flex gap-3 rounded-lg border border-border bg-background/60 px-3 py-2.5"
                    >
                      <Avatar name={n.from.name} className="ring-0" />
                      <div className="min-w-0 flex-1">
                        <div className="flex items-baseline justify-between gap-2">
                          <span className="truncate text-sm font-medium">{n.from.name}</span>
                          <span className="shrink-0 text-xs text-muted-foreground" suppressHydrationWarning>
                            {timeAgo(n.at, now)}
                          </span>
                        </div>
                        <p className="text-sm break-words text-foreground/85">{n.message}</p>
                      </div>
                    </motion.li>
                  ))}
                </AnimatePresence>
              </ul>
            )}
          </div>
        </Card>
      </div>
    </div>
  );
}
