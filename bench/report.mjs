/**
 * Turns the results object written by run.mjs into markdown (results/latest.md). Also runnable on
 * its own: `node bench/report.mjs [results.json]` prints the markdown for a saved run.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";

const fmt = (x, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(digits));
const ratio = (a, b) => (a == null || b == null || b === 0 ? null : a / b);
const fmtRatio = (r) => (r === null ? "–" : `${r.toFixed(2)}×`);

function notes(run) {
  if (!run) return "";
  const out = [];
  if (run.serverSaturated) out.push("server saturated");
  if (run.loadGenerator?.saturated) out.push("load generator saturated");
  if (run.closedDuringRun) out.push(`${run.closedDuringRun} closed`);
  if (run.publishErrors) out.push(`${run.publishErrors} publish errors`);
  if (run.cpuRange) out.push(`CPU ${fmt(run.cpuRange[0])}–${fmt(run.cpuRange[1])} over ${run.repeats} runs`);
  const other = Math.max(run.machine?.otherCores ?? 0, ...(run.runs ?? []).map((r) => r.otherCores ?? 0));
  if (other > 0.3) out.push(`host busy with other work (${other.toFixed(1)} cores)`);
  return out.join("; ");
}

function find(results, server, size) {
  return results.find((r) => r.server === server && r.subscribers === size);
}

const groupOf = (r) => r.group ?? "sse";

/** The markdown report for one run. */
export function renderMarkdown(data) {
  const { results, meta, config } = data;
  const lines = [];
  lines.push(`# Herald benchmark: SSE, WebSocket (Pusher protocol), polling`);
  lines.push("");
  lines.push(
    `${meta.date} · Node ${meta.node} · ${meta.cpus}× ${meta.cpuModel} · ${meta.memGiB} GiB · ${meta.os} · ` +
      `next ${meta.versions.next}, better-sse ${meta.versions["better-sse"]}${meta.versions.ws ? `, ws ${meta.versions.ws}` : ""} · herald at ${meta.git.commit}${meta.git.dirty ? " (uncommitted changes in the tree)" : ""}` +
      (meta.hostBusyCoresBeforeRun != null
        ? ` · host busy with other work before the run: ${meta.hostBusyCoresBeforeRun} cores`
        : "") +
      (meta.durationS != null ? ` · run took ${meta.durationS} s` : "") +
      (meta.aborted ? ` · **aborted: ${oneLine(meta.aborted)}**` : ""),
  );
  lines.push("");
  lines.push(
    `Load generator and servers on the same host over loopback; one server process per row, and one load-generator process per SSE row (${config.loadProcesses?.ws ?? 1} per WebSocket or poll row, each holding its share of the connections). ` +
      `Steady state: ${config.rate} events/s for ${config.steadyMs / 1000} s on one channel. ` +
      (config.repeat > 1 ? `Each publish window ran ${config.repeat} times; figures are medians. ` : "") +
      `"× base" is the ratio to \`baseline\` (plain node:http, one shared Buffer per event) at the same size. See bench/README.md.`,
  );
  lines.push("");
  lines.push("## Steady state");
  lines.push("");
  lines.push(
    "| server | subscribers | CPU µs / delivery | × base | KiB / idle subscriber | × base | of which JS heap KiB | p50 ms | p99 ms | lost | notes |",
  );
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
  for (const r of results.filter((x) => groupOf(x) === "sse")) {
    if (!r.ok && !r.steady) {
      lines.push(`| ${r.server} | ${r.subscribers} | – | – | – | – | – | – | – | – | error: ${oneLine(r.error)} |`);
      continue;
    }
    const base = find(results, "baseline", r.subscribers);
    const s = r.steady;
    const cpuR = ratio(s?.cpuUsPerDelivery, base?.steady?.cpuUsPerDelivery);
    const memR = ratio(r.memory?.kibPerSubscriber, base?.memory?.kibPerSubscriber);
    const extra = [notes(s)];
    if (r.connect && r.connect.open < r.subscribers) extra.push(`only ${r.connect.open} connected`);
    if (!r.ok) extra.push(`error: ${oneLine(r.error)}`);
    lines.push(
      `| ${r.server} | ${r.connect?.open ?? r.subscribers} | ${fmt(s?.cpuUsPerDelivery)} | ${fmtRatio(cpuR)} | ` +
        `${fmt(r.memory?.kibPerSubscriber)} | ${fmtRatio(memR)} | ${fmt(r.memory?.heapKibPerSubscriber)} | ` +
        `${fmt(s?.latency?.p50Ms)} | ${fmt(s?.latency?.p99Ms)} | ` +
        `${s ? s.lost : "–"} | ${extra.filter(Boolean).join("; ")} |`,
    );
  }
  lines.push("");
  if (!results.some((r) => groupOf(r) === "sse")) lines.push("(no SSE rows in this run)", "");
  lines.push("## Burst");
  lines.push("");
  lines.push(
    `${config.burstRate} events/s for ${config.burstMs / 1000} s on one channel, at ${config.burstSizes.join(", ")} subscribers, two shapes: ` +
      `*paced* (one publish due every ${1000 / config.burstRate} ms; a late timer publishes all that are due), ` +
      `*groups* (${config.burstGroup} publishes in one tick every ${(1000 / config.burstRate) * config.burstGroup} ms). ` +
      `"events / tick" is the mean number of publishes per publishing tick.`,
  );
  lines.push("");
  lines.push(
    "| server | subscribers | shape | events / tick | CPU µs / delivery | × base | p50 ms | p99 ms | lost | notes |",
  );
  lines.push("|---|---:|---|---:|---:|---:|---:|---:|---:|---|");
  for (const r of results) {
    for (const [i, b] of (r.bursts ?? []).entries()) {
      const base = find(results, "baseline", r.subscribers)?.bursts?.[i];
      lines.push(
        `| ${r.server} | ${b.subscribersOpen} | ${b.label.replace(/^burst /, "")} | ${fmt(b.published / Math.max(1, b.publishTicks), 2)} | ` +
          `${fmt(b.cpuUsPerDelivery)} | ${fmtRatio(ratio(b.cpuUsPerDelivery, base?.cpuUsPerDelivery))} | ` +
          `${fmt(b.latency?.p50Ms)} | ${fmt(b.latency?.p99Ms)} | ${b.lost} | ${notes(b)} |`,
      );
    }
  }
  lines.push(...renderWs(data), ...renderPoll(data));
  const targets = heraldTargets(data);
  if (targets.length) {
    lines.push("");
    lines.push("## Herald (herald-node) against its targets");
    lines.push("");
    lines.push("| target | measured | met |");
    lines.push("|---|---|---|");
    for (const t of targets)
      lines.push(`| ${t.target} | ${t.measured} | ${t.met === null ? "–" : t.met ? "yes" : "**no**"} |`);
  }
  lines.push("");
  return lines.join("\n");
}

