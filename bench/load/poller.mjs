/**
 * One poll client on a raw keep-alive TCP socket, as Herald's poll transport uses the endpoint:
 * `GET {path}&lastEventId={cursor}[&wait=s]` with `If-None-Match: "{cursor}"`, one request at a
 * time. The first poll (no cursor) answers at once with the head cursor and counts as "open"; then
 * it either long-polls (sends the next request as soon as an answer arrives) or short-polls every
 * `intervalMs`, as the process-wide `mode` says. Events are found in the JSON body by their
 * `"t":<publish time>` as in the SSE subscriber; the cursor by `"cursor":"…"`.
 */
import net from "node:net";
import { createScanner, HEADER_END, READ_BUFFER } from "./subscriber.mjs";

const KEY = Buffer.from('"t":');
const CURSOR = /"cursor":"([^"]*)"/;

/**
 * The poll mode shared by every poller of a load process; `generation` changes on each switch so
 * that short pollers start at a random point of their interval (an even spread of requests).
 * @type {{ long: boolean, waitS: number, intervalMs: number, generation: number }}
 */
export const pollMode = { long: true, waitS: 25, intervalMs: 5000, generation: 0 };

/** Parses one complete HTTP response at the start of `buf`; null when more bytes are needed. */
function parseResponse(buf) {
  const end = buf.indexOf(HEADER_END);
  if (end === -1) return null;
  const head = buf.toString("latin1", 0, end);
  const status = Number(head.slice(9, 12));
  const lower = head.toLowerCase();
  const bodyStart = end + 4;
  if (status === 304 || status === 204) return { status, body: null, size: bodyStart };
  const length = /\r\ncontent-length: *(\d+)/.exec(lower);
  if (length) {
    const n = Number(length[1]);
    if (buf.length < bodyStart + n) return null;
    return { status, body: buf.subarray(bodyStart, bodyStart + n), size: bodyStart + n };
  }
  if (lower.includes("\r\ntransfer-encoding: chunked")) {
    const parts = [];
    let at = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf("\r\n", at);
      if (lineEnd === -1) return null;
      const n = parseInt(buf.toString("latin1", at, lineEnd), 16);
      if (n === 0) {
        if (buf.length < lineEnd + 4) return null;
        return { status, body: Buffer.concat(parts), size: lineEnd + 4 };
      }
      if (buf.length < lineEnd + 2 + n + 2) return null;
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + n));
      at = lineEnd + 2 + n + 2;
    }
  }
  return { status, body: Buffer.alloc(0), size: bodyStart };
}

/**
 * @param {{ port: number, path: string,
 *           onOpen: (error: Error | null) => void, onEvent: (latencyMs: number) => void,
 *           onAnswer: (status: number, events: number) => void, onClose: (error: Error | null) => void }} o
 */
export function openPoller({ port, path, onOpen, onEvent, onAnswer, onClose }) {
  const socket = net.connect({
    host: "127.0.0.1",
    port,
    noDelay: true,
    onread: { buffer: READ_BUFFER, callback: (nread, buf) => onData(buf.subarray(0, nread)) },
  });
  let acc = null;
  let cursor = null;
  let opened = false;
  let lastError = null;
  let generation = pollMode.generation;
  let timer = null;
  let events = 0;
  const scan = createScanner(KEY, (ms) => {
    events++;
    onEvent(ms);
  });

  function send() {
    timer = null;
    if (socket.destroyed) return;
    let url = path;
    if (cursor !== null) url += `&lastEventId=${encodeURIComponent(cursor)}`;
    if (cursor !== null && pollMode.long) url += `&wait=${pollMode.waitS}`;
    const etag = cursor !== null ? `If-None-Match: "${cursor}"\r\n` : "";
    socket.write(`GET ${url} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: application/json\r\n${etag}\r\n`);
  }

  function next(delayMs) {
    if (delayMs <= 0) return send();
    timer = setTimeout(send, delayMs);
  }

  function onData(chunk) {
    acc = acc ? Buffer.concat([acc, chunk]) : Buffer.from(chunk);
    const response = parseResponse(acc);
    if (!response) return;
    acc = response.size < acc.length ? Buffer.from(acc.subarray(response.size)) : null;
    const { status, body } = response;
    events = 0;
    if (status === 200 && body) {
      const m = CURSOR.exec(body.toString("latin1"));
      if (m) cursor = m[1];
      scan(body);
    }
    onAnswer(status, events);
    if (!opened) {
      opened = true;
      if (status !== 200 || cursor === null) {
        lastError = new Error(`first poll answered ${status}`);
        onOpen(lastError);
        socket.destroy();
        return;
      }
      onOpen(null);
    }
    if (status !== 200 && status !== 304) return next(1000); // 429 or 5xx: come back later
    if (pollMode.long) return next(0);
    if (generation !== pollMode.generation) {
      generation = pollMode.generation;
      return next(Math.random() * pollMode.intervalMs);
    }
    next(pollMode.intervalMs);
  }

  socket.on("connect", send);
  socket.on("error", (error) => {
    lastError = error;
  });
  socket.on("close", () => {
    if (timer) clearTimeout(timer);
    if (!opened) {
      opened = true;
      onOpen(lastError ?? new Error("closed before the first answer"));
    }
    onClose(lastError);
  });
  return socket;
}
