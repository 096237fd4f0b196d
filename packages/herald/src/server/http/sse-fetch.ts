/** The SSE handler on the Fetch API (`Request → Response`): usable as a Next.js route handler. */
import { admit, originHeaders, type IncomingRequest } from "./admit.js";
import type { HeraldCore } from "./edge.js";
import { preflightHeaders } from "./cors.js";
import { errorResponse, SSE_HEADERS } from "./responses.js";
import { streamSink } from "../core/sink.js";
import { clientAddress } from "./limits/client-ip.js";

/**
 * Serves one SSE subscription. Rejections are JSON errors with the code's status; an accepted
 * request gets a stream whose first bytes (`retry:` and a comment) are queued at once. Cleanup runs
 * on `request.signal` abort and on the stream's `cancel()`, whichever comes first.
 */
export async function handleSseFetch(core: HeraldCore, request: Request): Promise<Response> {
  let cors: Record<string, string> = {};
  let admitted;
  try {
    const url = new URL(request.url);
    const incoming: IncomingRequest = {
      url,
      rawUrl: request.url,
      header: (name) => request.headers.get(name),
      ip: fetchClientIp(core, request),
    };
    if (request.method === "OPTIONS") {
      const headers = preflightHeaders(core.options.cors, incoming.header("origin"), incoming.header("host"), url);
      return new Response(null, { status: 204, headers });
    }
    cors = originHeaders(core.options, incoming);
    admitted = await admit(core.options, core.limits, incoming);
  } catch (error) {
    core.refused("sse", error);
    return errorResponse(error, cors);
  }
  let cleanup = (): void => {};
  const { stream, sink } = streamSink(() => cleanup());
  sink.write(core.openingBytes);
  const sub = core.createSubscriber(admitted, sink);
  cleanup = () => core.hub.detach(sub, "client_closed");
  request.signal.addEventListener("abort", cleanup, { once: true });
  sub.closeHandlers.push(() => request.signal.removeEventListener("abort", cleanup));
  core.start(sub, admitted);
  return new Response(stream, { status: 200, headers: { ...SSE_HEADERS, ...cors } });
}

/**
 * The client's address on the Fetch path (no socket): `clientIp` when given, else what a trusted
 * proxy put in `X-Forwarded-For` (`trustProxy`), else unknown (the per-IP limits then do not apply).
 */
export function fetchClientIp(core: HeraldCore, request: Request): string | undefined {
  return (
    core.options.clientIp?.(request) ??
    clientAddress(core.options.trustProxy, undefined, request.headers.get("x-forwarded-for"))
  );
}
