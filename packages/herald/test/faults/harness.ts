/**
 * The fault harness: a real Herald (`createHerald`, served by `startServer`) behind the TCP proxy,
 * real clients connecting through it, and what each client saw (state changes with times, every
 * event received, gaps, errors). Scenarios record one row each for the table printed at the end.
 */
import { EventSource as NpmEventSource } from "eventsource";
import { createHerald, type Herald, type HeraldOptions } from "../../src/server/index.js";
import {
  createHeraldClient,
  type ConnectionState,
  type HeraldClient,
  type HeraldClientOptions,
} from "../../src/client/index.js";
import type { GapPayload } from "../../src/protocol/envelope.js";
import { startServer, waitFor, type TestServer } from "../helpers.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

export { waitFor };
export const CHANNEL = "feed";

/** The `eventsource` npm package (it hides comment lines, like the browser's EventSource). */
export const NPM_EVENTSOURCE = NpmEventSource as unknown as HeraldClientOptions["EventSource"];

/** One line of the closing table. */
export interface Row {
  scenario: string;
  transport: "fetch" | "eventsource";
  /** From the network's return (or the fault's start, for a stall) to `connected`, in ms. */
  toConnectedMs: number | string;
  lost: number;
  duplicates: number;
  /** Reconnect transitions seen. */
  reconnects: number;
  note: string;
}

export const rows: Row[] = [];

/** Prints the rows as a compact table. */
export function printTable(): void {
  if (rows.length === 0) return;
  const head = ["scenario", "transport", "→connected ms", "lost", "dup", "reconnects", "note"];
  const body = rows.map((r) => [
    r.scenario,
    r.transport,
    String(r.toConnectedMs),
    String(r.lost),
    String(r.duplicates),
    String(r.reconnects),
    r.note,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ");
  console.log(
    ["", "Fault scenarios", line(head), widths.map((w) => "-".repeat(w)).join("-|-"), ...body.map(line)].join("\n"),
  );
}

/** What one client saw. */
export class Observed {
  readonly transitions: { at: number; prev: ConnectionState; next: ConnectionState; reason: string }[] = [];
  readonly received: number[] = [];
  readonly gaps: GapPayload[] = [];
  readonly errors: string[] = [];

  constructor(readonly client: HeraldClient) {
    client.on("state", (t) => this.transitions.push({ at: Date.now(), prev: t.prev, next: t.next, reason: t.reason }));
    client.on("gap", (g) => this.gaps.push(g));
    client.on("error", (e) => this.errors.push(e.code));
  }

  /** The states entered, consecutive repeats collapsed: e.g. `connecting connected reconnecting connected`. */
  states(): string {
    const out: string[] = [];
    for (const t of this.transitions) if (out.at(-1) !== t.next) out.push(t.next);
    return out.join(" ");
  }

  /** Reasons of the transitions into `reconnecting`. */
  reconnectReasons(): string[] {
    return this.transitions.filter((t) => t.next === "reconnecting").map((t) => t.reason);
  }

  /** Time of the first `connected` at or after `since`, or null. */
  connectedAt(since: number): number | null {
    return this.transitions.find((t) => t.next === "connected" && t.at >= since)?.at ?? null;
  }

  /** Events 0..total-1 not received. */
  lost(total: number): number {
    const got = new Set(this.received);
    let lost = 0;
    for (let n = 0; n < total; n++) if (!got.has(n)) lost++;
    return lost;
  }

  duplicates(): number {
    return this.received.length - new Set(this.received).size;
  }

  /** True when every event 0..total-1 arrived exactly once, in order. */
  complete(total: number): boolean {
    return this.received.length === total && this.received.every((n, i) => n === i);
  }
}

/** A Herald behind a proxy, with the requests its server saw. */
export interface Rig {
  herald: Herald;
  server: TestServer;
  proxy: TcpProxy;
  /** Every request the server received: when, and the status it got once answered. */
  readonly requests: { at: number; status: number | null }[];
  /** Events published so far (numbered 0..published-1). */
  readonly published: number;
  /** Publishes `count` numbered events, `gapMs` apart. */
  publish(count: number, gapMs?: number): Promise<void>;
  /** A client through the proxy, following {@link CHANNEL}. */
  client(options?: Partial<HeraldClientOptions>): Observed;
  /** Replaces the Herald and its server (a restart: a new memory broker, a new port). */
  restart(options?: HeraldOptions): Promise<void>;
  close(): Promise<void>;
}

/** Starts a Herald on port 0 behind a fresh proxy. */
export async function startRig(options: HeraldOptions = {}): Promise<Rig> {
  const requests: { at: number; status: number | null }[] = [];
  const clients: Observed[] = [];
  let herald = createHerald(options);
  let server = await serve(herald, requests);
  const proxy = await startTcpProxy(Number(new URL(server.url).port));
  let published = 0;
  return {
    get herald() {
      return herald;
    },
    get server() {
      return server;
    },
    proxy,
    requests,
    get published() {
      return published;
    },
    async publish(count, gapMs = 0) {
      for (let i = 0; i < count; i++) {
        await herald.publish(CHANNEL, "tick", { n: published++ });
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
    },
    client(extra = {}) {
      const client = createHeraldClient({
        url: `${proxy.url}?`,
        onlineTarget: null,
        visibilityTarget: null,
        ...extra,
      });
      const observed = new Observed(client);
      client.subscribe<{ n: number }>(CHANNEL, (e) => observed.received.push(e.data.n));
      clients.push(observed);
      return observed;
    },
    async restart(next = options) {
      await server.close();
      await herald.close();
      herald = createHerald(next);
      server = await serve(herald, requests);
      proxy.retarget(Number(new URL(server.url).port));
    },
    async close() {
      for (const c of clients) c.client.close();
      await proxy.close();
      await server.close();
      await herald.close();
    },
  };
}

async function serve(herald: Herald, requests: { at: number; status: number | null }[]): Promise<TestServer> {
  const server = await startServer(herald);
  server.server.on("request", (_req, res) => {
    const record = { at: Date.now(), status: null as number | null };
    requests.push(record);
    const done = () => (record.status ??= res.statusCode);
    res.on("finish", done);
    res.on("close", done);
    // An SSE response stays open: its status is known once the head is out.
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => typeof res;
    res.writeHead = ((...args: unknown[]) => {
      record.status = typeof args[0] === "number" ? args[0] : res.statusCode;
      return writeHead(...args);
    }) as typeof res.writeHead;
  });
  return server;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
