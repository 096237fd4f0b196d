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

/** The markdown report for one run. */
export function renderMarkdown(data) {
  const { results, meta, config } = data;
  const lines = [];
  lines.push(`# Herald SSE benchmark`);
  lines.push("");
  lines.push(
    `${meta.date} · Node ${meta.node} · ${meta.cpus}× ${meta.cpuModel} · ${meta.memGiB} GiB · ${meta.os} · ` +
      `next ${meta.versions.next}, better-sse ${meta.versions["better-sse"]} · herald at ${meta.git.commit}${meta.git.dirty ? " (uncommitted changes in the tree)" : ""}` +
      (meta.hostBusyCoresBeforeRun != null
        ? ` · host busy with other work before the run: ${meta.hostBusyCoresBeforeRun} cores`
        : "") +
      (meta.durationS != null ? ` · run took ${meta.durationS} s` : "") +
      (meta.aborted ? ` · **aborted: ${oneLine(meta.aborted)}**` : ""),
  );
  lines.push("");
  lines.push(
    `Load generator and servers on the same host over loopback; one server process and one load-generator process per row. ` +
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
  for (const r of results) {
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
