/**
 * `createHerald`: the server entry point and composition root. It wires the event core (broker,
 * hub), auth (tokens, channel rules), tasks and the HTTP edge (routes for Fetch and Node) into one
 * instance.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { MemoryBroker } from "../brokers/memory.js";
import type { Broker } from "../brokers/types.js";
import { encodePosition, type Position } from "../protocol/cursor.js";
import { partitionsOf } from "./core/partitions.js";
import { isValidChannelName } from "../protocol/names.js";
import { defaultAuthorize } from "./auth/authorize.js";
import { tokenAuthenticator } from "./auth/tokens/authenticator.js";
import { createTokens, type TokenPrincipal, type Tokens } from "./auth/tokens/tokens.js";
import { Hub, type HubStats } from "./core/hub.js";
import { MemoryPresenceStore } from "./core/presence-store.js";
import { prepareJson, preparePublish, type Publisher } from "./core/publish.js";
import type { EventMeta } from "../brokers/types.js";
import { createClientPublisher, type ClientPublisher } from "./http/client-publish.js";
import { assertCorsOptions } from "./http/cors.js";
import { HeraldCore, type TransportStats } from "./http/edge.js";
import { fetchRoutes, sessionOfFetch, type RouteHandler } from "./http/fetch-adapter.js";
import { nodeRoutes, sessionOfNode, type NodeHandler } from "./http/node-adapter.js";
import type { SessionRequest } from "./http/routes.js";
import { handleSseFetch } from "./http/sse-fetch.js";
import { handleSseNode } from "./http/sse-node.js";
import { resolveOptions, type HeraldOptions, type SharedState } from "./options.js";
import { createTasks, tryStartWith, type Tasks } from "./tasks/tasks.js";
import { Telemetry, type TelemetryCounters } from "./core/telemetry.js";
import { defaultLogger, logLifecycle } from "./observability/logger.js";
import { createMetrics, namespacesOf, type HeraldMetrics } from "./observability/metrics.js";
import { checkReadiness, healthReply, metricsReply, readinessReply, type Readiness } from "./observability/health.js";
import { toHeraldError } from "./http/responses.js";
import { readHistory, type HistoryOptions, type HistoryPage } from "./core/history.js";
import type { ChannelEnvelope, ChannelMap, Channels, EventInput, EventName } from "../protocol/channels.js";

/** Where Herald's routes are mounted by default (the catch-all `app/api/realtime/[...herald]/route.ts`). */
export const DEFAULT_BASE_PATH = "/api/realtime";

