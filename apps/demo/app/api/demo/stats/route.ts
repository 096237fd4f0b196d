/** `GET /api/demo/stats[?channel=name]`: the server's counters as JSON (for the e2e tests and curious people). */
import { getDemo } from "@/lib/herald";
import { userCount } from "@/lib/users";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export function GET(request: Request): Response {
  const { herald, tasks } = getDemo();
  const stats = herald.stats();
  const channels = new URL(request.url).searchParams.getAll("channel");
  const body = {
    subscribers: stats.subscribers,
    channels: stats.channels,
    delivered: stats.delivered,
    tasksRunning: tasks.running,
    users: userCount(),
    subscriberCount: Object.fromEntries(channels.map((c) => [c, herald.subscriberCount(c)])),
  };
  return Response.json(body, { headers: { "Cache-Control": "no-store" } });
}
