/** The routes `herald/next` serves, and the JSON ones shared by the Fetch and Node handlers. */
import { HeraldError } from "../../protocol/errors.js";
import { isSameOrigin } from "./cors.js";
import { assertChannelName } from "../../protocol/names.js";
import { errorParts } from "./responses.js";
import type { Tasks } from "../tasks/tasks.js";
import type { Tokens } from "../auth/tokens/tokens.js";
import type { ClientPublisher } from "./client-publish.js";
import type { HeraldCore } from "./edge.js";
import { Limits } from "./limits/limits.js";
import { DEFAULT_MAX_TOKEN_CHANNELS } from "../auth/tokens/tokens.js";
import { clientAddress, requestHost, type TrustProxy } from "./limits/client-ip.js";
import { serveChannels } from "./channels.js";

/** A matched route. */
export type Route =
  | { kind: "sse" }
  | { kind: "channels"; preflight: boolean }
  | { kind: "poll" }
  | { kind: "history" }
  | { kind: "stream"; channel: string }
  | { kind: "token" }
  | { kind: "tasks" }
  | { kind: "task"; id: string }
  | { kind: "cancel"; id: string }
  | { kind: "publish" }
  | { kind: "health" }
  | { kind: "ready" }
  | { kind: "metrics" }
  | { kind: "none" };

/**
 * Matches `segments` (the path after the mount point, or the whole path when the mount point is
 * unknown, in which case the last segments decide):
 * `GET sse`, `POST channels` (and its `OPTIONS` preflight), `GET poll`, `GET history`, `streams/{channel}` (any method), `POST token`, `GET tasks`, `GET tasks/{id}`, `POST tasks/{id}/cancel`, `GET health`,
 * `GET ready`, `GET metrics`.
 */
export function matchRoute(method: string, segments: readonly string[], exact: boolean): Route {
  const n = segments.length;
  const at = (i: number): string | undefined => segments[n - i];
  const fits = (length: number): boolean => (exact ? n === length : n >= length);
  if (fits(3) && at(3) === "tasks" && at(1) === "cancel") {
    return method === "POST" ? { kind: "cancel", id: at(2)! } : { kind: "none" };
  }
  if (fits(2) && at(2) === "streams") return { kind: "stream", channel: at(1)! };
  if (fits(2) && at(2) === "tasks") return method === "GET" ? { kind: "task", id: at(1)! } : { kind: "none" };
  if (fits(1) && at(1) === "tasks") return method === "GET" ? { kind: "tasks" } : { kind: "none" };
  if (fits(1) && at(1) === "sse") return method === "GET" ? { kind: "sse" } : { kind: "none" };
  if (fits(1) && at(1) === "channels") {
    return method === "POST" || method === "OPTIONS"
      ? { kind: "channels", preflight: method === "OPTIONS" }
      : { kind: "none" };
  }
  if (fits(1) && at(1) === "poll") return method === "GET" ? { kind: "poll" } : { kind: "none" };
  if (fits(1) && at(1) === "history") return method === "GET" ? { kind: "history" } : { kind: "none" };
  if (fits(1) && at(1) === "token") return method === "POST" ? { kind: "token" } : { kind: "none" };
  if (fits(1) && at(1) === "publish") return method === "POST" ? { kind: "publish" } : { kind: "none" };
  for (const kind of ["health", "ready", "metrics"] as const) {
    if (fits(1) && at(1) === kind) return method === "GET" ? { kind } : { kind: "none" };
  }
  return { kind: "none" };
}

/** Splits a URL path into decoded, non-empty segments. An undecodable segment becomes NUL (matches nothing). */
export function pathSegments(pathname: string): string[] {
  return pathname
    .split("/")
    .filter(Boolean)
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        return "\u0000";
      }
    });
}

/** A JSON reply, transport-neutral. */
export interface JsonReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Liveness, readiness and metrics answers (`createHerald` fills them). */
export interface ObservabilityRoutes {
  health(): JsonReply;
  ready(): Promise<JsonReply>;
  /** `authorization`: the request's `Authorization` header (the metrics' bearer token). */
  metrics(authorization: string | null): Promise<JsonReply>;
}

/** What the JSON routes need. */
export interface JsonRouteDeps {
  /** Serves `GET …/health`, `…/ready` and `…/metrics` when given (404 without). */
  observability?: ObservabilityRoutes | undefined;
  tokens?: Tokens | undefined;
  tasks?: Tasks | undefined;
  /** Accepts client-originated messages on `POST …/publish` (see `createClientPublisher`). */
  publisher?: ClientPublisher | undefined;
  /**
   * The Herald's internals (`herald.core`): its `limits` rate the routes, its `trustProxy` and
   * `maxChannelsPerConnection` apply. Without it the routes are rated by default limits of their own.
   */
  core?: HeraldCore | undefined;
}

/** What the app's session lookup (`getUserId`) sees of a request, on either path. */
export interface SessionRequest {
  readonly url: URL;
  /** Reads a request header (case-insensitive), or null; cookies are in `header("cookie")`. */
  header(name: string): string | null;
}

/** What the JSON routes read from a request. */
export interface JsonRequest extends SessionRequest {
  /** The client's address, when the transport knows it. */
  ip: string | undefined;
  /** Resolves the session's user id, or null when signed out. */
  userId(): Promise<string | null>;
  /** Reads the body as text, refusing (413) more than `limit` bytes. */
  body(limit: number): Promise<string>;
}

