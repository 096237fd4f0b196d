/**
 * An independent resume check on RedisBroker, without Herald's client: raw SSE subscribers (a plain
 * HTTP request, the SSE parsed by hand, `Last-Event-ID` = the last `id:` seen, as EventSource does)
 * on three channels each, events published at a steady rate on every channel, connections cut at
 * random (PRNG) points in time. Every subscriber must get every event of every channel exactly once
 * and in order, unless the stream told it, with `herald:gap`, that some were lost.
 *
 * Sizes (environment, to run it as the field check did: 2,000 events per channel at 200/s, about
 * 1,000 cuts, on a loaded machine): RESUME_RAW_EVENTS (per channel, default 400), RESUME_RAW_RATE
 * (events per second per channel, default 200), RESUME_RAW_CUT_MS (a cut is tried that often and
 * made one time in two; default 20), RESUME_RAW_SEED; RESUME_RAW_VERBOSE=1 prints a summary.
 */
import http from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHerald, type Herald } from "../../src/server/index.js";
import { RedisBroker } from "../../src/brokers/redis.js";
import { prng, startServer, waitFor, type TestServer } from "../helpers.js";
import { startRedis, type TestRedis } from "./redis-server.js";

const CHANNELS = ["orders", "chat", "metrics"];
const SUBSCRIBERS = 20;
const EVENTS = Number(process.env.RESUME_RAW_EVENTS ?? 400);
const RATE = Number(process.env.RESUME_RAW_RATE ?? 200);
const CUT_MS = Number(process.env.RESUME_RAW_CUT_MS ?? 20);
const SEED = Number(process.env.RESUME_RAW_SEED ?? 1);

let redis: TestRedis;
let prefixCount = 0;
const heralds: Herald[] = [];
let server: TestServer | undefined;
const subscribers: RawSubscriber[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  for (const s of subscribers.splice(0)) s.stop();
  await server?.close();
  await Promise.all(heralds.splice(0).map((h) => h.close()));
});

/** A raw SSE subscriber that reconnects (with `Last-Event-ID`) whenever its stream ends. */
class RawSubscriber {
  readonly received = new Map<string, number[]>(CHANNELS.map((c) => [c, []]));
  readonly gaps: { channel: string; reason: string }[] = [];
  readonly errors: string[] = [];
  lastId: string | undefined;
  connected = false;
  connects = 0;
  private request: http.ClientRequest | undefined;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly random: () => number,
  ) {}

  start(): void {
    if (this.stopped) return;
    this.connects++;
    const headers: Record<string, string> = { Accept: "text/event-stream" };
    if (this.lastId) headers["Last-Event-ID"] = this.lastId;
    const req = http.get(this.url, { headers, agent: false });
    this.request = req;
    let text = "";
    const again = () => {
      if (this.request !== req) return;
      this.request = undefined;
      this.connected = false;
      if (!this.stopped) setTimeout(() => this.start(), 1 + Math.floor(this.random() * 20));
    };
    req.on("response", (res) => {
      if (res.statusCode !== 200) {
        this.errors.push(`HTTP ${res.statusCode}`);
        res.resume();
        res.on("end", again);
        return;
      }
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
        let end: number;
        while ((end = text.indexOf("\n\n")) >= 0) {
          this.frame(text.slice(0, end));
          text = text.slice(end + 2);
        }
      });
      res.on("close", again);
      res.on("error", again);
    });
    req.on("error", again);
  }

  /** One complete SSE frame (a cut loses only an incomplete one, as EventSource does). */
  private frame(block: string): void {
    let event = "message";
    let data: string | undefined;
    for (const line of block.split("\n")) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue; // a comment, or nothing
      const field = line.slice(0, colon);
      const value = line.slice(colon + (line[colon + 1] === " " ? 2 : 1));
      if (field === "id") this.lastId = value;
      else if (field === "event") event = value;
      else if (field === "data") data = data === undefined ? value : `${data}\n${value}`;
    }
    if (data === undefined) return; // not dispatched (the opening `retry:` and comment)
    if (event === "message") {
      const envelope = JSON.parse(data) as { channel: string; data: { n: number } };
      this.received.get(envelope.channel)!.push(envelope.data.n);
    } else if (event === "herald:connected") this.connected = true;
    else if (event === "herald:gap") this.gaps.push(JSON.parse(data) as { channel: string; reason: string });
    else if (event === "herald:error") this.errors.push((JSON.parse(data) as { code: string }).code);
  }

  stop(): void {
    this.stopped = true;
    this.request?.destroy();
  }
}

type Setup = "one instance" | "two instances" | "two instances, 4 partitions";

