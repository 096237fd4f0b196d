/**
 * The demo's long-running job: "build a sales report over generated data". It really does the
 * work (generates rows, validates them, aggregates, computes statistics, writes a summary); the
 * pauses between chunks only stretch it to a watchable 10-60 s. Every pause listens to the task's
 * AbortSignal, so Cancel stops it at once.
 */
import type { TaskContext } from "herald";

/** How big a report is. */
export type ReportSize = "small" | "medium" | "large";

/** Sizes offered in the UI: rows generated and roughly how long it takes. */
export const REPORT_SIZES: Record<ReportSize, { rows: number; seconds: number; label: string }> = {
  small: { rows: 60_000, seconds: 12, label: "60k rows · ~12 s" },
  medium: { rows: 250_000, seconds: 25, label: "250k rows · ~25 s" },
  large: { rows: 1_000_000, seconds: 50, label: "1M rows · ~50 s" },
};

/** Reports of one user running at once (the task runner's `maxRunningPerUser`, lib/herald.ts). */
export const REPORT_LIMIT = 5;

/** The named steps, in order. */
export const REPORT_STEPS = [
  "Generate dataset",
  "Validate rows",
  "Aggregate by region",
  "Compute statistics",
  "Write summary",
] as const;

/** What a finished report returns. */
export interface ReportResult {
  rows: number;
  valid: number;
  revenue: number;
  meanOrder: number;
  medianOrder: number;
  p95Order: number;
  topRegion: string;
  topProduct: string;
  bestMonth: string;
  elapsedMs: number;
}