/** The WebSocket table (herald-pusher beside ws-baseline) and the Pusher server's targets. */
function renderWs({ results, config }) {
  const rows = results.filter((r) => groupOf(r) === "ws");
  if (rows.length === 0) return [];
  const lines = ["", "## WebSocket: Pusher protocol beside a plain `ws` broadcast", ""];
  lines.push(
    `One channel, ${config.rate} events/s for ${config.steadyMs / 1000} s. \`ws-baseline\`: \`ws\` WebSocketServer, every ` +
      `upgrade accepted, one Buffer per event (the same bytes as Herald's Pusher frame) sent to every socket. ` +
      `\`herald-pusher\`: \`createPusherServer\` (herald/pusher), clients do the Pusher handshake and \`pusher:subscribe\`; ` +
      `events from \`herald.publish\`. "× base" is the ratio to \`ws-baseline\` at the same size.`,
  );
  lines.push("");
  lines.push(
    "| server | connections | CPU µs / delivery | × base | KiB / connection | × base | of which JS heap KiB | p50 ms | p99 ms | × base | lost | notes |",
  );
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
  for (const r of rows) {
    if (!r.ok && !r.steady) {
      lines.push(`| ${r.server} | ${r.subscribers} | – | – | – | – | – | – | – | – | – | error: ${oneLine(r.error)} |`);
      continue;
    }
    const base = find(results, "ws-baseline", r.subscribers);
    const s = r.steady;
    const extra = [notes(s)];
    if (r.connect && r.connect.open < r.subscribers) extra.push(`only ${r.connect.open} connected`);
    if (!r.ok) extra.push(`error: ${oneLine(r.error)}`);
    lines.push(
      `| ${r.server} | ${r.connect?.open ?? r.subscribers} | ${fmt(s?.cpuUsPerDelivery)} | ` +
        `${fmtRatio(ratio(s?.cpuUsPerDelivery, base?.steady?.cpuUsPerDelivery))} | ${fmt(r.memory?.kibPerSubscriber)} | ` +
        `${fmtRatio(ratio(r.memory?.kibPerSubscriber, base?.memory?.kibPerSubscriber))} | ${fmt(r.memory?.heapKibPerSubscriber)} | ` +
        `${fmt(s?.latency?.p50Ms)} | ${fmt(s?.latency?.p99Ms)} | ${fmtRatio(ratio(s?.latency?.p99Ms, base?.steady?.latency?.p99Ms))} | ` +
        `${s ? s.lost : "–"} | ${extra.filter(Boolean).join("; ")} |`,
    );
  }
  const targets = pusherTargets({ results });
  if (targets.length) {
    lines.push(
      "",
      "### herald-pusher against its targets (issue 10)",
      "",
      "| target | measured | met |",
      "|---|---|---|",
    );
    for (const t of targets)
      lines.push(`| ${t.target} | ${t.measured} | ${t.met === null ? "–" : t.met ? "yes" : "**no**"} |`);
  }
  return lines;
}

