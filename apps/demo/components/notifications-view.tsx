"use client";
import { AnimatePresence, motion, useReducedMotion } from "motion/react";
import { Inbox, LoaderCircle, Search, Send, Users } from "lucide-react";
import { useEvent } from "herald/react";
import { useId, useMemo, useState, useTransition } from "react";
import { toast } from "sonner";
import { sendNotification } from "@/app/actions";
import { useNow } from "@/components/realtime/use-now";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Card, CardHeader, EmptyState, PageHeader } from "@/components/ui/card";
import { MAX_NOTIFICATION_LENGTH, type DemoNotification } from "@/lib/inbox";
import { ONLINE_CHANNEL, ONLINE_EVENT, type OnlineStatus, type Recipient } from "@/lib/online-shared";
import { cn, timeAgo } from "@/lib/utils";

type Person = { id: string; name: string };

/** Online first, then the newest sign-in first. */
function byPresence(a: Recipient, b: Recipient): number {
  return Number(b.online) - Number(a.online) || b.since - a.since;
}

/** Whether `name` matches what was typed in the search box (case and accents ignored). */
function matches(name: string, query: string): boolean {
  const fold = (text: string) => text.normalize("NFKD").replace(/\p{M}/gu, "").toLocaleLowerCase();
  return fold(name).includes(fold(query.trim()));
}

