/** The SSE handler on the Fetch API (`Request → Response`): usable as a Next.js route handler. */
import { openingBytes } from "./frames.js";
import { admit } from "./admit.js";
import type { HeraldCore } from "./core.js";
import { errorResponse, SSE_HEADERS } from "./responses.js";
import { streamSink } from "./sink.js";

/**
 * Serves one SSE subscription. Rejections are JSON errors with the code's status; an accepted
 * request gets a stream whose first bytes (`retry:` and a comment) are queued at once. Cleanup runs
 * on `request.signal` abort and on the stream's `cancel()`, whichever comes first.
 */
export async function handleSseFetch(core: HeraldCore, request: Request, ip?: string): Promise<Response> {
  let admitted;
  try {
    admitted = await admit(core.options, new URL(request.url), (name) => request.headers.get(name), ip);
  } catch (error) {
    return errorResponse(error);
  }
  let cleanup = (): void => {};
  const { stream, sink } = streamSink(() => cleanup());
  sink.write(openingBytes(core.retryMs));
  const sub = core.createSubscriber(admitted, sink);
  cleanup = () => core.hub.detach(sub, "client_closed");
  request.signal.addEventListener("abort", cleanup, { once: true });
  sub.onClose = () => request.signal.removeEventListener("abort", cleanup);
  core.start(sub, admitted);
  return new Response(stream, { status: 200, headers: SSE_HEADERS });
}
