/**
 * One WebSocket subscriber on a raw TCP socket: the upgrade request by hand, then (with `pusher`)
 * the Pusher handshake: wait for `pusher:connection_established`, send `pusher:subscribe` for
 * `channel` as a masked text frame, and count as open on `pusher_internal:subscription_succeeded`.
 * Without `pusher` (the plain `ws` baseline) it is open once the server answers 101.
 *
 * Server frames are not decoded: every event's payload carries `\"t\":<publish time>` (the data of
 * a Pusher event is a JSON string), which the scanner finds in the raw bytes; frame headers sit
 * between payloads, never inside one, so they cannot split a match that a read boundary does not.
 */
import crypto from "node:crypto";
import net from "node:net";
import { createScanner, HEADER_END, READ_BUFFER } from "./subscriber.mjs";

const KEY = Buffer.from('\\"t\\":');
const ESTABLISHED = Buffer.from("pusher:connection_established");
const SUBSCRIBED = Buffer.from("subscription_succeeded");

/** A masked client text frame (mask key 0: the payload bytes stay as they are, which RFC 6455 allows). */
function textFrame(text) {
  const payload = Buffer.from(text);
  if (payload.length >= 126) throw new Error("bench frames are short");
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

/**
 * @param {{ port: number, path: string, pusher?: boolean, channel?: string,
 *           onOpen: (error: Error | null) => void, onEvent: (latencyMs: number) => void, onClose: (error: Error | null) => void }} o
 */
export function openWsSubscriber({ port, path, pusher = false, channel = "bench", onOpen, onEvent, onClose }) {
  const socket = net.connect({
    host: "127.0.0.1",
    port,
    noDelay: true,
    onread: { buffer: READ_BUFFER, callback: (nread, buf) => onData(buf.subarray(0, nread)) },
  });
  let head = null;
  let upgraded = false;
  let opened = false;
  let pending = null; // handshake bytes not yet matched (Pusher)
  let subscribeSent = false;
  let lastError = null;
  const scan = createScanner(KEY, onEvent);

  const fail = (error) => {
    lastError = error;
    if (!opened) {
      opened = true;
      onOpen(error);
    }
    socket.destroy();
  };

  socket.on("connect", () => {
    const key = crypto.randomBytes(16).toString("base64");
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  });

  function onData(chunk) {
    if (!upgraded) {
      head = head ? Buffer.concat([head, chunk]) : Buffer.from(chunk);
      const end = head.indexOf(HEADER_END);
      if (end === -1) return;
      const statusLine = head.toString("latin1", 0, head.indexOf("\r\n"));
      if (!/^HTTP\/1\.1 101 /.test(statusLine)) return fail(new Error(`unexpected response: ${statusLine}`));
      upgraded = true;
      chunk = head.subarray(end + 4);
      head = null;
      if (!pusher) {
        opened = true;
        onOpen(null);
      } else {
        pending = Buffer.alloc(0);
      }
    }
    if (!opened) {
      // Pusher handshake: small frames, kept until both markers are seen.
      pending = Buffer.concat([pending, chunk]);
      if (!subscribeSent && pending.indexOf(ESTABLISHED) !== -1) {
        subscribeSent = true;
        socket.write(textFrame(`{"event":"pusher:subscribe","data":{"channel":"${channel}"}}`));
      }
      if (subscribeSent && pending.indexOf(SUBSCRIBED) !== -1) {
        opened = true;
        pending = null;
        onOpen(null);
        return;
      }
      if (pending.indexOf("pusher:error") !== -1 || pending.indexOf("subscription_error") !== -1) {
        fail(new Error(`pusher refused: ${pending.toString("utf8").slice(0, 200)}`));
      }
      return;
    }
    if (chunk.length > 0) scan(chunk);
  }

  socket.on("error", (error) => {
    lastError = error;
  });
  socket.on("close", () => {
    if (!opened) {
      opened = true;
      onOpen(lastError ?? new Error("closed before the subscription"));
    }
    onClose(lastError);
  });
  return socket;
}