/** herald-pusher's targets at its largest size: memory ≤ 1.1×, CPU per delivery ≤ 1.0×, p99 below ws-baseline's. */
export function pusherTargets({ results }) {
  const size = Math.max(...results.filter((r) => r.server === "herald-pusher").map((r) => r.subscribers), -Infinity);
  const h = find(results, "herald-pusher", size);
  const b = find(results, "ws-baseline", size);
  if (!h) return [];
  const mem = ratio(h.memory?.kibPerSubscriber, b?.memory?.kibPerSubscriber);
  const cpu = ratio(h.steady?.cpuUsPerDelivery, b?.steady?.cpuUsPerDelivery);
  const p99h = h.steady?.latency?.p99Ms;
  const p99b = b?.steady?.latency?.p99Ms;
  return [
    {
      target: `memory per connection ≤ 1.1× ws-baseline at ${size}`,
      measured:
        mem === null
          ? "–"
          : `${fmt(h.memory.kibPerSubscriber)} vs ${fmt(b.memory.kibPerSubscriber)} KiB = ${fmtRatio(mem)}`,
      met: mem === null ? null : mem <= 1.1,
    },
    {
      target: `CPU per delivery ≤ 1.0× ws-baseline at ${size}`,
      measured:
        cpu === null
          ? "–"
          : `${fmt(h.steady.cpuUsPerDelivery)} vs ${fmt(b.steady.cpuUsPerDelivery)} µs = ${fmtRatio(cpu)}`,
      met: cpu === null ? null : cpu <= 1.0,
    },
    {
      target: `p99 publish-to-receive below ws-baseline's at ${size}`,
      measured: p99h == null || p99b == null ? "–" : `${fmt(p99h)} vs ${fmt(p99b)} ms`,
      met: p99h == null || p99b == null ? null : p99h < p99b,
    },
  ];
}

/** Issue 17's long-poll target, and where node:http's own floor puts it. */
function pollTargets(r, sse) {
  const wake = r.longPoll?.cpuUsPerWake;
  const delivery = sse?.steady?.cpuUsPerDelivery;
  if (wake == null) return [];
  const floor = r.floor?.longPoll?.cpuUsPerWake;
  const ratio = (a, b) => (a == null || b == null ? "–" : `${fmt(a / b, 2)}×`);
  return [
    {
      target: `CPU per long-poll wake ≤ 3× CPU per SSE delivery at ${r.subscribers}`,
      measured:
        delivery == null
          ? `${fmt(wake)} µs (no SSE row)`
          : `${fmt(wake)} vs ${fmt(delivery)} µs = ${ratio(wake, delivery)}`,
      met: delivery == null ? null : wake <= 3 * delivery,
    },
    {
      target: `node:http's floor for the same exchange (poll-floor) at ${r.subscribers}`,
      measured:
        floor == null
          ? "–"
          : `${fmt(floor)} µs = ${ratio(floor, delivery)} an SSE delivery; herald-poll = ${ratio(wake, floor)} the floor`,
      met: null,
    },
    ...(r.longPoll?.hub
      ? [
          {
            target: `long-polls answered from the event in hand (no log read) in the wake window at ${r.subscribers}`,
            measured: `${r.longPoll.hub.wakesFromEventInHand} of ${r.longPoll.wakes} wakes; ${r.longPoll.hub.logReads} log reads`,
            met: null,
          },
        ]
      : []),
  ];
}

