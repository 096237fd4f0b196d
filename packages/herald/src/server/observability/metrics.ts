/**
 * Prometheus metrics through `prom-client` (an optional peer dependency, loaded only when the
 * `metrics` option is set). Every counter and gauge is read, at scrape time, from the one place
 * that counts: `herald.stats()` (the hub's counts, each transport's, and the telemetry's counters);
 * only the two histograms (publish duration, bus lag) observe as things happen. Several instances
 * may share one registry (two Heralds in a process, a hot reload): the metrics are registered once
 * per registry and prefix, and each scrape sums the instances attached to them, so nothing is
 * ever registered twice. No label carries a channel name, a user id or a token: labels are
 * transports, routes, results, reasons and error codes, all from closed sets.
 */
import { createRequire } from "node:module";
import type * as PromClient from "prom-client";
import type { HubStats } from "../core/hub.js";
import { Namespaces, type Telemetry, type TelemetryCounters } from "../core/telemetry.js";
import type { TransportStats } from "../http/edge.js";

/**
 * A Prometheus registry, as `prom-client`'s `Registry` (`new Registry()`, or its default `register`):
 * the part of it Herald uses.
 */
export interface MetricsRegistry {
  metrics(): Promise<string>;
  readonly contentType: string;
  getSingleMetric(name: string): unknown;
}

/** The `metrics` option of `createHerald`. */
export interface MetricsOptions {
  /** Where the metrics are registered (a `prom-client` `Registry`). Default: a private one for this instance. */
  registry?: MetricsRegistry;
  /** Prefix of every metric's name (default `herald_`). */
  prefix?: string;
  /**
   * A bearer token the metrics route asks for (`Authorization: Bearer …`). Without it the route
   * answers anyone who can reach it: keep it off the public internet, or set this.
   */
  bearerToken?: string;
  /**
   * Adds a `namespace` label to `publishes_total`, `deliveries_total` and `subscriptions`: `true`
   * takes the channel's prefix (its Pusher kind and first word: `user-42` → `user`,
   * `private-user-42` → `private-user`; a name with no separator is `other`), a function
   * `(channel) => label` decides. Either way the first `maxNamespaces` distinct labels are kept and
   * every later one is `other`, so the number of series stays bounded whatever the channels.
   * Default: off. Fixed per registry and prefix by the first instance registered there.
   */
  namespaceLabel?: boolean | ((channel: string) => string);
  /** Distinct namespace labels kept before the rest are `other` (default 50). */
  maxNamespaces?: number;
}

/** The namespaces an instance's telemetry labels its counts with, when `metrics.namespaceLabel` is on. */
export function namespacesOf(options: MetricsOptions | undefined): Namespaces | undefined {
  const label = options?.namespaceLabel;
  if (!label) return undefined;
  return new Namespaces(label === true ? undefined : label, options.maxNamespaces);
}

/** What the metrics read from an instance at scrape time (`herald.stats()` is one). */
export interface ObservedStats extends Pick<HubStats, "channels" | "buffered" | "deliveredBytes" | "gaps"> {
  readonly transports: Readonly<Record<string, TransportStats>>;
  readonly counters: TelemetryCounters;
  /** Tasks whose job runs on this process now. */
  readonly tasksRunning: number;
  /** With the namespace label on: channel subscriptions by transport, then namespace. */
  readonly subscriptionsByNamespace?: Readonly<Record<string, Readonly<Record<string, number>>>> | undefined;
}

/** An instance's metrics, as `herald.metrics` exposes them. */
export interface HeraldMetrics {
  /** The registry they are in. */
  readonly registry: MetricsRegistry;
  /** Token the metrics route asks for, if any. */
  readonly bearerToken: string | undefined;
  /** The registry's exposition text and its content type (what a `/metrics` route answers). */
  scrape(): Promise<{ contentType: string; body: string }>;
  /** Detaches the instance (its counts leave the sums); the metrics stay registered for the others. */
  close(): void;
}

/** Buckets of `publish_duration_seconds`. */
export const PUBLISH_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** Buckets of `bus_lag_seconds`. */
export const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

type Prom = typeof PromClient;
type Source = () => ObservedStats;

interface MetricSet {
  readonly sources: Set<Source>;
  /** Drops the stats read for the scrape under way. */
  readonly forget: () => void;
  readonly publishDuration: PromClient.Histogram;
  readonly busLag: PromClient.Histogram;
}

const SETS = Symbol.for("herald.metrics");

/** Metric sets by registry, then prefix; on `globalThis` so that a second copy of this module finds them too. */
function setsOf(registry: MetricsRegistry): Map<string, MetricSet> {
  const store = globalThis as { [SETS]?: WeakMap<object, Map<string, MetricSet>> };
  const all = (store[SETS] ??= new WeakMap());
  let sets = all.get(registry);
  if (!sets) all.set(registry, (sets = new Map()));
  return sets;
}

