import { afterEach, describe, expect, it } from "vitest";
import { EventSource } from "eventsource";
import { createHerald, type Herald } from "../src/server/index.js";
import { createHeraldClient, type Transition } from "../src/client/index.js";
import { startServer, waitFor, type TestServer } from "./helpers.js";

let herald: Herald;
let server: TestServer;
afterEach(async () => {
  await server?.close();
  await herald?.close();
});

describe("rotation for serverless", () => {
  it("ends streams cleanly after rotateAfterMs with retry: first, and the client resumes without loss", async () => {
    herald = createHerald({ rotateAfterMs: 300 });
    server = await startServer(herald, { fetch: true });
    const client = createHeraldClient({ url: server.url, EventSource: EventSource as never, onlineTarget: null });
    const got: number[] = [];
    const transitions: Transition[] = [];
    client.on("state", (t) => transitions.push(t));
    client.subscribe<number>("feed", (e) => got.push(e.data));
    await waitFor(() => client.state === "connected");
    let n = 0;
    // Publish for a while, and at least until the server has rotated the stream once (bounded).
    const end = Date.now() + 2600;
    const hardEnd = Date.now() + 15_000;
    while ((Date.now() < end || !transitions.some((t) => t.reason === "rotate")) && Date.now() < hardEnd) {
      await herald.publish("feed", "n", n++);
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitFor(() => got.length === n, 10_000, "all events");
    client.close();
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
    const rotations = transitions.filter((t) => t.reason === "rotate");
    expect(rotations.length).toBeGreaterThanOrEqual(1);
    expect(rotations.every((t) => t.delayMs === 0)).toBe(true);
  }, 20_000);

  it("sends retry: before the rotate event so native EventSource reconnects promptly", async () => {
    herald = createHerald({ rotateAfterMs: 100, retryMs: 250 });
    const res = await herald.handleRequest(new Request("http://x/?channel=a"));
    const text = await res.text(); // the stream ends by itself
    expect(text).toMatch(/retry: 250\nevent: herald:rotate\ndata: \{"reason":"rotate"\}\n\n$/);
    expect(herald.stats().subscribers).toBe(0);
  });
});
