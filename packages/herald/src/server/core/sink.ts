/**
 * A transport, seen from the hub: a sink of bytes with a backpressure reading. SSE over a Node
 * `ServerResponse` and over a web `ReadableStream` both fit.
 */
import type { ServerResponse } from "node:http";

/** Where a subscriber's bytes go. */
export interface Sink {
  /** Queues bytes for the client. */
  write(chunk: Uint8Array): void;
  /** Bytes queued but not yet taken by the client (or the kernel). */
  buffered(): number;
  /** Writes `last` (if any) and ends the stream gracefully. */
  end(last?: Uint8Array): void;
  /** Tears the connection down at once. */
  destroy(): void;
}

/**
 * A sink over a Node `ServerResponse`: the fast path. The response must be close-delimited (see
 * {@link prepareRawResponse}); after the headers are out, bytes go straight to the socket, skipping
 * chunked framing and the `ServerResponse` layer: one `socket.write` per flush.
 */
export function nodeSink(res: ServerResponse): Sink {
  return new NodeSink(res);
}

/** A class rather than closures: one small object per subscriber (memory matters at 10k+). */
class NodeSink implements Sink {
  /**
   * The first write goes through `res` so the headers go out with it (`headersSent` turns true as
   * soon as `writeHead` stores them, before they reach the socket, so it cannot tell).
   */
  private raw = false;

  constructor(private readonly res: ServerResponse) {}

  write(chunk: Uint8Array): void {
    const res = this.res;
    if (res.writableEnded) return;
    const socket = res.socket;
    if (this.raw && socket && !socket.destroyed) {
      socket.write(chunk);
    } else {
      res.write(chunk);
      this.raw = !res.chunkedEncoding;
    }
  }

  buffered(): number {
    return (this.res.socket?.writableLength ?? 0) + this.res.writableLength;
  }

  end(last?: Uint8Array): void {
    if (!this.res.writableEnded) this.res.end(last);
  }

  destroy(): void {
    this.res.destroy();
  }
}

/**
 * Makes `res` a close-delimited HTTP/1.1 response (`Connection: close`, no chunked framing), which
 * is valid for a stream that ends when the connection does, and lets {@link nodeSink} write raw
 * bytes to the socket.
 */
export function prepareRawResponse(res: ServerResponse): void {
  res.useChunkedEncodingByDefault = false;
  res.shouldKeepAlive = false;
}

/**
 * A web `ReadableStream` of bytes and its sink. The stream's queue is measured in bytes, so
 * `buffered()` is what the consumer has not yet pulled.
 */
export function streamSink(onCancel: () => void): { stream: ReadableStream<Uint8Array>; sink: Sink } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let open = true;
  const highWaterMark = 64 * 1024;
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      cancel() {
        open = false;
        onCancel();
      },
    },
    { highWaterMark, size: (chunk) => chunk.byteLength },
  );
  const sink: Sink = {
    write: (chunk) => {
      if (open) controller.enqueue(chunk);
    },
    buffered: () => (open ? highWaterMark - (controller.desiredSize ?? 0) : 0),
    end: (last) => {
      if (!open) return;
      open = false;
      if (last) controller.enqueue(last);
      controller.close();
    },
    destroy: () => {
      if (!open) return;
      open = false;
      controller.error(new Error("herald: stream destroyed"));
    },
  };
  return { stream, sink };
}
