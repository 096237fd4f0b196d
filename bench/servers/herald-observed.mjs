/**
 * herald-observed: herald-node with observability on, to measure its cost (issue 18): Prometheus
 * metrics through prom-client (`metrics: {}`), scraped every 5 s as a busy Prometheus would, and
 * lifecycle logs through pino at info level (to /dev/null: the cost is Herald's and pino's, not a
 * terminal's). Otherwise herald-node's options.
 */
import { createHerald } from "herald";
import pino from "pino";
import { serve } from "./node-harness.mjs";

const logger = pino({ level: "info" }, pino.destination({ dest: "/dev/null", sync: false }));
const herald = createHerald({
  limits: { connectPerIp: false, maxConnectionsPerIp: false },
  metrics: {},
  logger,
});
setInterval(() => void herald.metrics.scrape(), 5_000).unref();

serve({
  handleSse: (req, res) => herald.handleNode(req, res),
  publish: (payload) => herald.publish("bench", "tick", payload),
  subscribers: () => herald.subscriberCount("bench"),
});
