"use client";
/**
 * One chat room, on the chat's client (ChatProvider: the tab's connection, or its own WebSocket):
 * its messages (`useHistory` on the room's message channel: the last 50 from Herald's log, then
 * the live ones, merged by position with nothing missing or twice; "Earlier messages" pages back),
 * who is online (`usePresence`), typing indicators (`client-typing` client events, sent at most
 * every 2 s while typing, shown for 4 s) and the composer (a Server Action that validates and
 * publishes). The hooks are typed by the chat's channel map (`chatChannels`, lib/chat.ts).
 *
 * On WebSocket the live events come over the socket and the history over HTTP (`GET
 * /api/realtime/history`, with a token from the app's token route): `useHistory` subscribes
 * first, reads once the socket serves the channel, and merges both by event id.
 */
import { AnimatePresence, motion, useReducedMotion } from "motion/react";
import { Hash, LoaderCircle, MessagesSquare, Send, Users } from "lucide-react";
import Link from "next/link";
import { createHeraldHooks, useConnectionStatus, usePresence } from "herald/react";
import { useChatTransport } from "./chat-provider";
import { useCallback, useEffect, useMemo, useRef, useState, useTransition } from "react";
import { toast } from "sonner";
import { postMessage } from "@/app/(app)/chat/actions";
import { ConnectionIndicator } from "@/components/realtime/connection-indicator";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Card, PageHeader } from "@/components/ui/card";
import {
  HISTORY_SIZE,
  MAX_MESSAGE_LENGTH,
  MESSAGE_EVENT,
  messageChannel,
  roomChannel,
  TYPING_EVENT,
  type ChatMessage,
  type chatChannels,
  type RoomId,
} from "@/lib/chat";
import { cn } from "@/lib/utils";

type Person = { id: string; name: string };
type RoomInfo = { id: RoomId; title: string; description: string };

/** How long a "typing" lasts without another one. */
const TYPING_MS = 4000;
/** At most one typing event per this many ms. */
const TYPING_THROTTLE_MS = 2000;

/** Herald's hooks, typed by the chat's channels: event names and payloads are checked here. */
const { useClientEvent, useEvent, useHistory } = createHeraldHooks<typeof chatChannels>();

const clock = (at: number) => new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

