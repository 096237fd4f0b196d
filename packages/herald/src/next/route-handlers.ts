/** `createRouteHandlers`: every Herald route behind one Next.js App Router catch-all route file. */
import type { Herald } from "../server/herald.js";
import type { ClientPublisher } from "../server/http/client-publish.js";
import { fetchRoutes, sessionOfFetch, type RouteHandler } from "../server/http/fetch-adapter.js";
import type { Tasks } from "../server/tasks/tasks.js";
import type { Tokens } from "../server/auth/tokens/tokens.js";
import { observabilityOf } from "./observability.js";

export type { RouteHandler };

/** Options for {@link createRouteHandlers}. Every field but `herald` defaults to what the Herald instance owns. */
export interface RouteHandlersOptions {
  /** The Herald instance; its `authenticate`/`authorize` options guard the SSE route. */
  herald: Herald;
  /** Issues tokens on `POST …/token` (default: `herald.tokens`). */
  tokens?: Tokens;
  /** Serves the task routes (default: `herald.tasks`). */
  tasks?: Tasks;
  /** Enables `POST …/publish` for client-originated messages (`createClientPublisher`). */
  publisher?: ClientPublisher;
  /** The signed-in user's id (default: the instance's `getUserId`); null when signed out (401). */
  getUserId?(request: Request): Promise<string | null | undefined> | string | null | undefined;
  /**
   * Where the catch-all is mounted (for example `"/api/realtime"`). When given, paths must match
   * exactly below it; when not, the last path segments decide the route.
   */
  basePath?: string;
}

/**
 * Route handlers for a single catch-all route file; the same as `herald.routes`, with parts
 * replaced. Routes, relative to where it is mounted:
 * - `GET  …/sse?channel=…&token=…`: the SSE stream;
 * - `GET  …/poll?channel=…&wait=…`: long-polling on the same cursor (the client's fallback);
 * - `POST …/token[?channel=…]`: `{ token, userId }` for the signed-in user;
 * - `GET  …/tasks`: `{ tasks }`, the user's tasks;
 * - `GET  …/tasks/{id}`: the task's snapshot, owner only;
 * - `POST …/tasks/{id}/cancel`: cancels it, answering with the canceled snapshot;
 * - `POST …/publish`: a client message (with `publisher`);
 * - `GET  …/health`, `…/ready`, `…/metrics`: liveness, readiness, Prometheus metrics (docs/operations.md);
 * - anything else: 404 `{ error: { code: "not_found", message } }`.
 * Errors are JSON `{ error: { code, message } }` with the code's status (401 when signed out).
 */
export function createRouteHandlers(options: RouteHandlersOptions): { GET: RouteHandler; POST: RouteHandler } {
  const { herald } = options;
  const handle = fetchRoutes(herald.core, {
    tokens: options.tokens ?? herald.tokens,
    tasks: options.tasks ?? herald.tasks,
    publisher: options.publisher ?? herald.publisher,
    getUserId: options.getUserId ?? ((request) => herald.userId(sessionOfFetch(request))),
    basePath: options.basePath,
    observability: observabilityOf(herald),
  });
  return { GET: handle, POST: handle };
}