/** The polling tables (herald-poll), with herald-node's SSE row at the same size beside them. */
function renderPoll({ results, config }) {
  const rows = results.filter((r) => groupOf(r) === "poll");
  if (rows.length === 0) return [];
  const lines = ["", "## Polling and long-polling (herald-poll)", ""];
  lines.push(
    `\`GET /api/realtime/poll?channel=bench\` on \`herald.handleNodeRoutes\`, anonymous, keep-alive connections. ` +
      `Long-poll: every client holds a \`wait=${config.pollWaitS}\` request; ${config.pollRate} event/s for ${config.pollMs / 1000} s wakes ` +
      `them all (one event every ${fmt(1 / config.pollRate, 0)} s), each polls again at once. A *wake* is one answer carrying events plus the next request's admission, read and hold. ` +
      `Memory: (RSS after connecting N held long-polls and a full GC − before) / N. The SSE columns are herald-node's row ` +
      `at the same size in this run (5 events/s). \`poll-floor\` is plain node:http doing the same exchange with nothing else ` +
      `(requests held, each event answering all of them with one body; no routing, admission, log or cursor), measured ` +
      `after herald-poll in the same run with the same steps: what node:http alone costs per wake and per held request here.`,
  );
  lines.push("");
  lines.push(
    "| server | clients | held | KiB / held request | of which JS heap KiB | CPU µs / wake | wakes | p50 ms | p99 ms | lost | SSE µs / delivery | SSE KiB / subscriber | notes |",
  );
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
  for (const r of rows) {
    const sse = find(results, "herald-node", r.subscribers);
    for (const [name, m] of [
      [r.server, r],
      ["poll-floor", r.floor],
    ]) {
      if (!m) continue;
      if (!m.longPoll) {
        lines.push(
          `| ${name} | ${r.subscribers} | – | – | – | – | – | – | – | – | – | – | error: ${oneLine(m.error)} |`,
        );
        continue;
      }
      const l = m.longPoll;
      const extra = [notes(l)];
      if (l.emptyAnswers) extra.push(`${l.emptyAnswers} answers without events`);
      if (!m.ok) extra.push(`error: ${oneLine(m.error)}`);
      lines.push(
        `| ${name} | ${m.connect?.open ?? r.subscribers} | ${m.memory?.heldRequests ?? "–"} | ${fmt(m.memory?.kibPerSubscriber)} | ` +
          `${fmt(m.memory?.heapKibPerSubscriber)} | ${fmt(l.cpuUsPerWake)} | ${l.wakes} | ${fmt(l.latency?.p50Ms)} | ` +
          `${fmt(l.latency?.p99Ms)} | ${l.lost} | ${fmt(sse?.steady?.cpuUsPerDelivery)} | ${fmt(sse?.memory?.kibPerSubscriber)} | ` +
          `${extra.filter(Boolean).join("; ")} |`,
      );
    }
  }
  const targets = rows.flatMap((r) => pollTargets(r, find(results, "herald-node", r.subscribers)));
  if (targets.length > 0) {
    lines.push("");
    lines.push("#### herald-poll against its target (issue 17)");
    lines.push("");
    lines.push("| target | measured | met |");
    lines.push("|---|---|---|");
    for (const t of targets)
      lines.push(`| ${t.target} | ${t.measured} | ${t.met == null ? "–" : t.met ? "yes" : "**no**"} |`);
  }
  lines.push("");
  lines.push(
    `Short polls (no \`wait\`): each client polls every N / ${config.shortPollRate} s, spread evenly, with \`If-None-Match\`; ` +
      `for ${config.pollMs / 1000} s with nothing published (every answer a 304), then for ${config.pollMs / 1000} s with ` +
      `${config.pollRate} event/s. CPU µs / request = server CPU over the window / requests answered.`,
  );
  lines.push("");
  lines.push("| clients | window | requests / s | CPU µs / request | answers with events | server CPU | notes |");
  lines.push("|---:|---|---:|---:|---:|---:|---|");
  for (const r of rows) {
    for (const w of r.shortPoll ?? []) {
      lines.push(
        `| ${w.clients} | ${w.label} | ${w.requestsPerSecond} | ${fmt(w.cpuUsPerRequest)} | ${w.answers.withEvents} | ` +
          `${Math.round(w.serverCpuShare * 100)}% | ${notes(w)}${w.answers.other ? `; ${w.answers.other} errors` : ""} |`,
      );
    }
  }
  return lines;
}