/** "Ann is typing…", "Ann and Bob are typing…", "3 people are typing…". */
function typingLine(names: string[]): string {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

export function ChatRoom({ me, room, rooms }: { me: Person; room: RoomId; rooms: RoomInfo[] }) {
  const channel = roomChannel(room);
  const info = rooms.find((r) => r.id === room)!;
  // The room's last messages from Herald's log, then the live ones (each once, in log order).
  const history = useHistory(messageChannel(room), { limit: HISTORY_SIZE });
  // Messages this tab sent, shown at once, until they come back on the channel.
  const [sent, setSent] = useState<ChatMessage[]>([]);
  const messages = useMemo(() => {
    const list = history.events.flatMap((e) => (e.event === MESSAGE_EVENT ? [{ ...e.data, id: e.id }] : []));
    const shown = new Set(list.map((m) => m.id));
    const pending = sent.filter((m) => !shown.has(m.id));
    return pending.length === 0 ? list : [...list, ...pending];
  }, [history.events, sent]);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [draft, setDraft] = useState("");
  const [pending, startTransition] = useTransition();
  const [typing, setTyping] = useState<Record<string, { until: number }>>({});
  const { state } = useConnectionStatus();
  const { members, me: self, count } = usePresence(channel);
  const via = useChatTransport();
  const reduced = useReducedMotion();
  const listRef = useRef<HTMLDivElement>(null);
  const lastTypingSent = useRef(0);

  // A message ends its sender's "typing".
  useEvent(messageChannel(room), MESSAGE_EVENT, (data) => {
    setTyping((t) => {
      if (!(data.user.id in t)) return t;
      const { [data.user.id]: _, ...rest } = t;
      return rest;
    });
  });

  // Others typing (client events never come back to their sender; a replayed old one is ignored).
  const sendTyping = useClientEvent(channel, TYPING_EVENT, (data, envelope) => {
    const from = envelope.userId;
    if (!from || from === me.id || typeof data?.at !== "number") return;
    if (Date.now() - data.at > TYPING_MS) return;
    setTyping((t) => {
      if (!data.typing) {
        if (!(from in t)) return t;
        const { [from]: _, ...rest } = t;
        return rest;
      }
      return { ...t, [from]: { until: Date.now() + TYPING_MS } };
    });
  });

  // Typing indicators expire.
  const typingIds = Object.keys(typing);
  useEffect(() => {
    if (typingIds.length === 0) return;
    const timer = setInterval(() => {
      const now = Date.now();
      setTyping((t) => {
        const kept = Object.entries(t).filter(([, v]) => v.until > now);
        return kept.length === Object.keys(t).length ? t : Object.fromEntries(kept);
      });
    }, 500);
    return () => clearInterval(timer);
  }, [typingIds.length]);

  const notify = useCallback(
    (isTyping: boolean) => {
      try {
        sendTyping({ typing: isTyping, at: Date.now() });
      } catch {
        // not on WebSocket (yet): no typing indicator, nothing else is lost
      }
    },
    [sendTyping, me.name],
  );

  const onDraft = (value: string) => {
    setDraft(value);
    const now = Date.now();
    if (value.trim() && now - lastTypingSent.current > TYPING_THROTTLE_MS) {
      lastTypingSent.current = now;
      notify(true);
    }
  };

  // Keep the newest message in view (not when earlier ones are put in front).
  const newest = messages.at(-1)?.id;
  useEffect(() => {
    const list = listRef.current;
    if (list) list.scrollTop = list.scrollHeight;
  }, [newest]);

  const loadOlder = () => {
    setLoadingOlder(true);
    history
      .loadOlder()
      .catch(() => toast.error("Could not load earlier messages"))
      .finally(() => setLoadingOlder(false));
  };

  const send = (event?: { preventDefault(): void }) => {
    event?.preventDefault();
    const text = draft.trim();
    if (!text || pending) return;
    startTransition(async () => {
      const result = await postMessage(room, text);
      if (result.ok) {
        setDraft("");
        setSent((list) => [...list, result.message]);
        if (lastTypingSent.current) notify(false);
        lastTypingSent.current = 0;
      } else toast.error("Not sent", { description: result.error });
    });
  };

  const online = useMemo(
    () =>
      [...members]
        .map((m) => ({ id: m.id, name: (m.info as { name?: string } | null)?.name ?? m.id }))
        .sort((a, b) => (a.id === self?.id ? -1 : b.id === self?.id ? 1 : a.name.localeCompare(b.name))),
    [members, self?.id],
  );
  // Who is typing, by the names the server vouched for (presence members), never a name the
  // typing event carries: the sender's user id is set by the server, its data by the sender.
  const typingNames = useMemo(
    () =>
      Object.keys(typing).flatMap((id) => {
        const member = online.find((m) => m.id === id);
        return member ? [member.name] : [];
      }),
    [typing, online],
  );

  return (
    <div>
      <PageHeader
        title="Chat"
        description={
          via === "ws"
            ? "Rooms on WebSocket: Herald's Pusher-compatible server. Messages go through a Server Action and herald.publish, and are kept in Herald's log, which is the room's history; who is online and who is typing come from presence and client events."
            : "Rooms on the tab's one connection, like every page (?chat=ws moves them to a WebSocket). Messages go through a Server Action and herald.publish, and are kept in Herald's log, which is the room's history; who is online and who is typing come from presence and client events."
        }
        actions={
          <div data-testid="chat-connection" className="flex items-center gap-2 text-xs text-muted-foreground">
            <span className="sr-only sm:not-sr-only">This page:</span>
            <ConnectionIndicator />
          </div>
        }
      />
      <div className="grid grid-cols-[minmax(0,1fr)] gap-6 lg:grid-cols-[14rem_minmax(0,1fr)]">
        <aside className="min-w-0 space-y-6">
          <nav aria-label="Rooms">
            <h2 className="mb-2 hidden text-xs font-semibold tracking-wide text-muted-foreground uppercase lg:block">
              Rooms
            </h2>
            <ul className="flex gap-2 overflow-x-auto pb-1 lg:flex-col lg:gap-1 lg:overflow-visible lg:pb-0">
              {rooms.map((r) => {
                const active = r.id === room;
                return (
                  <li key={r.id} className="shrink-0">
                    <Link
                      href={`/chat/${r.id}`}
                      aria-current={active ? "page" : undefined}
                      data-testid="room-link"
                      className={cn(
                        "flex h-9 items-center gap-2 rounded-lg px-3 text-sm font-medium transition-colors",
                        "focus-visible:ring-2 focus-visible:ring-ring focus-visible:outline-none",
                        active
                          ? "bg-muted text-foreground"
                          : "border border-border text-muted-foreground hover:bg-muted/60 hover:text-foreground lg:border-transparent",
                      )}
                    >
                      <Hash aria-hidden className="size-4" />
                      {r.id}
                    </Link>
                  </li>
                );
              })}
            </ul>
          </nav>
          <section aria-labelledby="online-heading" className="rounded-xl border border-border bg-card p-4 shadow-xs">
            <h2 id="online-heading" className="mb-3 flex items-center gap-2 text-sm font-semibold">
              <Users aria-hidden className="size-4 text-muted-foreground" />
              Online
              <span
                className="ml-auto rounded-full bg-muted px-2 py-0.5 text-xs font-medium text-muted-foreground tabular-nums"
                data-testid="online-count"
              >
                {count}
              </span>
            </h2>
            {online.length === 0 ? (
              <p className="text-sm text-muted-foreground">{state === "connected" ? "No one" : "Joining…"}</p>
            ) : (
              <ul className="flex flex-wrap gap-2 lg:flex-col" data-testid="members">
                {online.map((m) => (
                  <li
                    key={m.id}
                    data-testid="member"
                    data-user-name={m.name}
                    className="flex max-w-full min-w-0 items-center gap-2 rounded-full border border-border py-1 pr-3 pl-1 text-sm lg:rounded-lg lg:border-0 lg:p-0"
                  >
                    <span className="relative shrink-0">
                      <Avatar name={m.name} className="size-6 text-[10px] ring-0" />
                      <span
                        aria-hidden
                        className="absolute -right-0.5 -bottom-0.5 size-2.5 rounded-full bg-emerald-500 ring-2 ring-card"
                      />
                    </span>
                    <span className="min-w-0 truncate" title={m.name}>
                      {m.name}
                    </span>
                    {m.id === self?.id ? <span className="shrink-0 text-xs text-muted-foreground">(you)</span> : null}
                  </li>
                ))}
              </ul>
            )}
          </section>
        </aside>

        <Card className="flex min-h-[28rem] flex-col overflow-hidden lg:h-[calc(100dvh-16rem)]">
          <div className="flex items-center gap-3 border-b border-border px-4 py-3 sm:px-5">
            <div className="flex size-8 shrink-0 items-center justify-center rounded-lg border border-border bg-muted/60 text-muted-foreground">
              <Hash aria-hidden className="size-4" />
            </div>
            <div className="min-w-0">
              <h2 className="truncate text-sm font-semibold tracking-tight" data-testid="room-title">
                {info.id}
              </h2>
              <p className="truncate text-xs text-muted-foreground">{info.description}</p>
            </div>
          </div>

          {history.status === "error" ? (
            <p role="alert" data-testid="history-error" className="border-b border-border px-4 py-2 text-xs sm:px-5">
              Could not load this room&apos;s messages ({history.error?.code ?? "error"}); new ones still arrive.
            </p>
          ) : null}
          {messages.length === 0 ? (
            <div className="flex flex-1 flex-col items-center justify-center px-6 py-14 text-center">
              <div className="mb-4 flex size-11 items-center justify-center rounded-full bg-muted text-muted-foreground">
                {history.status === "ready" || history.status === "error" ? (
                  <MessagesSquare aria-hidden className="size-5" />
                ) : (
                  <LoaderCircle aria-hidden className="size-5 animate-spin" />
                )}
              </div>
              {history.status === "ready" || history.status === "error" ? (
                <>
                  <p className="text-sm font-medium" data-testid="no-messages">
                    No messages yet
                  </p>
                  <p className="mt-1 max-w-sm text-sm text-muted-foreground">
                    Say hello. Everyone in #{info.id} sees it at once, and whoever joins later gets the last{" "}
                    {HISTORY_SIZE} messages.
                  </p>
                </>
              ) : (
                <p className="text-sm font-medium">Loading messages…</p>
              )}
            </div>
          ) : null}
          <div
            ref={listRef}
            role="log"
            aria-label={`Messages in #${info.id}`}
            aria-live="polite"
            tabIndex={0}
            data-testid="messages"
            data-history={history.status}
            className={cn(
              "overflow-y-auto px-4 py-4 focus-visible:ring-2 focus-visible:ring-ring focus-visible:outline-none focus-visible:ring-inset sm:px-5",
              messages.length === 0 ? "hidden" : "flex-1",
            )}
          >
            {history.more ? (
              <div className="mb-3 flex justify-center">
                <Button
                  type="button"
                  variant="secondary"
                  size="sm"
                  onClick={loadOlder}
                  disabled={loadingOlder}
                  data-testid="earlier-messages"
                >
                  {loadingOlder ? <LoaderCircle aria-hidden className="animate-spin" /> : null}
                  Earlier messages
                </Button>
              </div>
            ) : null}
            <ol className="space-y-3">
              <AnimatePresence initial={false}>
                {messages.map((m) => {
                  const mine = m.user.id === me.id;
                  return (
                    <motion.li
                      key={m.id}
                      data-testid="chat-message"
                      data-mine={mine ? "true" : undefined}
                      initial={reduced ? false : { opacity: 0, y: 6 }}
                      animate={{ opacity: 1, y: 0 }}
                      className={cn("flex max-w-full gap-2.5", mine && "flex-row-reverse")}
                    >
                      <Avatar name={m.user.name} className="mt-0.5 size-7 text-[10px] ring-0" />
                      <div className={cn("flex min-w-0 max-w-[80%] flex-col", mine ? "items-end" : "items-start")}>
                        <div className="mb-0.5 flex max-w-full items-baseline gap-2 text-xs text-muted-foreground">
                          <span className="min-w-0 font-medium wrap-anywhere text-foreground">
                            {mine ? "You" : m.user.name}
                          </span>
                          <time className="shrink-0" dateTime={new Date(m.at).toISOString()} suppressHydrationWarning>
                            {clock(m.at)}
                          </time>
                        </div>
                        <p
                          data-testid="bubble"
                          className={cn(
                            "max-w-full rounded-2xl px-3 py-2 text-sm wrap-anywhere whitespace-pre-wrap",
                            mine
                              ? "rounded-tr-sm bg-foreground text-background"
                              : "rounded-tl-sm bg-muted text-foreground",
                          )}
                        >
                          {m.text}
                        </p>
                      </div>
                    </motion.li>
                  );
                })}
              </AnimatePresence>
            </ol>
          </div>

          <div className="border-t border-border px-4 pt-2 pb-4 sm:px-5">
            <p aria-live="polite" data-testid="typing" className="h-5 truncate text-xs text-muted-foreground italic">
              {typingLine(typingNames)}
            </p>
            <form onSubmit={send} className="mt-1 flex items-end gap-2">
              <label htmlFor="chat-message" className="sr-only">
                Message #{info.id}
              </label>
              <textarea
                id="chat-message"
                data-testid="chat-input"
                value={draft}
                onChange={(e) => onDraft(e.target.value)}
                onKeyDown={(e) => {
                  if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) send(e);
                }}
                maxLength={MAX_MESSAGE_LENGTH}
                rows={1}
                placeholder={`Message #${info.id}`}
                className="max-h-32 min-h-9 flex-1 resize-none rounded-lg border border-border bg-background px-3 py-2 text-sm shadow-xs outline-none placeholder:text-muted-foreground focus:border-accent focus:ring-3 focus:ring-accent/20"
              />
              <Button
                type="submit"
                disabled={pending || !draft.trim()}
                data-testid="chat-send"
                aria-label="Send message"
              >
                {pending ? <LoaderCircle aria-hidden className="animate-spin" /> : <Send aria-hidden />}
                <span className="hidden sm:inline">Send</span>
              </Button>
            </form>
          </div>
        </Card>
      </div>
    </div>
  );
}