let prom: Prom | undefined;

function loadPromClient(): Prom {
  if (prom) return prom;
  try {
    prom = createRequire(import.meta.url)("prom-client") as Prom;
  } catch (cause) {
    throw new Error("the metrics option needs the prom-client package: npm install prom-client", { cause });
  }
  return prom;
}

/** Registers (once per registry and prefix) and attaches an instance's metrics. */
export function createMetrics(options: MetricsOptions, telemetry: Telemetry, stats: Source): HeraldMetrics {
  const client = loadPromClient();
  const registry = (options.registry ?? new client.Registry()) as MetricsRegistry;
  const prefix = options.prefix ?? "herald_";
  const sets = setsOf(registry);
  let set = sets.get(prefix);
  if (!set) {
    set = register(client, registry as PromClient.Registry, prefix, telemetry.namespaces !== undefined);
    sets.set(prefix, set);
  }
  const metricSet = set;
  metricSet.sources.add(stats);
  metricSet.forget();
  const stopPublish = telemetry.listen((event) => {
    if (event.type === "publish" && event.result === "ok") metricSet.publishDuration.observe(event.durationMs / 1000);
  });
  const stopLag = telemetry.listenLag((seconds) => metricSet.busLag.observe(seconds));
  return {
    registry,
    bearerToken: options.bearerToken,
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    close() {
      metricSet.sources.delete(stats);
      metricSet.forget();
      stopPublish();
      stopLag();
    },
  };
}

/**
 * Reads every attached instance once per scrape (the collectors of one scrape run in one turn of
 * the event loop); `forget()` drops what was read (an instance attached or left).
 */
function reader(sources: Set<Source>): { read: () => ObservedStats[]; forget: () => void } {
  let cached: ObservedStats[] | undefined;
  return {
    read() {
      if (cached) return cached;
      cached = [...sources].map((read) => read());
      setImmediate(() => (cached = undefined));
      return cached;
    },
    forget: () => (cached = undefined),
  };
}

type Labels = Record<string, string>;
type Series = [Labels, number][];

function sum(series: Series): Series {
  const out = new Map<string, [Labels, number]>();
  for (const [labels, value] of series) {
    const key = JSON.stringify(labels);
    const seen = out.get(key);
    if (seen) seen[1] += value;
    else out.set(key, [labels, value]);
  }
  return [...out.values()];
}

function nested(counts: Readonly<Record<string, Readonly<Record<string, number>>>>, a: string, b: string): Series {
  const series: Series = [];
  for (const [outer, inner] of Object.entries(counts)) {
    for (const [key, value] of Object.entries(inner)) series.push([{ [a]: outer, [b]: key }, value]);
  }
  return series;
}

function flat(counts: Readonly<Record<string, number>>, label: string): Series {
  return Object.entries(counts).map(([key, value]) => [{ [label]: key }, value]);
}

const RATE_CODES = new Set(["rate_limited", "too_many_connections"]);

/**
 * With the namespace label, the series of one count by `outer` (transport or result) and
 * namespace: an instance's counts by namespace where it keeps them, else its total with an empty
 * namespace (an instance without the label on a registry whose first instance had it).
 */
function withNamespace(
  totals: Series,
  outer: string,
  byNamespace: Readonly<Record<string, Readonly<Record<string, number>>>> | undefined,
): Series {
  if (!byNamespace) return totals.map(([labels, value]) => [{ ...labels, namespace: "" }, value]);
  return nested(byNamespace, outer, "namespace");
}

