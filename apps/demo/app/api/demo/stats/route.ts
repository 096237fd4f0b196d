/**
 * `GET /api/demo/stats[?channel=name]`: the server's counters as JSON (for the e2e tests and
 * curious people). Per-channel subscriber counts are given for the public channels only: a count
 * for `user-{id}` or `task-{id}` would tell anyone whether that user is online or watching a task.
 */
import { ACTIVITY_CHANNEL, DASHBOARD_CHANNEL, herald } from "@/lib/herald";
import { userCount } from "@/lib/users";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

/** The channels anyone may subscribe to (see lib/herald.ts and actions.ts). */
const PUBLIC_CHANNELS = new Set([DASHBOARD_CHANNEL, ACTIVITY_CHANNEL, "firehose"]);

export function GET(request: Request): Response {
  const stats = herald.stats();
  const channels = new URL(request.url).searchParams
    .getAll("channel")
    .filter((c) => PUBLIC_CHANNELS.has(c))
    .slice(0, PUBLIC_CHANNELS.size);
  const body = {
    subscribers: stats.subscribers,
    channels: stats.channels,
    delivered: stats.delivered,
    tasksRunning: herald.tasks.running,
    users: userCount(),
    subscriberCount: Object.fromEntries(channels.map((c) => [c, herald.subscriberCount(c)])),
  };
  return Response.json(body, { headers: { "Cache-Control": "no-store" } });
}
