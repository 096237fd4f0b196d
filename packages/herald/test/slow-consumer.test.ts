import { afterEach, describe, expect, it } from "vitest";
import net from "node:net";
import { EventSource } from "eventsource";
import { createHerald, type Herald } from "../src/server/index.js";
import { startServer, waitFor, type TestServer } from "./helpers.js";

let herald: Herald;
let server: TestServer;
afterEach(async () => {
  await server?.close();
  await herald?.close();
});

describe("slow consumer", () => {
  it("drops a subscriber that stops reading at the cap; the others keep receiving everything", async () => {
    const CAP = 1024 * 1024;
    herald = createHerald({ maxBufferedBytes: CAP });
    server = await startServer(herald);
    const port = Number(new URL(server.url).port);

    // A raw client that sends the request, then never reads (paused socket, tiny receive window).
    const stalled = net.connect({ port, host: "127.0.0.1" });
    stalled.setNoDelay(true);
    await new Promise<void>((r) => stalled.once("connect", () => r()));
    stalled.write("GET /?channel=firehose HTTP/1.1\r\nHost: x\r\n\r\n");
    stalled.pause();
    stalled.on("error", () => {});

    const healthy = new EventSource(`${server.url}?channel=firehose`);
    let healthyCount = 0;
    healthy.onmessage = () => healthyCount++;
    await waitFor(() => herald.stats().subscribers === 2);

    const payload = "x".repeat(16 * 1024);
    const TOTAL = 2500; // ~40 MiB: far past the cap plus the kernel's socket buffers
    let maxSubscriberBuffered = 0;
    for (let i = 0; i < TOTAL; i++) {
      await herald.publish("firehose", "blob", { i, payload });
      if (i % 5 === 0) {
        // Pace the stream so a healthy reader keeps up even on a loaded machine.
        await new Promise((r) => setTimeout(r, 5));
        for (const socket of server.sockets)
          maxSubscriberBuffered = Math.max(maxSubscriberBuffered, socket.writableLength);
      }
    }
    await waitFor(() => herald.stats().dropped === 1, 10_000, "the stalled subscriber to be dropped");
    await waitFor(() => healthyCount === TOTAL, 20_000, "the healthy subscriber to get everything");
    healthy.close();
    await waitFor(() => herald.stats().subscribers === 0, 5000, "the healthy subscriber to leave");
    // Server memory per subscriber stayed bounded by the cap (plus one coalesced write).
    expect(maxSubscriberBuffered).toBeLessThan(CAP + 256 * 1024);
    // The stalled client is torn down after the grace period even though it never reads.
    await waitFor(() => server.sockets.size === 0, 15_000, "the server to destroy the stalled socket");
    expect(herald.stats().timerActive).toBe(false);
  }, 40_000);
});
