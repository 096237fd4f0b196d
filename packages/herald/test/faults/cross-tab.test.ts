/**
 * After an outage every tab comes back with the first one: two clients of one origin follow the same
 * endpoint through a real proxy; the network fails (refused, open connections reset) and returns.
 * The second client's own backoff would keep it away for about a minute (as a background tab's
 * throttled, grown delay does), yet it reconnects as soon as the first one does, told over
 * `BroadcastChannel` (Node's, the same API as the browser's), and misses nothing.
 */
import { afterEach, describe, expect, it } from "vitest";
import { startRig, waitFor, type Rig } from "./harness.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe("cross-tab reconnection", () => {
  it("a client waiting out a long backoff retries as soon as another tab on the same endpoint connects", async () => {
    rig = await startRig();
    const front = rig.client({ crossTab: true, backoff: { baseMs: 50, capMs: 200 } });
    const background = rig.client({ crossTab: true, backoff: { baseMs: 60_000, capMs: 60_000 }, random: () => 0.99 });
    const reasons: string[] = [];
    background.client.on("state", (t) => reasons.push(t.reason));
    await waitFor(
      () => front.client.state === "connected" && background.client.state === "connected",
      10_000,
      "both live",
    );
    await rig.publish(3);
    await waitFor(() => background.received.length === 3, 10_000, "the first events");

    rig.proxy.set({ refuse: true });
    rig.proxy.resetAll();
    await waitFor(() => background.client.state === "reconnecting", 10_000, "the outage to be seen");
    await rig.publish(3);
    const attempts = rig.proxy.accepted;
    await waitFor(() => rig!.proxy.accepted >= attempts + 3, 10_000, "the front tab's retries to fail");
    expect(background.client.state).toBe("reconnecting"); // still waiting out its ~59 s delay

    rig.proxy.set({});
    await waitFor(() => background.client.state === "connected", 20_000, "the background tab back with the front one");
    expect(reasons).toContain("peer");
    await rig.publish(3);
    await waitFor(() => background.received.length === 9 && front.received.length === 9, 10_000, "every event");
    expect(background.complete(9)).toBe(true);
    expect(front.complete(9)).toBe(true);
  }, 60_000);

  it("is off by default outside a browser page", async () => {
    rig = await startRig();
    const front = rig.client({ backoff: { baseMs: 50, capMs: 200 } });
    const background = rig.client({ backoff: { baseMs: 60_000, capMs: 60_000 }, random: () => 0.99 });
    await waitFor(
      () => front.client.state === "connected" && background.client.state === "connected",
      10_000,
      "both live",
    );
    rig.proxy.set({ refuse: true });
    rig.proxy.resetAll();
    await waitFor(() => background.client.state === "reconnecting", 10_000, "the outage to be seen");
    rig.proxy.set({});
    await waitFor(() => front.client.state === "connected", 10_000, "the front tab back");
    // The front tab's connect is announced on no channel: the other keeps waiting.
    await rig.publish(1);
    await waitFor(() => front.received.length === 1, 10_000, "an event on the front tab");
    expect(background.client.state).toBe("reconnecting");
  }, 30_000);
});
