/**
 * The operations page's numbers: once a second, read from `herald.stats()` (the same counts the
 * Prometheus metrics at `/api/realtime/metrics` read) and pushed over Herald itself on the public
 * `operations` channel, only while someone is connected. The browser measures publish-to-receive
 * latency with pings the server publishes on the same channel.
 */
import { herald } from "./herald";
import { OPERATIONS_CHANNEL, TRANSPORTS, type OperationsSample, type TransportName } from "./operations-shared";

export { OPERATIONS_CHANNEL, TRANSPORTS, type OperationsSample, type TransportName } from "./operations-shared";

const HISTORY = 60;
const shared = globalThis as { __heraldDemoOperations?: OperationsSample[] };

function read() {
  const stats = herald.stats();
  const pick = (f: (t: { connections: number; delivered: number; dropped: number }) => number) =>
    Object.fromEntries(
      TRANSPORTS.map((name) => [name, f(stats.transports[name] ?? { connections: 0, delivered: 0, dropped: 0 })]),
    ) as Record<TransportName, number>;
  let rateLimited = 0;
  for (const codes of Object.values(stats.counters.refused)) {
    rateLimited += (codes.rate_limited ?? 0) + (codes.too_many_connections ?? 0);
  }
  return {
    connections: pick((t) => t.connections),
    delivered: pick((t) => t.delivered),
    drops: Object.values(pick((t) => t.dropped)).reduce((a, b) => a + b, 0),
    published: stats.counters.publishes.ok ?? 0,
    gaps: stats.gaps,
    rateLimited,
  };
}

/** The last 60 samples, oldest first; the sampler starts on first use, once per process. */
export function operationsHistory(): OperationsSample[] {
  if (shared.__heraldDemoOperations) return shared.__heraldDemoOperations;
  const history: OperationsSample[] = (shared.__heraldDemoOperations = []);
  let last = read();
  const timer = setInterval(() => {
    const now = read();
    const sample: OperationsSample = {
      t: Date.now(),
      connections: now.connections,
      deliveriesPerSecond: Object.fromEntries(
        TRANSPORTS.map((name) => [name, Math.max(0, now.delivered[name] - last.delivered[name])]),
      ) as Record<TransportName, number>,
      publishesPerSecond: Math.max(0, now.published - last.published),
      drops: now.drops,
      gaps: now.gaps,
      rateLimited: now.rateLimited,
    };
    last = now;
    history.push(sample);
    if (history.length > HISTORY) history.splice(0, history.length - HISTORY);
    // Only while someone could be watching (a poller between polls counts as gone: it gets the next one).
    if (TRANSPORTS.some((name) => now.connections[name] > 0)) {
      void herald.publish(OPERATIONS_CHANNEL, "tick", sample).catch(() => undefined);
    }
  }, 1000);
  timer.unref?.();
  return history;
}
