/**
 * The demo's Herald, through the front door: `createHerald({ getUserId })` owns tokens, tasks, the
 * channel rules and every route. `singleton` shares one instance per process between the custom
 * server (server.ts, loaded by tsx) and the Next app (its own module graph), and across Next's dev
 * reloads. `getUserId` reads the session cookie from the request, which works on both paths (the
 * Node fast path and the route handlers).
 *
 * HERALD_HEARTBEAT_MS sets the heartbeat interval (default 4 s; the browser tests shorten it so a
 * silent connection is noticed within seconds). HERALD_REDIS_URL puts every part (broker, tokens,
 * tasks, limits) on Redis, so several demo processes serve one audience; unset, all is in memory.
 * Either way the log keeps the chat rooms longer than the defaults (CHAT_RETENTION, lib/chat.ts):
 * the chat's history is that log. In memory it ends with the process; Redis keeps it.
 */
import { createHerald, MemoryBroker } from "herald";
import { heraldRedis } from "herald/redis";
import { CHAT_RETENTION, chatChannels, roomOfChannel, TYPING_EVENT } from "./chat";
import { REPORT_LIMIT } from "./report-job";
import { sessionFromCookieHeader } from "./session";
import { getUser, userCount } from "./users";

const heartbeatMs = Number(process.env.HERALD_HEARTBEAT_MS) || undefined;
const redis = heraldRedis(process.env.HERALD_REDIS_URL, { broker: { retention: CHAT_RETENTION } });

export const herald = createHerald({
  singleton: "herald-demo",
  getUserId: (request) => sessionFromCookieHeader(request.header("cookie"))?.id ?? null,
  // Streams need a token (signed-in users only), as before: `…/sse` without one answers 401.
  allowAnonymous: false,
  // The chat rooms (`presence-chat-{room}` and their messages, `private-chat-{room}`) for signed-in
  // users, on the tab's connection (SSE or long-poll), for their history (`…/history`) and for the
  // WebSocket client's catch-up, under the same rule as the chat's auth route.
  authorizePrivate: (principal, channel) => principal !== null && roomOfChannel(channel) !== null,
  // The chat on the tab's connection (the default): members shown by name, as the WebSocket auth
  // route signs them, and typing indicators (client events) from signed-in users in a room.
  presence: { userInfo: (id) => ({ name: getUser(id)?.name ?? "Someone" }) },
  // Typing only on a room's presence channel; its messages come from the Server Action alone.
  authorizePublish: (_userId, channel, event) =>
    event === TYPING_EVENT && channel.startsWith("presence-") && roomOfChannel(channel) !== null,
  // What each chat channel may carry, checked on every publish (lib/chat.ts).
  channels: chatChannels,
  tasks: { finishedTtlMs: 30 * 60_000, maxRunningPerUser: REPORT_LIMIT },
  redis,
  // Without Redis, the memory broker, with the chat's retention (with Redis, the Redis broker has it).
  ...(redis ? {} : { broker: new MemoryBroker({ retention: CHAT_RETENTION }) }),
  // Prometheus metrics at /api/realtime/metrics (docs/operations.md), behind a bearer token when
  // HERALD_METRICS_TOKEN is set.
  metrics: { bearerToken: process.env.HERALD_METRICS_TOKEN || undefined },
  ...(heartbeatMs && heartbeatMs >= 500 ? { heartbeatMs } : {}),
});

/** One second of the dashboard's numbers. */
export interface DashboardSample {
  /** ms since the epoch. */
  t: number;
  /** Open realtime connections on this process. */
  connections: number;
  /** Events published in that second (the dashboard's own ticks excluded). */
  eventsPerSecond: number;
  /** Events written to subscribers in that second (one per event per subscriber). */
  deliveriesPerSecond: number;
  /** Tasks whose job is running. */
  tasksRunning: number;
  /** Signed-in users. */
  users: number;
}

/** Public channels: the dashboard's ticks and the activity feed. */
export const DASHBOARD_CHANNEL = "dashboard";
export const ACTIVITY_CHANNEL = "activity";
const HISTORY = 60;

const shared = globalThis as { __heraldDemoHistory?: DashboardSample[]; __heraldDemoActivity?: ActivityItem[] };

/**
 * The last 60 samples, oldest first. The sampler starts on first use, once per process: it reads
 * counters once a second and publishes them on `dashboard` only while someone subscribes to it.
 */
export function dashboardHistory(): DashboardSample[] {
  if (shared.__heraldDemoHistory) return shared.__heraldDemoHistory;
  const history: DashboardSample[] = (shared.__heraldDemoHistory = []);
  let lastHead: number | null = null;
  let lastDelivered = herald.stats().delivered;
  let ownTicks = 0;
  const timer = setInterval(async () => {
    const head = await herald.broker.head();
    const stats = herald.stats();
    const sample: DashboardSample = {
      t: Date.now(),
      connections: stats.subscribers,
      eventsPerSecond: lastHead === null ? 0 : Math.max(0, head - lastHead - ownTicks),
      deliveriesPerSecond: Math.max(0, stats.delivered - lastDelivered),
      tasksRunning: herald.tasks.running,
      users: userCount(),
    };
    lastHead = head;
    lastDelivered = stats.delivered;
    ownTicks = 0;
    history.push(sample);
    if (history.length > HISTORY) history.splice(0, history.length - HISTORY);
    if (herald.subscriberCount(DASHBOARD_CHANNEL) > 0) {
      ownTicks++;
      await herald.publish(DASHBOARD_CHANNEL, "tick", sample).catch(() => undefined);
    }
  }, 1000);
  timer.unref?.();
  return history;
}

/** One line of the activity feed. */
export interface ActivityItem {
  /** The event id it was published with. */
  id: string;
  kind: string;
  data: Record<string, unknown> & { at: number };
}

const recent = (shared.__heraldDemoActivity ??= []);

/** Publishes a line on the public activity feed (and keeps the last 30 for page loads); never throws. */
export function activity(kind: string, data: Record<string, unknown>): void {
  const payload = { ...data, at: Date.now() };
  herald
    .publish(ACTIVITY_CHANNEL, kind, payload)
    .then((id) => {
      recent.unshift({ id, kind, data: payload });
      if (recent.length > 30) recent.length = 30;
    })
    .catch(() => undefined);
}

/** The latest activity, newest first. */
export function recentActivity(): ActivityItem[] {
  return [...recent];
}
