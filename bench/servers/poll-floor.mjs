/**
 * poll-floor: the least a long-poll wake can cost on node:http, measured beside herald-poll in its
 * row (lib/scenario-poll.mjs). The same exchange as Herald's poll route, with nothing else: a
 * request without `lastEventId` is answered at once with a cursor; one with it is held; each
 * published event answers every held request with one body encoded once per event (the same
 * envelope and headers as Herald's answer). No routing, admission, log, cursor check or token. What
 * remains is node:http's cost of one answer and of parsing the next request.
 */
import { serve } from "./node-harness.mjs";

const held = new Set();
let seq = 0;
const HEADERS = { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" };

function answer(res, body, cursor) {
  res.writeHead(200, { ...HEADERS, ETag: `"${cursor}"` });
  res.end(body);
}

serve({
  handleSse(req, res) {
    if (!req.url.includes("lastEventId=")) {
      const cursor = `floor-${seq}`;
      answer(res, `{"events":[],"cursor":"${cursor}","retryMs":0,"gaps":[]}`, cursor);
      return;
    }
    held.add(res);
    res.once("close", () => held.delete(res));
  },
  publish(payload) {
    const cursor = `floor-${++seq}`;
    const event = `{"channel":"bench","event":"tick","id":"${cursor}","ts":${Date.now()},"data":${JSON.stringify(payload)}}`;
    const body = `{"events":[${event}],"cursor":"${cursor}","retryMs":250,"gaps":[]}`;
    const answering = [...held];
    held.clear();
    for (const res of answering) answer(res, body, cursor);
  },
  subscribers: () => held.size,
  keepAliveTimeoutMs: 65_000,
});
