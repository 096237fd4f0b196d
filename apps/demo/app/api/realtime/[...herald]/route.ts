/**
 * Herald's routes for serverless deployments (`next start`, Vercel): SSE, tokens, task snapshots
 * and cancel. Under the custom server (server.ts) the same paths are served on the Node fast path
 * before a request ever reaches Next, so this file only runs without it.
 */
import { createRouteHandlers } from "herald/next";
import { getDemo } from "@/lib/herald";
import { sessionFromCookieHeader } from "@/lib/session";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const { herald, tokens, tasks } = getDemo();

export const { GET, POST } = createRouteHandlers({
  herald,
  tokens,
  tasks,
  basePath: "/api/realtime",
  getUserId: (request) => sessionFromCookieHeader(request.headers.get("cookie"))?.id ?? null,
});