/**
 * A Herald server instance. `M` is the channel map given as `channels` (`defineChannels`), which
 * types `publish` and `history`; without one every channel is untyped.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- no channel declared: every channel untyped
export interface Herald<M extends ChannelMap = {}> extends Publisher {
  /**
   * Publishes `data` as `event` on `channel` to every subscriber, on every transport and process.
   * Resolves to the event's id (its cursor, `{epoch}-{seq}`). Throws `HeraldError` on invalid input:
   * `invalid_channel`, `invalid_event`, `invalid_data`, `payload_too_large`, and on a channel the
   * `channels` map declares, `invalid_event` for an undeclared event and `invalid_event_data` for
   * data its schema refuses (nothing is published then). On a declared channel the event name and
   * the data are type-checked.
   */
  publish<C extends string, E extends EventName<M, C>>(
    channel: C,
    event: E,
    data: EventInput<M, C, E>,
  ): Promise<string>;
  /**
   * A page of `channel`'s log, newest last: the last `limit` events (default 50, at most 1,000),
   * those before `before` (an event's `id`: the page before it), or the first `limit` after
   * `after`. Read in one cut with the log's head (`cursor`), so a live subscription started before
   * the read, merged by `id`, misses nothing and repeats nothing. The same read as `GET …/history`.
   * Throws `HeraldError` `invalid_channel`, `invalid_request` or `invalid_cursor` on bad input.
   *
   * @example
   * ```ts
   * const { events, more } = await herald.history("room-lobby", { limit: 50 });
   * ```
   */
  history<C extends string>(
    channel: C,
    options?: HistoryOptions,
  ): Promise<Omit<HistoryPage, "events"> & { events: ChannelEnvelope<M, C>[] }>;
  /**
   * {@link Herald.publish}, resolving to the event's position as a value (`{ partition, epoch, seq }`)
   * rather than its id; `meta` is stored beside the event (a client event's sender).
   */
  publishAt(channel: string, event: string, data: unknown, meta?: EventMeta): Promise<Position>;
  /**
   * Where the log of `channel`'s partition is now (`{ partition, epoch, seq }` of its head; no
   * channel: partition 0): what a subscriber of the channel connecting now starts after.
   */
  position(channel?: string): Promise<Position>;
  /**
   * {@link Herald.publish} for data already serialized (`json`, checked to be one JSON value and
   * not over `maxBytes`, default `maxPayloadBytes`), with metadata stored beside it (`meta`: who
   * sent a client event, which connection not to send it to). The path the Pusher HTTP API and
   * client events take.
   */
  publishJson(
    channel: string,
    event: string,
    json: string,
    options?: { maxBytes?: number; meta?: EventMeta },
  ): Promise<string>;
  /**
   * Every Herald route (SSE, poll, history, streams, token, tasks, cancel, publish, health, ready, metrics) for a
   * Next.js catch-all route file mounted at `/api/realtime`. No segment config is needed: route
   * handlers are not prerendered (Next.js 15 and later) and run on Node by default. Segment config
   * you do add must be written in the route file itself; Next.js ignores it re-exported.
   *
   * @example
   * ```ts
   * // app/api/realtime/[...herald]/route.ts
   * import { herald } from "@/lib/herald";
   *
   * export const { GET, POST } = herald.routes;
   * ```
   */
  readonly routes: { readonly GET: RouteHandler; readonly POST: RouteHandler };
  /** The same routes on Node's `http` (the fast path); returns false for requests outside `/api/realtime`. */
  readonly handleNodeRoutes: NodeHandler;
  /** SSE alone over the Fetch API, at any path. */
  handleRequest(request: Request): Promise<Response>;
  /** SSE alone over Node's `http`, at any path. */
  handleNode(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Short-lived single-use subscription tokens (issued by the token route). */
  readonly tokens: Tokens;
  /**
   * Long-running tasks: `herald.tasks.start(userId, job)` from a Server Action; progress, steps,
   * streamed text and the result reach the owner's browser on `task-{id}`.
   */
  readonly tasks: Tasks;
  /** The client-message publisher behind `POST …/publish`, when `authorizePublish` is set. */
  readonly publisher: ClientPublisher | undefined;
  /** The signed-in user's id for a request, by the `getUserId` option (null without it). */
  userId(request: SessionRequest): Promise<string | null>;
  /** Subscribers on this process for one channel. */
  subscriberCount(channel: string): number;
  /**
   * Counters for dashboards and tests: the hub's (SSE subscribers, long-poll waiters, channels,
   * deliveries, drops, gaps), and the same counts per transport (`sse`, `poll`, and `websocket`
   * when a Pusher server is attached).
   */
  stats(): HeraldStats;
  /**
   * The Prometheus metrics, when the `metrics` option is set: `scrape()` answers what a `/metrics`
   * route serves (`herald.routes` serves it at `…/metrics`).
   */
  readonly metrics: HeraldMetrics | undefined;
  /** Readiness: not draining, and the broker answers (what `GET …/ready` reports). */
  ready(): Promise<Readiness>;
  /** True once `close()` began: readiness says no, new connections should go elsewhere. */
  readonly draining: boolean;
  /** The broker in use. */
  readonly broker: Broker;
  /** Internals shared with other transports and integrations (`herald/next`). */
  readonly core: HeraldCore;
  /** Ends every stream with `herald:error` (`server_closing`) and closes the broker. */
  close(): Promise<void>;
}

const INSTANCES = Symbol.for("herald.instances");

