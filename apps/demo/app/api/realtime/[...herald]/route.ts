/**
 * Herald's routes for serverless deployments (`next start`, Vercel): SSE, long-poll, tokens, task
 * snapshots and cancel. Under the custom server (server.ts) the same paths are served on the Node
 * fast path before a request ever reaches Next, so this file only runs without it.
 */
import { herald } from "@/lib/herald";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export const { GET, POST } = herald.routes;
