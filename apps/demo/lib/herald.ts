/**
 * The demo's Herald: one instance per process, cached on globalThis so the custom server
 * (server.ts, loaded by tsx) and the Next app (its own module graph) share it, and so Next's dev
 * reloads do not create another.
 */
import {
  createHerald,
  createTasks,
  createTokens,
  defaultAuthorize,
  tokenAuthenticator,
  type Herald,
  type Tasks,
  type Tokens,
} from "herald";
import { userCount } from "./users";

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

/** Everything the demo's server side shares. */
export interface Demo {
  herald: Herald;
  tokens: Tokens;
  tasks: Tasks;
  /** The last 60 samples, oldest first. */
  history: DashboardSample[];
}

/** Public channels: the dashboard's ticks and the activity feed. */
export const DASHBOARD_CHANNEL = "dashboard";
export const ACTIVITY_CHANNEL = "activity";
const HISTORY = 60;

function create(): Demo {
  const tokens = createTokens({ ttlMs: 60_000 });
  // `tasks` needs `herald` and `herald` authorizes task channels with `tasks`: look it up lazily.
  const lookup = { ownerOf: (id: string) => demo.tasks.ownerOf(id) };
  const herald = createHerald({
    authenticate: tokenAuthenticator(tokens),
    authorize: defaultAuthorize({ tasks: lookup }),
  });
  const tasks = createTasks(herald, { finishedTtlMs: 30 * 60_000 });
  const demo: Demo = { herald, tokens, tasks, history: [] };
  startSampler(demo);
  return demo;
}

/**
 * Samples the numbers once a second (cheap: counters only) and publishes them on `dashboard` only
 * while someone subscribes to it.
 */
function startSampler(demo: Demo): void {
  let lastHead: number | null = null;
  let lastDelivered = demo.herald.stats().delivered;
  let ownTicks = 0;
  const timer = setInterval(async () => {
    const head = await demo.herald.broker.head();
    const stats = demo.herald.stats();
    const sample: DashboardSample = {
      t: Date.now(),
      connections: stats.subscribers,
      eventsPerSecond: lastHead === null ? 0 : Math.max(0, head - lastHead - ownTicks),
      deliveriesPerSecond: Math.max(0, stats.delivered - lastDelivered),
      tasksRunning: demo.tasks.running,
      users: userCount(),
    };
    lastHead = head;
    lastDelivered = stats.delivered;
    ownTicks = 0;
    demo.history.push(sample);
    if (demo.history.length > HISTORY) demo.history.splice(0, demo.history.length - HISTORY);
    if (demo.herald.subscriberCount(DASHBOARD_CHANNEL) > 0) {
      ownTicks++;
      await demo.herald.publish(DASHBOARD_CHANNEL, "tick", sample).catch(() => undefined);
    }
  }, 1000);
  timer.unref?.();
}

const cache = globalThis as { __heraldDemo?: Demo };

/** The shared instance (created on first use). */
export function getDemo(): Demo {
  cache.__heraldDemo ??= create();
  return cache.__heraldDemo;
}

/** One line of the activity feed. */
export interface ActivityItem {
  /** The event id it was published with. */
  id: string;
  kind: string;
  data: Record<string, unknown> & { at: number };
}

const recent = ((globalThis as { __heraldDemoActivity?: ActivityItem[] }).__heraldDemoActivity ??= []);

/** Publishes a line on the public activity feed (and keeps the last 30 for page loads); never throws. */
export function activity(kind: string, data: Record<string, unknown>): void {
  const payload = { ...data, at: Date.now() };
  getDemo()
    .herald.publish(ACTIVITY_CHANNEL, kind, payload)
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