/**
 * Creates a Herald server. With no options it runs on an in-memory broker in this process. With
 * `getUserId`, it also owns tokens, tasks and the channel rules, and serves every route:
 *
 * @example
 * ```ts
 * // lib/herald.ts
 * import { createHerald } from "herald";
 * import { currentUserId } from "./auth";
 * export const herald = createHerald({ getUserId: currentUserId, singleton: true });
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- no channel declared: every channel untyped
export function createHerald<M extends ChannelMap = {}>(
  options: HeraldOptions & { channels?: Channels<M> } = {},
): Herald<M> {
  if (!options.singleton) return build(options) as Herald<M>;
  const name = options.singleton === true ? "default" : options.singleton;
  const store = globalThis as { [INSTANCES]?: Map<string, Herald> };
  const instances = (store[INSTANCES] ??= new Map());
  let herald = instances.get(name);
  if (!herald) {
    herald = build(options);
    instances.set(name, herald);
  }
  return herald as Herald<M>;
}

function build(given: HeraldOptions): Herald {
  assertCorsOptions(given.cors);
  const options = resolveOptions(given);
  const { now, retryMs, maxPayloadBytes } = options;
  const shared = options.redis;
  const broker = options.broker ?? shared?.broker ?? new MemoryBroker();
  const partitionOf = partitionsOf(broker);
  const telemetry = new Telemetry(namespacesOf(options.metrics));
  const stopLogging = logLifecycle(telemetry, options.logger ?? defaultLogger);
  const unwatch = watchShared(shared, telemetry);
  const hub = new Hub(broker, {
    telemetry,
    heartbeatMs: options.heartbeatMs,
    coalesceMs: options.coalesceMs,
    maxBufferedBytes: options.maxBufferedBytes,
    retryMs,
    now,
  });
  const tokens = countingTokens(
    createTokens({
      now,
      maxChannels: options.maxChannelsPerConnection,
      store: shared?.tokenStore,
      ...options.tokens,
    }),
    telemetry,
  );
  // Tasks publish through the instance being built: look them up when a channel is authorized.
  let tasks: Tasks | undefined;
  const taskOwners = { ownerOf: (id: string) => tasks?.ownerOf(id) ?? Promise.resolve(null) };
  const withSessions = options.getUserId !== undefined;
  const edge = new HeraldCore(
    {
      ...options,
      limits: shared ? { backend: shared.limiterBackend, ...options.limits } : options.limits,
      authenticate:
        options.authenticate ??
        (withSessions ? tokenAuthenticator(tokens, { allowAnonymous: options.allowAnonymous }) : undefined),
      authorize:
        options.authorize ??
        (withSessions
          ? defaultAuthorize({ tasks: taskOwners, authorizePrivate: options.authorizePrivate })
          : undefined),
    },
    broker,
    hub,
    retryMs,
    now,
    () => shared?.presence ?? new MemoryPresenceStore(),
  );
  if (withSessions && !options.authenticate) {
    edge.renewToken = (principal) => {
      const channels = (principal as TokenPrincipal).tokenChannels;
      return tokens.issue(principal.userId, channels ? { channels } : {});
    };
  }
  const userId = async (request: SessionRequest) => (await options.getUserId?.(request)) ?? null;

  /** Validates (by `prepare`), publishes and counts one event: the one path of every publish. */
  const publishPrepared = async (
    channel: string,
    event: string,
    prepare: () => string | Promise<string>,
    meta?: EventMeta,
  ): Promise<Position> => {
    const startedAt = performance.now();
    const namespace = telemetry.namespaces?.of(channel);
    let json: string;
    try {
      const prepared = prepare();
      json = typeof prepared === "string" ? prepared : await prepared;
    } catch (error) {
      const code = toHeraldError(error).code;
      telemetry.record({ type: "publish", result: "rejected", durationMs: 0, code, namespace });
      throw error;
    }
    let stored;
    try {
      stored = await broker.publish(channel, event, json, meta);
    } catch (error) {
      const code = toHeraldError(error).code;
      const durationMs = performance.now() - startedAt;
      telemetry.record({ type: "publish", result: "error", durationMs, code, namespace });
      throw error;
    }
    telemetry.record({ type: "publish", result: "ok", durationMs: performance.now() - startedAt, namespace });
    return { partition: partitionOf(channel), epoch: stored.epoch, seq: stored.seq };
  };

  const channels = options.channels;
  /** `data` as the channel map's schema gives it back (a promise when the schema is async). */
  const checked = (channel: string, event: string, data: unknown): unknown =>
    channels ? channels.validate(channel, event, data) : data;
  /** Serializes `data`, validated first on a declared channel. */
  const prepareData = (channel: string, event: string, data: unknown, maxBytes = maxPayloadBytes) => {
    const value = checked(channel, event, data);
    return value instanceof Promise
      ? value.then((output) => preparePublish(channel, event, output, maxBytes))
      : preparePublish(channel, event, value, maxBytes);
  };
  /** Herald's own events (tasks, `task.started`): not the app's to declare, never checked against the map. */
  const internal: Publisher = {
    publishAt: (channel, event, data, meta) =>
      publishPrepared(channel, event, () => preparePublish(channel, event, data, maxPayloadBytes), meta),
    position: (channel) => herald.position(channel),
  };

  const herald: Herald = {
    broker,
    core: edge,
    tokens,
    get tasks() {
      if (tasks) return tasks;
      const onLifecycle = options.tasks?.onLifecycle;
      const created = createTasks(internal, {
        now,
        store: shared?.taskStore,
        ...options.tasks,
        onLifecycle: (event) => {
          telemetry.record(event);
          onLifecycle?.(event);
        },
      });
      return (tasks = announcingTasks(internal, shared ? shared.wrapTasks(created) : created));
    },
    publisher: undefined,
    routes: undefined as never,
    handleNodeRoutes: undefined as never,
    publishAt: (channel, event, data, meta) =>
      publishPrepared(channel, event, () => prepareData(channel, event, data), meta),
    async check(channel, event, data) {
      await prepareData(channel, event, data);
    },
    async publishJson(channel, event, json, publishOptions = {}) {
      const maxBytes = publishOptions.maxBytes ?? maxPayloadBytes;
      const prepare = (): string | Promise<string> => {
        const text = prepareJson(channel, event, json, maxBytes);
        return channels?.eventsOf(channel) ? prepareData(channel, event, JSON.parse(text), maxBytes) : text;
      };
      const { epoch, seq, partition } = await publishPrepared(channel, event, prepare, publishOptions.meta);
      return encodePosition(epoch, seq, partition);
    },
    async history(channel, historyOptions = {}) {
      return JSON.parse((await readHistory(broker, channel, historyOptions)).body) as never;
    },
    async position(channel) {
      const { epoch, head } = await broker.snapshot(channel === undefined ? [] : [channel], 0, 0);
      return { partition: channel === undefined ? 0 : partitionOf(channel), epoch, seq: head };
    },
    async publish(channel: string, event: string, data: unknown) {
      const { epoch, seq, partition } = await herald.publishAt(channel, event, data);
      return encodePosition(epoch, seq, partition);
    },
    handleRequest: (request) => handleSseFetch(edge, request),
    handleNode: (req, res) => handleSseNode(edge, req, res),
    userId,
    subscriberCount: (channel) => hub.subscriberCount(channel),
    stats: () =>
      heraldStats(hub.stats(), edge, telemetry.counters(), tasks?.running ?? 0, hub.subscriptionsByNamespace()),
    metrics: undefined,
    draining: false,
    ready: () => checkReadiness(broker, herald.draining),
    async close() {
      if (!herald.draining) {
        (herald as { draining: boolean }).draining = true;
        telemetry.record({ type: "draining" });
      }
      herald.metrics?.close();
      hub.closeAll();
      edge.closePresence();
      tokens.close?.();
      tasks?.close?.();
      edge.limits.close();
      await broker.close();
      await shared?.close();
      unwatch();
      stopLogging();
    },
  };
  const metrics = options.metrics ? createMetrics(options.metrics, telemetry, () => herald.stats()) : undefined;
  const publisher = options.authorizePublish
    ? createClientPublisher(herald, { authorizePublish: options.authorizePublish, now })
    : undefined;
  const observability = {
    health: healthReply,
    ready: async () => readinessReply(await herald.ready()),
    metrics: (authorization: string | null) => metricsReply(metrics, authorization),
  };
  const deps = { tokens, publisher, basePath: DEFAULT_BASE_PATH, observability };
  const handle = fetchRoutes(edge, {
    ...deps,
    get tasks() {
      return herald.tasks;
    },
    getUserId: (request) => userId(sessionOfFetch(request)),
  });
  Object.assign(herald, {
    metrics,
    publisher,
    routes: { GET: handle, POST: handle },
    handleNodeRoutes: nodeRoutes(edge, {
      ...deps,
      get tasks() {
        return herald.tasks;
      },
      getUserId: (req) => userId(sessionOfNode(req)),
    }),
  });
  return herald;
}