const REGIONS = ["North America", "Europe", "Asia Pacific", "Latin America", "Middle East", "Africa"];
const PRODUCTS = ["Atlas", "Beacon", "Cirrus", "Delta", "Ember", "Fjord", "Gale", "Harbor"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** Share of the progress bar each step covers. */
const WEIGHTS = [0.34, 0.14, 0.2, 0.14, 0.18];

/** A small seeded PRNG (mulberry32), so each report's data is reproducible from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

const money = (n: number): string =>
  n >= 1e6 ? `$${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `$${(n / 1e3).toFixed(1)}k` : `$${n.toFixed(2)}`;

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Options of {@link reportJob}. */
export interface ReportOptions {
  size: ReportSize;
  /** Throw during "Compute statistics", to show a failed task. */
  fail?: boolean;
  /** Speeds the pacing up (tests): 1 is normal, 0.2 five times faster. */
  pace?: number;
}

/** The job for `tasks.start()`. */
export function reportJob(options: ReportOptions) {
  return async (ctx: TaskContext): Promise<ReportResult> => {
    const started = Date.now();
    const { rows, seconds } = REPORT_SIZES[options.size];
    const budgetMs = seconds * 1000 * (options.pace ?? 1);
    const chunks = 40;
    let done = 0; // progress of finished steps, 0-1
    const report = (step: number, fraction: number): void => {
      ctx.progress(Math.min(100, Math.round((done + WEIGHTS[step]! * fraction) * 1000) / 10));
    };
    const begin = (step: number): void => ctx.step(REPORT_STEPS[step]!, "active");
    const end = (step: number): void => {
      ctx.step(REPORT_STEPS[step]!, "done");
      done += WEIGHTS[step]!;
      report(step, 0);
    };
    const rand = random(started);

    // 1. Generate: columns of typed arrays; about 2% of rows are deliberately broken.
    begin(0);
    const region = new Uint8Array(rows);
    const product = new Uint8Array(rows);
    const month = new Uint8Array(rows);
    const units = new Int16Array(rows);
    const price = new Float32Array(rows);
    const per = Math.ceil(rows / chunks);
    for (let c = 0; c < chunks; c++) {
      const stop = Math.min(rows, (c + 1) * per);
      for (let i = c * per; i < stop; i++) {
        region[i] = Math.floor(rand() ** 1.3 * REGIONS.length);
        product[i] = Math.floor(rand() * PRODUCTS.length);
        month[i] = Math.floor(rand() * 12);
        units[i] = rand() < 0.012 ? -1 : 1 + Math.floor(rand() ** 2 * 20);
        price[i] = rand() < 0.008 ? Number.NaN : 4 + rand() * 96 * (1 + product[i]! / 8);
      }
      report(0, (c + 1) / chunks);
      await pause((budgetMs * WEIGHTS[0]!) / chunks, ctx.signal);
    }
    end(0);

    // 2. Validate.
    begin(1);
    const valid = new Uint8Array(rows);
    let validCount = 0;
    for (let c = 0; c < 10; c++) {
      const stop = Math.min(rows, Math.ceil(((c + 1) * rows) / 10));
      for (let i = Math.ceil((c * rows) / 10); i < stop; i++) {
        if (units[i]! > 0 && Number.isFinite(price[i]!)) {
          valid[i] = 1;
          validCount++;
        }
      }
      report(1, (c + 1) / 10);
      await pause((budgetMs * WEIGHTS[1]!) / 10, ctx.signal);
    }
    end(1);

    // 3. Aggregate revenue by region, product and month.
    begin(2);
    const byRegion = new Float64Array(REGIONS.length);
    const byProduct = new Float64Array(PRODUCTS.length);
    const byMonth = new Float64Array(12);
    const orders = new Float64Array(validCount);
    let revenue = 0;
    let k = 0;
    for (let c = 0; c < 16; c++) {
      const stop = Math.min(rows, Math.ceil(((c + 1) * rows) / 16));
      for (let i = Math.ceil((c * rows) / 16); i < stop; i++) {
        if (!valid[i]) continue;
        const value = units[i]! * price[i]!;
        byRegion[region[i]!]! += value;
        byProduct[product[i]!]! += value;
        byMonth[month[i]!]! += value;
        orders[k++] = value;
        revenue += value;
      }
      report(2, (c + 1) / 16);
      await pause((budgetMs * WEIGHTS[2]!) / 16, ctx.signal);
    }
    end(2);

    // 4. Statistics: mean, median, p95 of order values.
    begin(3);
    await pause((budgetMs * WEIGHTS[3]!) / 3, ctx.signal);
    if (options.fail) {
      ctx.step(REPORT_STEPS[3]!, "failed");
      throw new Error("Statistics failed: the variance check found a column of NaNs (injected failure)");
    }
    orders.sort();
    report(3, 0.5);
    const mean = revenue / Math.max(1, validCount);
    const median = orders[Math.floor(validCount / 2)] ?? 0;
    const p95 = orders[Math.floor(validCount * 0.95)] ?? 0;
    await pause((budgetMs * WEIGHTS[3]!) / 2, ctx.signal);
    end(3);

    // 5. Summary, streamed word by word.
    begin(4);
    const topRegion = REGIONS[argmax(byRegion)]!;
    const topProduct = PRODUCTS[argmax(byProduct)]!;
    const bestMonth = MONTHS[argmax(byMonth)]!;
    const share = Math.round((Math.max(...byRegion) / revenue) * 100);
    const summary =
      `Across ${validCount.toLocaleString("en-US")} valid orders (${(rows - validCount).toLocaleString("en-US")} rejected), ` +
      `revenue reached ${money(revenue)}. ${topRegion} leads with ${share}% of sales, and ${topProduct} is the ` +
      `best-selling product line. The typical order is ${money(median)} (mean ${money(mean)}), while the top 5% ` +
      `of orders exceed ${money(p95)}. ${bestMonth} was the strongest month.`;
    const words = summary.split(/(?<= )/);
    for (let i = 0; i < words.length; i++) {
      ctx.text(words[i]!);
      report(4, (i + 1) / words.length);
      await pause((budgetMs * WEIGHTS[4]!) / words.length, ctx.signal);
    }
    ctx.step(REPORT_STEPS[4]!, "done");
    ctx.progress(100);
    return {
      rows,
      valid: validCount,
      revenue: Math.round(revenue * 100) / 100,
      meanOrder: Math.round(mean * 100) / 100,
      medianOrder: Math.round(median * 100) / 100,
      p95Order: Math.round(p95 * 100) / 100,
      topRegion,
      topProduct,
      bestMonth,
      elapsedMs: Date.now() - started,
    };
  };
}