/**
 * Replaces the results section of bench/README.md (between its markers) with this run's tables,
 * formatted by the repository's Prettier (so `npm run lint` stays clean).
 */
export async function updateReadme(readmePath, data) {
  const START = "<!-- bench:results:start -->";
  const END = "<!-- bench:results:end -->";
  const body = renderMarkdown(data)
    .replace(/^# .*\n/, "")
    .replace(/^(#+) /gm, "#$1 ")
    .trim();
  const section = `${START}\n\n## Latest results (\`results/latest.md\`)\n\n${body}\n\n${END}`;
  const text = fs.readFileSync(readmePath, "utf8");
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  let next =
    a !== -1 && b > a ? text.slice(0, a) + section + text.slice(b + END.length) : `${text.trimEnd()}\n\n${section}\n`;
  try {
    const prettier = await import("prettier");
    const options = (await prettier.resolveConfig(readmePath)) ?? {};
    next = await prettier.format(next, { ...options, filepath: readmePath });
  } catch {
    // Prettier missing: the tables stay as rendered.
  }
  fs.writeFileSync(readmePath, next);
}

function oneLine(text) {
  return String(text ?? "")
    .replace(/\s+/g, " ")
    .replace(/\|/g, "/")
    .slice(0, 160);
}

/** The targets of herald-node, each with the figure measured and whether it is met (null: not measured). */
export function heraldTargets({ results, config }) {
  const size = Math.max(...results.filter((r) => r.server === "herald-node").map((r) => r.subscribers), -Infinity);
  const h = find(results, "herald-node", size);
  if (!h) return [];
  const b = find(results, "baseline", size);
  const out = [];
  const cpuR = ratio(h.steady?.cpuUsPerDelivery, b?.steady?.cpuUsPerDelivery);
  out.push({
    target: `CPU per delivery ≤ 1.0× baseline at ${size}`,
    measured:
      cpuR === null
        ? "–"
        : `${fmt(h.steady.cpuUsPerDelivery)} vs ${fmt(b.steady.cpuUsPerDelivery)} µs = ${fmtRatio(cpuR)}`,
    met: cpuR === null ? null : cpuR <= 1.0,
  });
  const kib = h.memory?.kibPerSubscriber;
  out.push({
    target: `≤ 4 KiB per idle subscriber at ${size}`,
    measured: kib == null ? "–" : `${fmt(kib)} KiB (RSS); ${fmt(h.memory.heapKibPerSubscriber)} KiB JS heap + external`,
    met: kib == null ? null : kib <= 4,
  });
  const p99 = h.steady?.latency?.p99Ms;
  out.push({
    target: `p99 ≤ 50 ms at ${config.rate} events/s, ${size} subscribers`,
    measured: p99 == null ? "–" : `${fmt(p99)} ms`,
    met: p99 == null ? null : p99 <= 50,
  });
  for (const burstSize of config.burstSizes) {
    const hb = find(results, "herald-node", burstSize);
    const bb = find(results, "baseline", burstSize);
    for (const [i, burst] of (hb?.bursts ?? []).entries()) {
      const base = bb?.bursts?.[i];
      const r = ratio(burst.cpuUsPerDelivery, base?.cpuUsPerDelivery);
      out.push({
        target: `burst CPU ≤ 0.5× baseline (${burst.label}, ${burstSize})`,
        measured:
          r === null ? "–" : `${fmt(burst.cpuUsPerDelivery)} vs ${fmt(base.cpuUsPerDelivery)} µs = ${fmtRatio(r)}`,
        met: r === null ? null : r <= 0.5,
      });
    }
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? new URL("./results/latest.json", import.meta.url);
  process.stdout.write(renderMarkdown(JSON.parse(fs.readFileSync(file, "utf8"))));
}