// With 4 partitions the three channels are in three: each `id:` is a cursor of three positions,
// and `Last-Event-ID` must resume all of them.
describe.each<[Setup]>([["one instance"], ["two instances"], ["two instances, 4 partitions"]])(
  "raw SSE resume on Redis (%s)",
  (setup) => {
    it("every subscriber gets every event once and in order, or a gap, while connections are cut at random", async () => {
      const random = prng(SEED + prefixCount);
      const prefix = `raw${++prefixCount}`;
      const errors: Error[] = [];
      const make = () => {
        const herald = createHerald({
          broker: new RedisBroker({
            url: redis.url,
            prefix,
            partitions: setup.includes("partitions") ? 4 : 1,
            onError: (e) => errors.push(e),
          }),
          limits: { connectPerIp: false, maxConnectionsPerIp: false },
        });
        heralds.push(herald);
        return herald;
      };
      const subscribed = make();
      const publisher = setup.startsWith("two instances") ? make() : subscribed;
      server = await startServer(subscribed);
      const url = `${server.url}?${CHANNELS.map((c) => `channel=${c}`).join("&")}`;
      for (let i = 0; i < SUBSCRIBERS; i++) {
        const s = new RawSubscriber(url, random);
        subscribers.push(s);
        s.start();
      }
      await waitFor(() => subscribers.every((s) => s.connected), 20_000, "every subscriber connected");

      // Publish at RATE per channel (what is due when the timer fires), and cut a random connection
      // about every CUT_MS, until every channel has EVENTS events.
      let published = 0;
      let cuts = 0;
      let attempts = 0;
      const publishErrors: unknown[] = [];
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        let inFlight = 0;
        const step = () => {
          const due = Math.min(EVENTS, Math.floor(((performance.now() - t0) / 1000) * RATE));
          while (published < due) {
            const n = published++;
            for (const channel of CHANNELS) {
              inFlight++;
              publisher
                .publish(channel, "tick", { n })
                .catch((e: unknown) => publishErrors.push(e))
                .finally(() => inFlight--);
            }
          }
          // Cuts come due with time (about one per CUT_MS, at PRNG-chosen victims), however late the timer fires.
          const dueCuts = Math.floor((performance.now() - t0) / CUT_MS);
          while (attempts < dueCuts) {
            attempts++;
            if (random() < 0.5) continue;
            const sockets = [...server!.sockets].filter((socket) => !socket.destroyed);
            const victim = sockets[Math.floor(random() * sockets.length)];
            if (victim) {
              victim.destroy();
              cuts++;
            }
          }
          if (published >= EVENTS && inFlight === 0) resolve();
          else setTimeout(step, 5);
        };
        step();
      });
      expect(publishErrors).toEqual([]);

      // No more cuts: every subscriber must end with every event (or have been told of a gap).
      const done = (s: RawSubscriber) =>
        CHANNELS.every((c) => s.received.get(c)!.length >= EVENTS || s.gaps.some((g) => g.channel === c));
      await waitFor(() => subscribers.every(done), 60_000, "every event at every subscriber").catch(() => {});

      const problems: string[] = [];
      subscribers.forEach((s, i) => {
        for (const channel of CHANNELS) {
          const got = s.received.get(channel)!;
          const gapped = s.gaps.some((g) => g.channel === channel);
          const seen = new Set(got);
          const last = got.length > 0 ? Math.max(...got) : -1;
          // Holes: events missing before the last one received (skipped); the tail: never reached.
          const holes = last + 1 - seen.size;
          const tail = EVENTS - 1 - last;
          const duplicates = got.length - seen.size;
          const ordered = got.every((n, k) => k === 0 || n > got[k - 1]!);
          if (duplicates > 0 || !ordered || ((holes > 0 || tail > 0) && !gapped))
            problems.push(
              `subscriber ${i} ${channel}: ${holes} skipped, ${tail} never reached${gapped ? " (gap told)" : ""}, ` +
                `${duplicates} duplicates, ${ordered ? "in order" : "OUT OF ORDER"}, ${s.connects} connections, ` +
                `errors [${s.errors.join(",")}]`,
            );
        }
      });
      if (process.env.RESUME_RAW_VERBOSE)
        console.log(
          `${setup}: ${cuts} cuts, ${subscribers.reduce((a, s) => a + s.connects, 0)} connections, ` +
            `${subscribers.reduce((a, s) => a + s.gaps.length, 0)} gaps, errors ` +
            `[${[...new Set(subscribers.flatMap((s) => s.errors))].join(",")}], problems: ${problems.length}`,
        );
      expect(problems).toEqual([]);
      // The log keeps every event here (1,000 per channel) and Redis stays up: with partitions, a gap
      // would mean a position of the cursor was lost on the way (an id not covering every partition).
      if (setup.includes("partitions")) expect(subscribers.flatMap((s) => s.gaps)).toEqual([]);
      expect(cuts).toBeGreaterThan(0);
      expect(errors).toEqual([]);
    }, 120_000);
  },
);
