/**
 * The resume contract every transport keeps, as one function the transports' test files run:
 * subscribers on several channels, connections cut at PRNG-chosen points of the stream (driven by
 * a seeded PRNG, so a failing run can be replayed); every event arrives exactly once and in order
 * per channel, no gap is reported, and where a transport holds a connection open, the tail arrives
 * live (no new connection brings it).
 */
import { expect } from "vitest";
import type { HeraldClient } from "../../src/client/index.js";
import type { GapPayload } from "../../src/protocol/envelope.js";
import { prng, waitFor } from "../helpers.js";

/** One transport on one broker setup, as the contract drives it. */
export interface TransportRig {
  /** Publishes on the (publishing) Herald instance. */
  publish(channel: string, data: { n: number }): Promise<unknown>;
  /** A new client on this transport, not yet subscribed. */
  client(random: () => number): HeraldClient;
  /** The server-side sockets of the clients' connections, to cut. */
  sockets(): Iterable<{ destroy(): void; readonly destroyed: boolean }>;
  /**
   * Connections accepted so far, when the transport keeps one open per client (SSE, WebSocket):
   * each cut brings exactly one more, and the tail must come without one. Null for polling.
   */
  connections(): number | null;
}

/** Sizes of one run. */
export interface CutsPlan {
  subscribers: number;
  channels: string[];
  /** Events published, spread over the channels at random. */
  total: number;
  /** Chance of a cut after each publish. */
  cutChance: number;
  /** Fewest cuts the run must have made (so it tested something). */
  minCuts: number;
  seed: number;
  /** Longest wait for each phase, in ms. */
  waitMs?: number;
}

/** Runs the contract on `rig`; returns the number of cuts made. */
export async function resumeUnderCuts(rig: TransportRig, plan: CutsPlan): Promise<number> {
  const random = prng(plan.seed);
  const waitMs = plan.waitMs ?? 30_000;
  const clients: HeraldClient[] = [];
  const received: Map<string, number[]>[] = [];
  const gaps: GapPayload[] = [];
  try {
    for (let i = 0; i < plan.subscribers; i++) {
      const client = rig.client(random);
      clients.push(client);
      client.on("gap", (g) => gaps.push(g));
      const perChannel = new Map<string, number[]>();
      received.push(perChannel);
      for (const channel of plan.channels) {
        perChannel.set(channel, []);
        client.subscribe<{ n: number }>(channel, (e) => perChannel.get(channel)!.push(e.data.n));
      }
    }
    await waitFor(() => clients.every((c) => c.state === "connected"), waitMs, "all connected");
    const initial = rig.connections();

    const counts = new Map(plan.channels.map((c) => [c, 0]));
    const publish = async (channel: string) => {
      const n = counts.get(channel)!;
      counts.set(channel, n + 1);
      await rig.publish(channel, { n });
    };
    let cuts = 0;
    for (let i = 0; i < plan.total; i++) {
      await publish(plan.channels[Math.floor(random() * plan.channels.length)]!);
      if (random() < plan.cutChance) {
        const open = [...rig.sockets()].filter((s) => !s.destroyed);
        const victim = open[Math.floor(random() * open.length)];
        if (victim) {
          victim.destroy();
          cuts++;
        }
      }
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    expect(cuts).toBeGreaterThanOrEqual(plan.minCuts);

    // No more cuts. Once everyone is back, the tail arrives; on a held connection, live.
    await waitFor(
      () => (initial === null || rig.connections()! >= initial + cuts) && clients.every((c) => c.state === "connected"),
      waitMs,
      "all reconnected",
    );
    const beforeTail = rig.connections();
    for (let i = 0; i < 30; i++) await publish(plan.channels[i % plan.channels.length]!);
    const complete = () =>
      received.every((perChannel) => [...perChannel].every(([channel, list]) => list.length >= counts.get(channel)!));
    await waitFor(complete, waitMs, "every subscriber to hold every event");
    if (beforeTail !== null) expect(rig.connections()).toBe(beforeTail);

    for (const perChannel of received) {
      for (const [channel, list] of perChannel) {
        expect(list, channel).toEqual(Array.from({ length: counts.get(channel)! }, (_, n) => n));
      }
    }
    expect(gaps).toEqual([]);
    return cuts;
  } finally {
    for (const c of clients) c.close();
  }
}
