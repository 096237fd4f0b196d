/**
 * Fault scenarios, part 1: the network goes away and comes back, and the server restarts. Each is a
 * real Herald behind the TCP proxy and a real client through it; each checks the client's state
 * sequence and that every event arrives exactly once and in order, and records the time from the
 * network's return to `connected` for the table printed at the end. The tests run concurrently
 * (the 60 s outage alongside the others) to keep the wall time down.
 */
import { afterAll, describe, expect, it } from "vitest";
import type { HeraldClientOptions } from "../../src/client/index.js";
import { NPM_EVENTSOURCE, printTable, rows, sleep, startRig, waitFor, type Row } from "./harness.js";

afterAll(() => printTable());

/** A `window` for `online`/`offline`, fired by hand (what a browser does when the link changes). */
class FakeWindow {
  private readonly listeners = new Map<string, Set<() => void>>();
  addEventListener(type: string, fn: () => void) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)!.add(fn);
  }
  removeEventListener(type: string, fn: () => void) {
    this.listeners.get(type)?.delete(fn);
  }
  fire(type: string) {
    for (const fn of [...(this.listeners.get(type) ?? [])]) fn();
  }
}

/**
 * Connect, receive 10 events; the network refuses and every open connection is reset for
 * `outageMs` while 20 events are published; the network returns; 10 more. All 40 arrive once.
 */
async function outage(
  scenario: string,
  outageMs: number,
  transport: Row["transport"],
  browserEvents = false,
  backoff?: HeraldClientOptions["backoff"],
) {
  const rig = await startRig();
  try {
    const win = browserEvents ? new FakeWindow() : null;
    const seen = rig.client({
      EventSource: transport === "eventsource" ? NPM_EVENTSOURCE : undefined,
      onlineTarget: win,
      ...(backoff ? { backoff } : {}),
    });
    await waitFor(() => seen.client.state === "connected", 10_000, "first connection");
    await rig.publish(10);
    await waitFor(() => seen.received.length === 10, 10_000, "events before the outage");

    const cutAt = Date.now();
    rig.proxy.set({ refuse: true });
    rig.proxy.resetAll();
    win?.fire("offline");
    await rig.publish(20, outageMs / 25);
    await sleep(Math.max(0, cutAt + outageMs - Date.now()));
    expect(seen.client.state).not.toBe("connected");

    rig.proxy.set({});
    const back = Date.now();
    win?.fire("online");
    await waitFor(() => seen.connectedAt(back) !== null, 60_000, "reconnection after the outage");
    const toConnected = seen.connectedAt(back)! - back;
    await rig.publish(10);
    await waitFor(() => seen.received.length >= 40, 10_000, "every event");
    await sleep(50);

    expect(seen.received).toEqual(Array.from({ length: 40 }, (_, n) => n));
    expect(seen.states()).toBe("connecting connected reconnecting connected");
    if (browserEvents) expect(seen.reconnectReasons()).toContain("offline");
    rows.push({
      scenario,
      transport,
      toConnectedMs: toConnected,
      lost: seen.lost(40),
      duplicates: seen.duplicates(),
      reconnects: seen.reconnectReasons().length,
      note: `attempt ${seen.client.attempt} when back; reasons ${[...new Set(seen.reconnectReasons())].join(",")}`,
    });
  } finally {
    await rig.close();
  }
}

describe.concurrent("the network goes away and comes back", () => {
  it("outage of 60 s (refuse + reset), no browser events: backoff, then resume without loss", async () => {
    // Backoff capped at 2 s (the default cap is 30 s): after a minute of refused attempts the next
    // one comes within 2 s of the network's return, not up to 30 s later (a wait that proves nothing
    // more). The attempts still back off, up to the cap, for the whole minute.
    await outage("outage 60 s (backoff cap 2 s)", 60_000, "fetch", false, { capMs: 2000 });
  }, 180_000);

  it("outage of 5 s (refuse + reset): resume without loss (fetch transport)", async () => {
    await outage("outage 5 s", 5000, "fetch");
  }, 90_000);

  it("outage of 5 s (refuse + reset): resume without loss (eventsource package)", async () => {
    await outage("outage 5 s", 5000, "eventsource");
  }, 90_000);

  it("outage of 5 s the browser reports (offline, then online): reconnects at once", async () => {
    await outage("outage 5 s + offline/online", 5000, "fetch", true);
  }, 90_000);

  it("server restart on the memory broker: a gap (epoch), then live again on the new instance", async () => {
    const rig = await startRig();
    try {
      const seen = rig.client();
      await waitFor(() => seen.client.state === "connected", 10_000, "first connection");
      await rig.publish(10);
      await waitFor(() => seen.received.length === 10, 10_000, "events before the restart");

      await rig.restart();
      const back = Date.now();
      await waitFor(() => seen.connectedAt(back) !== null && seen.gaps.length > 0, 60_000, "reconnection with a gap");
      const toConnected = seen.connectedAt(back)! - back;
      await rig.publish(10); // on the new instance
      await waitFor(() => seen.received.length >= 20, 10_000, "events after the restart");
      await sleep(50);

      expect(seen.received).toEqual(Array.from({ length: 20 }, (_, n) => n));
      expect(seen.gaps.map((g) => [g.channel, g.reason])).toEqual([["feed", "epoch"]]);
      expect(seen.states()).toBe("connecting connected reconnecting connected");
      rows.push({
        scenario: "server restart (memory broker)",
        transport: "fetch",
        toConnectedMs: toConnected,
        lost: seen.lost(20),
        duplicates: seen.duplicates(),
        reconnects: seen.reconnectReasons().length,
        note: `gap ${seen.gaps[0]!.reason}; errors ${[...new Set(seen.errors)].join(",")}`,
      });
    } finally {
      await rig.close();
    }
  }, 90_000);
});
