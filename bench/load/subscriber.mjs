/**
 * One SSE subscriber on a raw TCP socket, with the least parsing that still measures: check the
 * status line, then find every `"t":<number>` in the body (one per app event: the publish time
 * the server put in the payload) and report its age. Everything else (retry, comments, control
 * events, HTTP chunk-size lines) is skipped unparsed. Works on chunked and unchunked bodies
 * because servers write whole events per chunk.
 */
import net from "node:net";
import { wallMs } from "../lib/publisher.mjs";

const KEY = Buffer.from('"t":');
const HEADER_END = Buffer.from("\r\n\r\n");
const READ_BUFFER = Buffer.alloc(256 * 1024);

function isNumberByte(c) {
  // 0-9 . - + e E
  return (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 43 || c === 101 || c === 69;
}

/**
 * A scanner over a byte stream: finds every `key` followed by a number (the publish time) and calls
 * `onEvent(now - number)`; keeps a key or number cut by a read boundary for the next read.
 * The SSE and poll bodies carry `"t":`; a Pusher frame's data is a JSON string, so `\"t\":` there.
 */
export function createScanner(key, onEvent) {
  let tail = null;
  const endsWithKeyPrefix = (buf, k) => {
    const from = buf.length - k;
    for (let m = 0; m < k; m++) if (buf[from + m] !== key[m]) return false;
    return true;
  };
  return function scan(chunk) {
    const now = wallMs();
    let buf = chunk;
    if (tail) {
      buf = Buffer.concat([tail, chunk]);
      tail = null;
    }
    let i = 0;
    while ((i = buf.indexOf(key, i)) !== -1) {
      let j = i + key.length;
      while (j < buf.length && isNumberByte(buf[j])) j++;
      if (j === buf.length) {
        tail = Buffer.from(buf.subarray(i));
        return;
      }
      onEvent(now - Number(buf.toString("latin1", i + key.length, j)));
      i = j;
    }
    // Keep a possible start of the key cut at the end of this read.
    for (let k = Math.min(key.length - 1, buf.length); k > 0; k--) {
      if (endsWithKeyPrefix(buf, k)) {
        tail = Buffer.from(buf.subarray(buf.length - k));
        return;
      }
    }
  };
}

export { HEADER_END, READ_BUFFER };

/**
 * @param {{ port: number, path: string,
 *           onOpen: (error: Error | null) => void, onEvent: (latencyMs: number) => void, onClose: (error: Error | null) => void }} o
 */
export function openSubscriber({ port, path, onOpen, onEvent, onClose }) {
  const socket = net.connect({
    host: "127.0.0.1",
    port,
    noDelay: true,
    // Read into one shared buffer, bypassing the Readable stream machinery: the bytes are scanned
    // synchronously in the callback and never kept (what must survive a read is copied).
    onread: { buffer: READ_BUFFER, callback: (nread, buf) => onData(buf.subarray(0, nread)) },
  });
  let head = null; // bytes of the response head until it is complete; null once the body started
  let opened = false;
  const scan = createScanner(KEY, onEvent);
  let lastError = null;

  socket.on("connect", () => {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
  });
  function onData(chunk) {
    if (!opened) {
      head = head ? Buffer.concat([head, chunk]) : Buffer.from(chunk);
      const end = head.indexOf(HEADER_END);
      if (end === -1) return;
      const statusLine = head.toString("latin1", 0, head.indexOf("\r\n"));
      if (!/^HTTP\/1\.1 200 /.test(statusLine)) {
        lastError = new Error(`unexpected response: ${statusLine}`);
        onOpen(lastError);
        opened = true;
        socket.destroy();
        return;
      }
      opened = true;
      onOpen(null);
      chunk = head.subarray(end + 4);
      head = null;
    }
    scan(chunk);
  }
  socket.on("error", (error) => {
    lastError = error;
  });
  socket.on("close", () => {
    if (!opened) {
      opened = true;
      onOpen(lastError ?? new Error("closed before the response head"));
    }
    onClose(lastError);
  });

  return socket;
}