/** Most tasks the list route answers with (the newest). */
const MAX_TASKS_LISTED = 100;

/** Limits for route sets wired without `core`, one per set of deps. */
const fallbackLimits = new WeakMap<JsonRouteDeps, Limits>();

function limitsOf(deps: JsonRouteDeps): Limits {
  if (deps.core) return deps.core.limits;
  let limits = fallbackLimits.get(deps);
  if (!limits) fallbackLimits.set(deps, (limits = new Limits()));
  return limits;
}

const JSON_HEADERS = { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" };

function json(status: number, value: unknown): JsonReply {
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify(value) };
}

/** The reply for an error: `{ error: { code, message } }` with the code's status. */
export function errorReply(error: unknown): JsonReply {
  return errorParts(error);
}

/** The 404 reply for paths the handlers do not serve. */
export function notFound(): JsonReply {
  return errorParts(new HeraldError("not_found", "no such route"));
}

/**
 * Refuses a cross-site POST: when the browser sent `Origin`, its host must be the request's host
 * (`X-Forwarded-Host` only when `trustProxy` says a proxy stands in front, else `Host`).
 */
function assertSameOrigin(request: JsonRequest, trust: TrustProxy | undefined): void {
  const origin = request.header("origin");
  if (origin === null) return;
  const host = requestHost(trust, request.header, request.url.host);
  if (!isSameOrigin(origin, host)) throw new HeraldError("origin_not_allowed", "cross-origin request refused");
}

async function requireUser(request: JsonRequest): Promise<string> {
  const userId = await request.userId();
  if (userId === null || userId === undefined || userId === "") {
    throw new HeraldError("unauthorized", "sign in first");
  }
  return userId;
}

/** Serves a JSON route; every failure becomes an error reply. */
export async function serveJson(route: Route, request: JsonRequest, deps: JsonRouteDeps): Promise<JsonReply> {
  try {
    const limits = limitsOf(deps);
    const trust = deps.core?.options.trustProxy;
    const ip = request.ip ?? clientAddress(trust, undefined, request.header("x-forwarded-for"));
    switch (route.kind) {
      case "channels":
        // Admitted as the stream is (its own origin policy, rates and authentication), not as these routes.
        return deps.core ? await serveChannels(deps.core, { ...request, ip }, route.preflight) : notFound();
      case "token": {
        if (!deps.tokens) return notFound();
        limits.checkUrl(request.url.href);
        limits.route("token", null, ip);
        assertSameOrigin(request, trust);
        // `?optional=1`: a client that can connect anonymously asks; signed out is then an answer
        // (no token), not an error, so a signed-out visitor's console shows no failed request.
        if (request.url.searchParams.get("optional") === "1" && !(await request.userId())) {
          return json(200, { token: null, userId: null });
        }
        const userId = await requireUser(request);
        limits.route("token", userId, undefined);
        const channels = request.url.searchParams.getAll("channel");
        const maxChannels = deps.core?.options.maxChannelsPerConnection ?? DEFAULT_MAX_TOKEN_CHANNELS;
        if (channels.length > maxChannels) {
          throw new HeraldError("too_many_channels", `at most ${maxChannels} channels per token`, {
            details: { limit: maxChannels },
          });
        }
        for (const channel of channels) assertChannelName(channel);
        const token = await deps.tokens.issue(userId, channels.length > 0 ? { channels } : {});
        return json(200, { token, userId });
      }
      case "tasks": {
        if (!deps.tasks) return notFound();
        limits.checkUrl(request.url.href);
        limits.route("tasks", null, ip);
        const userId = await requireUser(request);
        limits.route("tasks", userId, undefined);
        return json(200, { tasks: (await deps.tasks.list(userId)).slice(0, MAX_TASKS_LISTED) });
      }
      case "task": {
        if (!deps.tasks) return notFound();
        limits.checkUrl(request.url.href);
        limits.route("task", null, ip);
        const userId = await requireUser(request);
        limits.route("task", userId, undefined);
        return json(200, await deps.tasks.get(route.id, userId));
      }
      case "publish": {
        if (!deps.publisher) return notFound();
        limits.checkUrl(request.url.href);
        limits.route("publish", null, ip);
        assertSameOrigin(request, trust);
        const userId = await requireUser(request);
        limits.route("publish", userId, undefined);
        return json(200, await deps.publisher(userId, await request.body(64 * 1024)));
      }
      case "cancel": {
        if (!deps.tasks) return notFound();
        limits.checkUrl(request.url.href);
        limits.route("cancel", null, ip);
        assertSameOrigin(request, trust);
        const userId = await requireUser(request);
        limits.route("cancel", userId, undefined);
        return json(200, await deps.tasks.cancel(route.id, userId));
      }
      case "health":
        return deps.observability ? deps.observability.health() : notFound();
      case "ready":
        return deps.observability ? await deps.observability.ready() : notFound();
      case "metrics":
        return deps.observability ? await deps.observability.metrics(request.header("authorization")) : notFound();
      default:
        return notFound();
    }
  } catch (error) {
    deps.core?.refused(route.kind, error);
    return errorReply(error);
  }
}
