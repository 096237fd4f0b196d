/** naive-next: a ReadableStream per client, registered in a shared Set (see lib/naive.js). */
import { naiveState } from "../../../lib/naive.js";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export function GET(request) {
  const { clients } = naiveState();
  let controller;
  const stream = new ReadableStream({
    start(c) {
      controller = c;
      clients.add(c);
      c.enqueue(new TextEncoder().encode("retry: 1000\n\n"));
    },
    cancel() {
      clients.delete(controller);
    },
  });
  request.signal.addEventListener("abort", () => clients.delete(controller));
  return new Response(stream, {
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache, no-transform",
      Connection: "keep-alive",
    },
  });
}