function register(client: Prom, registry: PromClient.Registry, prefix: string, namespaced: boolean): MetricSet {
  const sources = new Set<Source>();
  const { read, forget } = reader(sources);
  const registers = [registry];
  const gauge = (name: string, help: string, labelNames: string[], values: (s: ObservedStats) => Series) =>
    new client.Gauge({
      name: prefix + name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [labels, value] of sum(read().flatMap(values))) this.set(labels, value);
      },
    });
  const counter = (name: string, help: string, labelNames: string[], values: (s: ObservedStats) => Series) =>
    new client.Counter({
      name: prefix + name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [labels, value] of sum(read().flatMap(values))) this.inc(labels, value);
      },
    });
  const transports = (pick: (t: TransportStats) => number) => (s: ObservedStats) =>
    Object.entries(s.transports).map(([transport, t]): [Labels, number] => [{ transport }, pick(t)]);
  type ByNamespace = Readonly<Record<string, Readonly<Record<string, number>>>> | undefined;
  /** Help, label names and series of a count by `outer`, with the namespace label when this set has it. */
  const labelled = (
    help: string,
    outer: string,
    totals: (s: ObservedStats) => Series,
    byNamespace: (s: ObservedStats) => ByNamespace,
  ): [string, string[], (s: ObservedStats) => Series] =>
    namespaced
      ? [`${help} and namespace.`, [outer, "namespace"], (s) => withNamespace(totals(s), outer, byNamespace(s))]
      : [`${help}.`, [outer], totals];

  gauge(
    "connections",
    "Open connections, by transport (held long-polls for poll).",
    ["transport"],
    transports((t) => t.connections),
  );
  gauge(
    "subscriptions",
    ...labelled(
      "Channel subscriptions of the open connections, by transport",
      "transport",
      transports((t) => t.subscriptions),
      (s) => s.subscriptionsByNamespace,
    ),
  );
  gauge(
    "presence_members",
    "Presence members held by this process's connections (one per user per presence channel), by transport.",
    ["transport"],
    (s) =>
      Object.entries(s.transports)
        .filter(([, t]) => t.presenceMembers !== undefined)
        .map(([transport, t]): [Labels, number] => [{ transport }, t.presenceMembers!]),
  );
  gauge("channels", "Channels this process follows upstream.", [], (s) => [[{}, s.channels]]);
  gauge("buffered_bytes", "Bytes written to SSE subscribers that they have not read yet.", [], (s) => [
    [{}, s.buffered],
  ]);
  gauge("tasks_running", "Tasks whose job runs on this process.", [], (s) => [[{}, s.tasksRunning]]);
  counter("connections_opened_total", "Connections opened (admitted), by transport.", ["transport"], (s) =>
    flat(s.counters.opened, "transport"),
  );
  counter("disconnects_total", "Connections closed, by transport and reason.", ["transport", "reason"], (s) =>
    nested(s.counters.closed, "transport", "reason"),
  );
  counter(
    "publishes_total",
    ...labelled(
      "Publishes, by result (ok, rejected, error)",
      "result",
      (s) => flat(s.counters.publishes, "result"),
      (s) => s.counters.byNamespace?.publishes,
    ),
  );
  counter(
    "deliveries_total",
    ...labelled(
      "Events delivered (one per event per connection), by transport",
      "transport",
      transports((t) => t.delivered),
      (s) => s.counters.byNamespace?.deliveries,
    ),
  );
  counter("delivered_bytes_total", "Bytes of live events written, by transport.", ["transport"], (s) => [
    [{ transport: "sse" }, s.deliveredBytes],
    ...flat(s.counters.deliveredBytes, "transport"),
  ]);
  counter(
    "slow_consumer_drops_total",
    "Connections dropped for not reading fast enough, by transport.",
    ["transport"],
    transports((t) => t.dropped),
  );
  counter(
    "resumes_total",
    "Connections resumed from a cursor, by transport and result (recovered, gap).",
    ["transport", "result"],
    (s) => nested(s.counters.resumes, "transport", "result"),
  );
  counter("gaps_total", "Gaps told to resuming clients (one per channel).", [], (s) => [[{}, s.gaps]]);
  counter("tokens_issued_total", "Subscription tokens issued.", [], (s) => [[{}, s.counters.tokensIssued]]);
  counter("tokens_refused_total", "Connections refused for their token, by reason.", ["reason"], (s) =>
    nested(s.counters.refused, "route", "code")
      .filter(([labels]) => labels.code!.startsWith("token_"))
      .map(([labels, value]) => [{ reason: labels.code! }, value]),
  );
  counter("requests_refused_total", "Requests refused, by route and error code.", ["route", "code"], (s) =>
    nested(s.counters.refused, "route", "code"),
  );
  counter("rate_limited_total", "Requests refused by a rate or connection limit, by route.", ["route"], (s) =>
    nested(s.counters.refused, "route", "code")
      .filter(([labels]) => RATE_CODES.has(labels.code!))
      .map(([labels, value]) => [{ route: labels.route! }, value]),
  );
  counter("tasks_started_total", "Tasks whose job started on this process.", [], (s) => [
    [{}, s.counters.tasksStarted],
  ]);
  counter("tasks_finished_total", "Tasks ended on this process, by status.", ["status"], (s) =>
    flat(s.counters.tasksFinished, "status"),
  );
  counter("redis_errors_total", "Errors of the Redis connections.", [], (s) => [[{}, s.counters.redisErrors]]);
  const publishDuration = new client.Histogram({
    name: prefix + "publish_duration_seconds",
    help: "Time from publish() to the broker's acknowledgement, in seconds.",
    buckets: PUBLISH_BUCKETS,
    registers,
  });
  const busLag = new client.Histogram({
    name: prefix + "bus_lag_seconds",
    help: "Time from an event's publish (on any process) to its receipt by this process, in seconds.",
    buckets: LAG_BUCKETS,
    registers,
  });
  return { sources, forget, publishDuration, busLag };
}
