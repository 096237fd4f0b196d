/**
 * The naive Next.js SSE pattern, as commonly written: a Set of stream controllers, and a broadcast
 * that JSON-stringifies and TextEncoder-encodes every event once per client. The Set lives on
 * globalThis because each route is bundled separately (a plain module-level Set would not be
 * shared between the SSE route and the publish route).
 */
const KEY = Symbol.for("herald.bench.naive");
const encoder = new TextEncoder();

/** @returns {{ clients: Set<ReadableStreamDefaultController>, seq: number }} */
export function naiveState() {
  globalThis[KEY] ??= { clients: new Set(), seq: 0 };
  return globalThis[KEY];
}

/** Sends one event to every client, serializing and encoding it per client. */
export function naiveBroadcast(channel, event, data) {
  const state = naiveState();
  const id = String(++state.seq);
  const ts = Date.now();
  for (const controller of state.clients) {
    try {
      const text = `id: ${id}\ndata: ${JSON.stringify({ channel, event, id, ts, data })}\n\n`;
      controller.enqueue(encoder.encode(text));
    } catch {
      state.clients.delete(controller);
    }
  }
  return id;
}