/** {@link Herald.stats}: the hub's counts, the same per transport, and the lifecycle counters. */
export interface HeraldStats extends HubStats {
  readonly transports: Readonly<Record<string, TransportStats>>;
  /** Connections opened and closed, refusals, tokens, publishes, resumes, tasks (see `TelemetryCounters`). */
  readonly counters: TelemetryCounters;
  /** Tasks whose job runs on this process now. */
  readonly tasksRunning: number;
  /** With the metrics' namespace label on: channel subscriptions by transport, then namespace. */
  readonly subscriptionsByNamespace?: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

function heraldStats(
  hub: HubStats,
  edge: HeraldCore,
  counters: TelemetryCounters,
  tasksRunning: number,
  hubByNamespace: Record<string, Record<string, number>> | undefined,
): HeraldStats {
  const transports: Record<string, TransportStats> = {
    sse: {
      connections: hub.subscribers,
      subscriptions: hub.subscriptions,
      delivered: hub.delivered,
      dropped: hub.dropped,
      presenceMembers: edge.ssePresenceMembers(),
    },
    poll: {
      connections: hub.pollWaiters,
      subscriptions: hub.pollSubscriptions,
      delivered: hub.pollDelivered,
      dropped: 0,
    },
  };
  const byNamespace: Record<string, Record<string, number>> | undefined = hubByNamespace && { ...hubByNamespace };
  for (const [name, readers] of edge.transports) {
    const sum: TransportStats = { connections: 0, subscriptions: 0, delivered: 0, dropped: 0 };
    for (const read of readers) {
      const one = read();
      sum.connections += one.connections;
      sum.subscriptions += one.subscriptions;
      sum.delivered += one.delivered;
      sum.dropped += one.dropped;
      if (one.presenceMembers !== undefined) sum.presenceMembers = (sum.presenceMembers ?? 0) + one.presenceMembers;
      if (!byNamespace || !one.subscriptionsByNamespace) continue;
      const into = (byNamespace[name] ??= {});
      for (const [ns, n] of Object.entries(one.subscriptionsByNamespace)) into[ns] = (into[ns] ?? 0) + n;
    }
    transports[name] = sum;
  }
  return { ...hub, transports, counters, tasksRunning, ...(byNamespace && { subscriptionsByNamespace: byNamespace }) };
}

/** The tokens, counting each one issued (`herald.tokens.issue` from the app, the token route, poll renewals). */
function countingTokens(tokens: Tokens, telemetry: Telemetry): Tokens {
  const issue = tokens.issue.bind(tokens);
  return Object.assign(Object.create(tokens) as Tokens, {
    issue: async (...args: Parameters<Tokens["issue"]>) => {
      const token = await issue(...args);
      telemetry.record({ type: "token.issued" });
      return token;
    },
  });
}

/** Tells the telemetry of the shared state's (Redis) connection changes; returns the function that stops it. */
function watchShared(shared: SharedState | undefined, telemetry: Telemetry): () => void {
  if (!shared?.watch) return () => {};
  return shared.watch(({ state, error }) => {
    const message = error === undefined ? undefined : error instanceof Error ? error.message : String(error);
    telemetry.record({ type: "redis", state, error: message });
  });
}

/**
 * The tasks, telling the owner's `user-{id}` channel when one starts (`task.started`, `{ id }`), so
 * every tab's task list (`useTasks`) shows it without a reload.
 */
function announcingTasks(publisher: Publisher, tasks: Tasks): Tasks {
  const announcing: Tasks = {
    ...tasks,
    get running() {
      return tasks.running;
    },
    async start(ownerId, job, startOptions) {
      const snapshot = await tasks.start(ownerId, job, startOptions);
      const channel = `user-${ownerId}`;
      if (isValidChannelName(channel))
        await publisher.publishAt(channel, "task.started", { id: snapshot.id }).catch(() => {});
      return snapshot;
    },
    tryStart: (ownerId, job, startOptions) => tryStartWith(announcing.start, ownerId, job, startOptions),
  };
  return announcing;
}
