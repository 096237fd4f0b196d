#!/usr/bin/env node
/**
 * Observability's CPU cost per delivery, paired in one process (issue 18): two Herald instances,
 * one plain (default options) and one with metrics (prom-client, scraped every 5 s of event time)
 * and pino at info level (to /dev/null), each with SUBSCRIBERS subscribers on one channel through
 * the real SSE path (admission aside: `core.createSubscriber` + `core.start`) into sinks that count
 * bytes. Rounds alternate between the two, so the host's load weighs on both alike; each round
 * publishes EVENTS events one flush at a time and measures this process's CPU time
 * (`process.cpuUsage`). Reports the median CPU µs per delivery of each and their ratio.
 *
 *   npm run build && node bench/observability-overhead.mjs   # SUBSCRIBERS=10000 EVENTS=40 ROUNDS=10
 *   NAMESPACES=1 …   # the observed instance with the namespace label on (metrics.namespaceLabel)
 */
import { createHerald } from "herald";
import pino from "pino";

const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 10_000);
const EVENTS = Number(process.env.EVENTS ?? 40);
const ROUNDS = Number(process.env.ROUNDS ?? 10);
/** Events between two scrapes: 5 s at 5 events/s. */
const SCRAPE_EVERY = 25;

/** Writes into every sink so far (one per event per subscriber once live). */
let writes = 0;
/** Resolves the wait for the write count `target` (no spinning: the wait costs no CPU). */
let target = Infinity;
let reached = () => {};

/** A sink that takes everything at once (a client that reads). */
function countingSink() {
  let bytes = 0;
  return {
    write: (chunk) => {
      bytes += chunk.byteLength;
      if (++writes === target) reached();
    },
    buffered: () => 0,
    end() {},
    destroy() {},
    bytes: () => bytes,
  };
}

async function setup(observed) {
  const herald = createHerald(
    observed
      ? {
          metrics: { namespaceLabel: process.env.NAMESPACES === "1" },
          logger: pino({ level: "info" }, pino.destination({ dest: "/dev/null", sync: false })),
        }
      : {},
  );
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const admitted = {
      channels: ["bench"],
      cursor: null,
      cursorText: null,
      token: null,
      principal: null,
      release() {},
    };
    const sub = herald.core.createSubscriber(admitted, countingSink());
    herald.core.start(sub, admitted);
  }
  while (herald.stats().subscribers < SUBSCRIBERS) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 200)); // every session live
  return herald;
}

async function round(herald) {
  const before = writes;
  const start = process.cpuUsage();
  for (let n = 0; n < EVENTS; n++) {
    // One flush per event (5 events/s never coalesce): wait until it is written everywhere.
    const written = new Promise((resolve) => (reached = resolve));
    target = before + (n + 1) * SUBSCRIBERS;
    await herald.publish("bench", "tick", { t: Date.now(), n });
    await written;
    if (herald.metrics && n % SCRAPE_EVERY === SCRAPE_EVERY - 1) await herald.metrics.scrape();
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / (writes - before);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Which is set up first (REVERSE=1: the observed one), to see that the order does not decide.
const [plain, observed] =
  process.env.REVERSE === "1"
    ? await setup(true).then(async (o) => [await setup(false), o])
    : await setup(false).then(async (p) => [p, await setup(true)]);
await round(plain); // warm up both
await round(observed);
const results = { plain: [], observed: [] };
for (let i = 0; i < ROUNDS; i++) {
  const order = i % 2 === 0 ? ["plain", "observed"] : ["observed", "plain"];
  for (const name of order) results[name].push(await round(name === "plain" ? plain : observed));
}
// One scrape with SUBSCRIBERS connected: CPU ms (what a Prometheus scrape every 5 s costs).
const scrapes = [];
for (let i = 0; i < 20; i++) {
  const start = process.cpuUsage();
  await observed.metrics.scrape();
  const used = process.cpuUsage(start);
  scrapes.push((used.user + used.system) / 1000);
}
const p = median(results.plain);
const o = median(results.observed);
console.log(
  JSON.stringify(
    {
      subscribers: SUBSCRIBERS,
      eventsPerRound: EVENTS,
      rounds: ROUNDS,
      plainUsPerDelivery: +p.toFixed(4),
      observedUsPerDelivery: +o.toFixed(4),
      ratio: +(o / p).toFixed(3),
      scrapeCpuMs: +median(scrapes).toFixed(3),
      /** A scrape every 5 s at 5 events/s to SUBSCRIBERS: its CPU spread over the deliveries meanwhile. */
      scrapeUsPerDelivery: +((median(scrapes) * 1000) / (5 * 5 * SUBSCRIBERS)).toFixed(5),
      plainRange: [Math.min(...results.plain), Math.max(...results.plain)].map((x) => +x.toFixed(4)),
      observedRange: [Math.min(...results.observed), Math.max(...results.observed)].map((x) => +x.toFixed(4)),
    },
    null,
    2,
  ),
);
await plain.close();
await observed.close();
