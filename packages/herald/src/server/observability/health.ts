/**
 * Liveness and readiness. Live: the process answers. Ready: it is not draining and its broker
 * answers (on Redis, a round trip) within {@link READY_TIMEOUT_MS}. Also the metrics route's
 * answer (with its optional bearer token). Shared by `herald.routes` (`…/health`, `…/ready`,
 * `…/metrics`) and `herald serve` (`/healthz`, `/readyz`, `/metrics`).
 */
import { Buffer } from "node:buffer";
import { timingSafeEqual } from "node:crypto";
import type { Broker } from "../../brokers/types.js";
import type { JsonReply } from "../http/routes.js";
import type { HeraldMetrics } from "./metrics.js";

/** Longest wait for the broker's answer before readiness says no, in ms. */
export const READY_TIMEOUT_MS = 2_000;

/** What the readiness check found. */
export interface Readiness {
  /** True when the instance should get traffic: not draining, broker reachable. */
  readonly ready: boolean;
  /** True once the instance began shutting down. */
  readonly draining: boolean;
  /** `ok`, or `unreachable` when the broker did not answer (in time). */
  readonly broker: "ok" | "unreachable";
}

/** Checks readiness: not draining, and the broker answers `head()` in time. */
export async function checkReadiness(broker: Broker, draining: boolean): Promise<Readiness> {
  if (draining) return { ready: false, draining, broker: "ok" };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
  });
  const answered = broker.head().then(
    () => true,
    () => false,
  );
  const reachable = await Promise.race([answered, late]);
  clearTimeout(timer);
  return { ready: reachable, draining, broker: reachable ? "ok" : "unreachable" };
}

const JSON_HEADERS = { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" };

/** The liveness answer: 200 `{ status: "ok" }`. */
export function healthReply(): JsonReply {
  return { status: 200, headers: { ...JSON_HEADERS }, body: '{"status":"ok"}' };
}

/** The readiness answer: 200 when ready, else 503, with what was found. */
export function readinessReply(readiness: Readiness): JsonReply {
  return { status: readiness.ready ? 200 : 503, headers: { ...JSON_HEADERS }, body: JSON.stringify(readiness) };
}

/**
 * The metrics answer: the exposition text, 404 when metrics are off, 401 without the bearer token
 * when one is set (`authorization` is the request's header).
 */
export async function metricsReply(
  metrics: HeraldMetrics | undefined,
  authorization: string | null,
): Promise<JsonReply> {
  if (!metrics) {
    return {
      status: 404,
      headers: { ...JSON_HEADERS },
      body: '{"error":{"code":"not_found","message":"metrics are off"}}',
    };
  }
  if (metrics.bearerToken !== undefined && !bearerMatches(authorization, metrics.bearerToken)) {
    return {
      status: 401,
      headers: { ...JSON_HEADERS, "WWW-Authenticate": 'Bearer realm="metrics"' },
      body: '{"error":{"code":"unauthorized","message":"metrics need the bearer token"}}',
    };
  }
  const { contentType, body } = await metrics.scrape();
  return { status: 200, headers: { "Content-Type": contentType, "Cache-Control": "no-store" }, body };
}

function bearerMatches(header: string | null, token: string): boolean {
  const given = Buffer.from(/^Bearer\s+(.+)$/i.exec(header ?? "")?.[1]?.trim() ?? "");
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
