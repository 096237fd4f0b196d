/**
 * The control endpoint (stats, gc, start, stop) inside the Next server; also the publish trigger:
 * it publishes through the same globalThis instance the SSE routes use. Which pattern it drives is
 * chosen per process by BENCH_TARGET (herald | naive).
 */
import { createControl } from "../../../../../lib/control.mjs";
import { getHerald } from "../../../../lib/herald.js";
import { naiveBroadcast, naiveState } from "../../../../lib/naive.js";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const KEY = Symbol.for("herald.bench.control");

function control() {
  if (!globalThis[KEY]) {
    const target =
      process.env.BENCH_TARGET === "naive"
        ? {
            publish: (payload) => naiveBroadcast("bench", "tick", payload),
            subscribers: () => naiveState().clients.size,
          }
        : {
            publish: (payload) => getHerald().publish("bench", "tick", payload),
            subscribers: () => getHerald().subscriberCount("bench"),
          };
    globalThis[KEY] = createControl(target);
  }
  return globalThis[KEY];
}

async function handle(request, { params }) {
  const { op } = await params;
  const { status, body } = await control()(op, new URL(request.url).searchParams);
  return Response.json(body, { status, headers: { "Cache-Control": "no-store" } });
}

export { handle as GET, handle as POST };
