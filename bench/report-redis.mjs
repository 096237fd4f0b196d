/**
 * Markdown for the Redis rows (results/redis.md) and their section of bench/README.md. Also
 * runnable on its own: `node bench/report-redis.mjs [results/redis.json]`.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";

const fmt = (x, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toFixed(digits));
const int = (x) => (x === null || x === undefined ? "–" : Math.round(x).toLocaleString("en-US"));

function notes(r) {
  const s = r.steady;
  if (!r.ok)
    return `error: ${String(r.error ?? "")
      .replace(/\s+/g, " ")
      .slice(0, 120)}`;
  const out = [];
  if (s.serverSaturated) out.push("a server process saturated");
  if (s.loadGenerator?.saturated) out.push("load generator saturated");
  if (s.closedDuringRun) out.push(`${s.closedDuringRun} closed`);
  if (s.publishErrors) out.push(`${s.publishErrors} publish errors`);
  if (s.cpuRange) out.push(`CPU ${fmt(s.cpuRange[0])}–${fmt(s.cpuRange[1])} over ${s.repeats} runs`);
  if (s.perProcessCpuMs) out.push(`CPU ms per process ${s.perProcessCpuMs.join(" + ")}`);
  const other = Math.max(s.machine?.otherCores ?? 0, ...(s.runs ?? []).map((x) => x.otherCores ?? 0));
  if (other > 0.3)
    out.push(
      `host busy with other work (${other.toFixed(1)} cores${r.server === "herald-redis" ? ", redis-server included" : ""})`,
    );
  return out.join("; ");
}

export function renderRedisMarkdown(data) {
  const { meta, config, results } = data;
  const mem = results.find((r) => r.server === "herald-memory" && r.ok);
  const red = results.find((r) => r.server === "herald-redis" && r.ok);
  const lines = [];
  lines.push("# Herald benchmark: several processes on Redis beside one on memory");
  lines.push("");
  lines.push(
    `${meta.date} · Node ${meta.node} · ${meta.cpus}× ${meta.cpuModel} · ${meta.memGiB} GiB · ${meta.os} · ` +
      `${red?.redisVersion?.split(" ").slice(0, 3).join(" ") ?? "redis-server"} · herald at ${meta.git.commit}` +
      `${meta.git.dirty ? " (uncommitted changes in the tree)" : ""}` +
      (meta.hostBusyCoresBeforeRun != null
        ? ` · host busy with other work before the run: ${meta.hostBusyCoresBeforeRun} cores`
        : "") +
      (config.quick ? " · BENCH_QUICK" : "") +
      (meta.aborted ? ` · ABORTED: ${meta.aborted}` : ""),
  );
  lines.push("");
  lines.push(
    `\`herald-memory\`: one herald-node process (MemoryBroker). \`herald-redis\`: ${config.redisProcesses} herald-node processes on one \`RedisBroker\` ` +
      `(a private redis-server without persistence, on loopback), the subscribers split evenly between them; events are published ` +
      `by the first process through \`herald.publish\`, so every event goes to Redis and back over pub/sub to every process. ` +
      `${config.rate} events/s for ${config.steadyMs / 1000} s on one channel, ${config.redisProcesses} load-generator processes in both rows. ` +
      `CPU µs / delivery: CPU of every Herald process of the row over the window / events received; "with redis-server" adds ` +
      `redis-server's CPU (from /proc).`,
  );
  lines.push("");
  lines.push(
    "| server | processes | subscribers | CPU µs / delivery | × memory | with redis-server µs | KiB / idle subscriber | p50 ms | p99 ms | lost | notes |",
  );
  lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
  for (const r of results) {
    const s = r.steady;
    const ratio = s && mem ? s.cpuUsPerDelivery / mem.steady.cpuUsPerDelivery : null;
    lines.push(
      `| ${r.server} | ${r.processes ?? "–"} | ${r.subscribers ?? "–"} | ${fmt(s?.cpuUsPerDelivery)} | ${ratio == null ? "–" : `${ratio.toFixed(2)}×`} | ` +
        `${r.server === "herald-redis" ? fmt(s?.cpuUsPerDeliveryWithRedis) : "–"} | ${fmt(r.memory?.kibPerSubscriber)} | ` +
        `${fmt(s?.latency?.p50Ms)} | ${fmt(s?.latency?.p99Ms)} | ${s?.lost ?? "–"} | ${notes(r)} |`,
    );
  }
  lines.push("");
  lines.push("### Publish throughput to one channel");
  lines.push("");
  lines.push(
    `One publisher (the first process of the row) calling \`herald.publish\` on one channel as fast as it can for ` +
      `${config.throughputMs / 1000} s, after every subscriber has gone (the publish path alone: no fan-out): one publish awaited ` +
      `before the next, then 64 in flight. On Redis the channel's stream is full (filled to its 1,000 events first), and more ` +
      `rows come from the same redis-server in the same run: 64 in flight while every process follows the channel (one SSE ` +
      `subscriber each, so Redis sends each event to every process), and the floors: \`raw XADD + PUBLISH\`, a process of its own ` +
      `sending a capped \`XADD\` (\`MAXLEN ~ 1000\`, full stream, Herald's fields) and a \`PUBLISH\` per publish on one ` +
      `auto-pipelined ioredis connection; and \`minimal script\`, the least an atomic publish script does (one Lua script: ` +
      `\`INCR\` a sequence, \`XADD\` under it with \`MAXLEN ~ 1000\`, \`PUBLISH\`), the floor of scripting. CPU µs / publish is the publishing process's; redis-server CPU is its share of a core ` +
      `over the window, and its µs per publish that CPU divided by the publishes.`,
  );
  lines.push("");
  lines.push(
    "| server | in flight | events / s | × memory | CPU µs / publish | redis-server CPU | redis-server µs / publish | errors |",
  );
  lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const row = (name, t) => {
    const m = mem?.throughput?.find((x) => x.concurrency === t.concurrency && !x.followedIn);
    const ratio = m ? t.eventsPerS / m.eventsPerS : null;
    lines.push(
      `| ${name} | ${t.concurrency} | ${int(t.eventsPerS)} | ${ratio == null ? "–" : `${ratio < 0.1 ? ratio.toFixed(3) : ratio.toFixed(2)}×`} | ` +
        `${fmt(t.cpuUsPerPublish, 2)} | ${t.redisCpuShare == null ? "–" : `${Math.round(t.redisCpuShare * 100)}%`} | ` +
        `${fmt(t.redisCpuUsPerPublish)} | ${t.errors} |`,
    );
  };
  for (const r of results) {
    for (const t of r.throughput ?? [])
      row(t.followedIn ? `${r.server}, followed in ${t.followedIn} processes` : r.server, t);
    for (const t of r.raw ?? []) row("raw XADD + PUBLISH", t);
    for (const t of r.minimalScript ?? []) row("minimal script (INCR + XADD + PUBLISH)", t);
  }
  lines.push("");
  const h64 = red?.throughput?.find((t) => t.concurrency === 64 && !t.followedIn);
  const raw64 = red?.raw?.find((t) => t.concurrency === 64);
  if (h64?.redisCpuUsPerPublish != null && raw64?.redisCpuUsPerPublish != null) {
    lines.push("### Against the targets (issue 17)");
    lines.push("");
    lines.push("| target | measured | met |");
    lines.push("| --- | --- | --- |");
    const ratio = h64.redisCpuUsPerPublish / raw64.redisCpuUsPerPublish;
    lines.push(
      `| redis-server CPU per publish ≤ 2× a raw capped XADD + PUBLISH (64 in flight, full streams${red.streamLength != null ? `: ${int(red.streamLength)} and ${int(red.rawStreamLength)} entries` : ""}) | ` +
        `${fmt(h64.redisCpuUsPerPublish)} vs ${fmt(raw64.redisCpuUsPerPublish)} µs = ${ratio.toFixed(2)}× | ${ratio <= 2 ? "yes" : "**no**"} |`,
    );
    lines.push(
      `| ≥ 20,000 publishes/s to one channel, 64 in flight | ${int(h64.eventsPerS)} / s | ${h64.eventsPerS >= 20_000 ? "yes" : "**no**"} |`,
    );
    const script64 = red.minimalScript?.find((t) => t.concurrency === 64);
    if (script64?.redisCpuUsPerPublish != null)
      lines.push(
        `| (the floor of scripting: the minimal script's redis-server CPU per publish) | ${fmt(script64.redisCpuUsPerPublish)} µs = ` +
          `${(script64.redisCpuUsPerPublish / raw64.redisCpuUsPerPublish).toFixed(2)}× raw; Herald's = ` +
          `${(h64.redisCpuUsPerPublish / script64.redisCpuUsPerPublish).toFixed(2)}× it | – |`,
      );
    lines.push("");
  }
  const before = readBefore();
  if (before) {
    const b = before.results.find((r) => r.server === "herald-redis" && r.ok);
    lines.push("### Before the publish path's rework (issue 17), for comparison");
    lines.push("");
    lines.push(
      `From \`results/redis-before.json\`: the same bench at ${before.meta.git.commit} (${before.meta.date}; host busy with ` +
        `other work before the run: ${before.meta.hostBusyCoresBeforeRun ?? "–"} cores), when the publish script read 100 stream ` +
        `entries per publish once the stream was full and each publish was its own script call.`,
    );
    lines.push("");
    lines.push("| server | in flight | events / s | CPU µs / publish | redis-server CPU | redis-server µs / publish |");
    lines.push("| --- | ---: | ---: | ---: | ---: | ---: |");
    const rows = [
      ...(b?.throughput ?? []).map((t) => [
        t.followedIn ? `herald-redis, followed in ${t.followedIn} processes` : "herald-redis",
        t,
      ]),
      ...(b?.raw ?? []).map((t) => ["raw XADD + PUBLISH", t]),
    ];
    for (const [name, t] of rows)
      lines.push(
        `| ${name} | ${t.concurrency} | ${int(t.eventsPerS)} | ${fmt(t.cpuUsPerPublish, 2)} | ` +
          `${t.redisCpuShare == null ? "–" : `${Math.round(t.redisCpuShare * 100)}%`} | ${fmt(t.redisCpuUsPerPublish)} |`,
      );
    lines.push("");
  }
  lines.push("### Against the targets (issue 12)");
  lines.push("");
  lines.push("| target | measured | met |");
  lines.push("| --- | --- | --- |");
  if (mem && red) {
    const p99m = mem.steady.latency.p99Ms;
    const p99r = red.steady.latency.p99Ms;
    lines.push(
      `| p99 on Redis ≤ memory's + 5 ms | ${fmt(p99r)} vs ${fmt(p99m)} + 5 = ${fmt(p99m + 5)} ms | ${p99r <= p99m + 5 ? "yes" : "**no**"} |`,
    );
    const c = red.steady.cpuUsPerDelivery / mem.steady.cpuUsPerDelivery;
    lines.push(
      `| CPU per delivery on Redis ≤ 1.2× memory's | ${fmt(red.steady.cpuUsPerDelivery)} vs ${fmt(mem.steady.cpuUsPerDelivery)} µs = ${c.toFixed(2)}× | ${c <= 1.2 ? "yes" : "**no**"} |`,
    );
    if (red.steady.cpuUsPerDeliveryWithRedis != null) {
      const cr = red.steady.cpuUsPerDeliveryWithRedis / mem.steady.cpuUsPerDelivery;
      lines.push(
        `| (the same, counting redis-server's CPU) | ${fmt(red.steady.cpuUsPerDeliveryWithRedis)} vs ${fmt(mem.steady.cpuUsPerDelivery)} µs = ${cr.toFixed(2)}× | ${cr <= 1.2 ? "yes" : "**no**"} |`,
      );
    }
  } else {
    lines.push("| – | a row failed; see the JSON | – |");
  }
  lines.push("");
  return lines.join("\n");
}

/** The run recorded before the publish path's rework (results/redis-before.json), if present. */
function readBefore() {
  try {
    return JSON.parse(fs.readFileSync(new URL("./results/redis-before.json", import.meta.url), "utf8"));
  } catch {
    return null;
  }
}

/** Replaces the Redis section of bench/README.md (between its markers, or appended). */
export async function updateReadmeRedis(readmePath, data) {
  const START = "<!-- bench:redis:start -->";
  const END = "<!-- bench:redis:end -->";
  const body = renderRedisMarkdown(data)
    .replace(/^# .*\n/, "")
    .replace(/^(#+) /gm, "#$1 ")
    .trim();
  const section = `${START}\n\n## Redis results (\`results/redis.md\`, \`BENCH_ONLY=redis\`)\n\n${body}\n\n${END}`;
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

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2] ?? new URL("./results/redis.json", import.meta.url);
  console.log(renderRedisMarkdown(JSON.parse(fs.readFileSync(file, "utf8"))));
}
