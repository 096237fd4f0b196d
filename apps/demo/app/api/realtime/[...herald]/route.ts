/**
 * Herald's routes for serverless deployments (`next start`, Vercel): SSE, long-poll, tokens, task
 * snapshots and cancel. Under the custom server (server.ts) the same paths are served on the Node
 * fast path before a request ever reaches Next, so this file only runs without it.
 */
import { firstPollAtOnce, herald } from "@/lib/herald";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export const { POST } = herald.routes;

/** `herald.routes.GET`, with first polls answered at once (see `firstPollAtOnce`). */
export function GET(request: Request): Promise<Response> {
  const url = firstPollAtOnce(request.url);
  return herald.routes.GET(url ? new Request(url, request) : request);
}