export function NotificationsView({
  me,
  users,
  inbox,
  limit,
}: {
  me: Person;
  /** Everyone signed in, with whether they are online now. */
  users: Recipient[];
  inbox: DemoNotification[];
  /** The server's cap on signed-in users: the live list never grows past it. */
  limit: number;
}) {
  const [people, setPeople] = useState<Recipient[]>(users);
  const [received, setReceived] = useState(inbox);
  const others = useMemo(() => people.filter((u) => u.id !== me.id).sort(byPresence), [people, me.id]);
  const [query, setQuery] = useState("");
  const shown = others.filter((u) => matches(u.name, query));
  const [to, setTo] = useState<string>(others[0]?.id ?? "");
  const [message, setMessage] = useState("");
  /** Why the server refused the last message (shown under the field until it changes). */
  const [error, setError] = useState<string | null>(null);
  const errorId = useId();
  const [pending, startTransition] = useTransition();
  const reduced = useReducedMotion();
  const now = useNow(true, 5000);
  const recipient = others.find((u) => u.id === to) ?? others[0] ?? null;

  // Who is signed in, kept current from the public activity feed (someone who just signed in is online).
  useEvent<{ user: Person; at: number }>("activity", "*", (data, envelope) => {
    if (envelope.event === "signin") {
      setPeople((list) =>
        list.some((u) => u.id === data.user.id)
          ? list
          : [{ ...data.user, since: data.at, online: true }, ...list].slice(0, limit),
      );
    } else if (envelope.event === "signout") {
      setPeople((list) => list.filter((u) => u.id !== data.user.id));
    }
  });
  // Who is online: the server's watcher publishes each change (lib/online.ts).
  useEvent<OnlineStatus>(ONLINE_CHANNEL, ONLINE_EVENT, (status) =>
    setPeople((list) => list.map((u) => (u.id === status.id ? { ...u, online: status.online } : u))),
  );
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
        setError(null);
        toast.success(`Sent to ${recipient.name}`, { duration: 2500 });
      } else setError(result.error);
    });
  };

  return (
    <div>
      <PageHeader
        title="Notifications"
        description="Send a message to anyone signed in. It is published on their private user channel and pops up as a toast in every tab they have open — on whatever page they are."
      />
      <div className="grid grid-cols-[minmax(0,1fr)] gap-6 lg:grid-cols-[minmax(0,1fr)_minmax(0,1fr)]">
        <Card>
          <CardHeader
            icon={<Send />}
            title="Send a notification"
            description="Only the recipient can subscribe to their channel. Online: a page of theirs is open now."
          />
          {others.length === 0 ? (
            <div className="p-5">
              <EmptyState icon={<Users />} title="You're the only one here">
                Open a private window (or another browser), sign in with a different name, and they will show up here.
              </EmptyState>
            </div>
          ) : (
            <form onSubmit={send} className="space-y-5 p-5">
              <fieldset className="min-w-0">
                <legend className="mb-2 text-sm font-medium">Recipient</legend>
                <div className="relative mb-2">
                  <Search
                    aria-hidden
                    className="pointer-events-none absolute top-1/2 left-3 size-4 -translate-y-1/2 text-muted-foreground"
                  />
                  <input
                    type="search"
                    value={query}
                    onChange={(e) => setQuery(e.target.value)}
                    aria-label="Search people"
                    placeholder="Search people"
                    data-testid="recipient-search"
                    className="h-9 w-full rounded-lg border border-border bg-background pr-3 pl-9 text-sm shadow-xs outline-none placeholder:text-muted-foreground focus:border-accent focus:ring-3 focus:ring-accent/20"
                  />
                </div>
                {shown.length === 0 ? (
                  <p className="px-1 py-3 text-sm wrap-anywhere text-muted-foreground" data-testid="recipient-none">
                    No one matches “{query.trim()}”.
                  </p>
                ) : null}
                {/* Native radios: one tab stop for the group, arrow keys move the choice. */}
                <div className="grid max-h-64 grid-cols-[minmax(0,1fr)] gap-2 overflow-y-auto p-1 sm:grid-cols-2">
                  {shown.map((u) => (
                    <label
                      key={u.id}
                      data-testid="recipient"
                      data-user-name={u.name}
                      data-online={u.online ? "true" : "false"}
                      className={cn(
                        "relative flex min-w-0 cursor-pointer items-center gap-3 rounded-lg border px-3 py-2.5 text-left transition-colors",
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
                      <span className="relative shrink-0">
                        <Avatar name={u.name} className={cn("ring-0", !u.online && "opacity-50 grayscale")} />
                        <span
                          aria-hidden
                          className={cn(
                            "absolute -right-0.5 -bottom-0.5 size-3 rounded-full ring-2 ring-card",
                            u.online ? "bg-emerald-500" : "bg-zinc-400 dark:bg-zinc-500",
                          )}
                        />
                      </span>
                      <span className="min-w-0">
                        <span className="block text-sm font-medium wrap-anywhere">{u.name}</span>
                        <span className="block text-xs text-muted-foreground" suppressHydrationWarning>
                          {u.online ? (
                            <span className="font-medium text-emerald-700 dark:text-emerald-400">Online</span>
                          ) : (
                            <>Offline · signed in {timeAgo(u.since, now)}</>
                          )}
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
                  onChange={(e) => {
                    setMessage(e.target.value);
                    setError(null);
                  }}
                  maxLength={MAX_NOTIFICATION_LENGTH}
                  rows={3}
                  aria-invalid={error ? true : undefined}
                  aria-describedby={error ? errorId : undefined}
                  placeholder={recipient ? `Say hi to ${recipient.name}…` : ""}
                  className={cn(
                    "w-full resize-none rounded-lg border bg-background px-3 py-2 text-sm shadow-xs outline-none placeholder:text-muted-foreground/70 focus:ring-3",
                    error
                      ? "border-red-500 focus:border-red-500 focus:ring-red-500/20"
                      : "border-border focus:border-accent focus:ring-accent/20",
                  )}
                />
                <div className="flex items-start justify-between gap-3 text-xs">
                  <p
                    id={errorId}
                    role="alert"
                    data-testid={error ? "notification-error" : undefined}
                    className="min-w-0 text-red-700 dark:text-red-400"
                  >
                    {error ? `Not sent: ${error}` : null}
                  </p>
                  <span className="shrink-0 text-muted-foreground tabular-nums">
                    {message.length}/{MAX_NOTIFICATION_LENGTH}
                  </span>
                </div>
              </div>
              <div className="flex justify-end">
                <Button
                  type="submit"
                  disabled={pending || !message.trim()}
                  data-testid="send-notification"
                  className="max-w-full min-w-0"
                >
                  {pending ? <LoaderCircle className="animate-spin" /> : <Send />}
                  <span className="truncate">Send to {recipient?.name ?? "…"}</span>
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
                          <span className="min-w-0 text-sm font-medium wrap-anywhere">{n.from.name}</span>
                          <span className="shrink-0 text-xs text-muted-foreground" suppressHydrationWarning>
                            {timeAgo(n.at, now)}
                          </span>
                        </div>
                        <p className="text-sm wrap-anywhere whitespace-pre-line text-foreground/85">{n.message}</p>
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
