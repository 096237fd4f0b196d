/** better-sse: a better-sse channel on node:http; one `channel.broadcast` per event (library defaults). */
import { createChannel, createSession } from "better-sse";
import { serve } from "./node-harness.mjs";

const channel = createChannel();

serve({
  async handleSse(req, res) {
    try {
      const session = await createSession(req, res);
      channel.register(session);
    } catch (error) {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(error));
    }
  },
  publish: (payload) => channel.broadcast(payload, "tick"),
  subscribers: () => channel.sessionCount,
});
