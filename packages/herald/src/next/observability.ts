/** The health, readiness and metrics answers of a Herald instance, for the routes `herald/next` builds. */
import type { Herald } from "../server/herald.js";
import { healthReply, metricsReply, readinessReply } from "../server/observability/health.js";
import type { ObservabilityRoutes } from "../server/http/routes.js";

/** `GET …/health`, `…/ready` and `…/metrics` of `herald` (as `herald.routes` serves them). */
export function observabilityOf(herald: Herald): ObservabilityRoutes {
  return {
    health: healthReply,
    ready: async () => readinessReply(await herald.ready()),
    metrics: (authorization) => metricsReply(herald.metrics, authorization),
  };
}
