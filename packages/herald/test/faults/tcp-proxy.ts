/**
 * Test helper: a TCP proxy on 127.0.0.1 that the test controls, between a real client and a real
 * server, to fail the network the ways the field does: refuse new connections, reset every open
 * one, blackhole (accept and forward nothing), stall open connections mid-stream, delay every
 * chunk, throttle, or hold the first replies of each connection (a slow handshake); also freeze
 * only the connections open now (a dead NAT entry: new connections work) and point at another
 * server (a restart on a new port).
 */
import net from "node:net";

/** How the proxy treats traffic; change it at any time with `set`. */
export interface FaultMode {
  /** New connections are refused (accepted and reset at once, as a closed port would be). */
  refuse?: boolean;
  /** New connections are accepted but nothing is forwarded either way (a dead NAT or Wi-Fi). */
  blackhole?: boolean;
  /** Open connections forward nothing either way until the stall is lifted (bytes are held, then sent). */
  stall?: boolean;
  /** Added delay for every chunk, in ms, in both directions. */
  delayMs?: number;
  /** Largest bytes per second forwarded per connection and direction (0: unlimited). */
  bytesPerSecond?: number;
  /** Replies from the server are held for this long after each connection opens (a slow handshake). */
  holdFirstMs?: number;
}

/** A running proxy. */
export interface TcpProxy {
  readonly port: number;
  /** `http://127.0.0.1:{port}/` */
  readonly url: string;
  /** Connections accepted since start (refused ones included). */
  readonly accepted: number;
  /** Replaces the fault mode (lifting a stall releases what was held). */
  set(mode: FaultMode): void;
  /** Resets every open connection (RST), as a dropped link or a restarted box would. */
  resetAll(): void;
  /**
   * The connections open now forward nothing more, ever (their bytes are dropped), while new
   * connections work: a stalled NAT entry or a dead path that the sockets do not notice.
   */
  freezeOpen(): void;
  /** New connections go to `port` from now on (open ones stay where they are). */
  retarget(port: number): void;
  close(): Promise<void>;
}

interface Pipe {
  readonly from: net.Socket;
  readonly to: net.Socket;
  readonly openedAt: number;
  readonly held: Buffer[];
  busyUntil: number;
  fromServer: boolean;
  frozen: boolean;
}

/** Starts a proxy to `target` (host defaults to 127.0.0.1). */
export async function startTcpProxy(targetPort: number, initial: FaultMode = {}): Promise<TcpProxy> {
  let target = targetPort;
  let mode: FaultMode = { ...initial };
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const pipes = new Set<Pipe>();

  const forward = (pipe: Pipe) => {
    if (pipe.frozen) {
      pipe.held.length = 0;
      return;
    }
    if (mode.stall || pipe.to.destroyed) return;
    while (pipe.held.length > 0) {
      const chunk = pipe.held.shift()!;
      const now = Date.now();
      let at = now + (mode.delayMs ?? 0);
      if (pipe.fromServer && mode.holdFirstMs) at = Math.max(at, pipe.openedAt + mode.holdFirstMs);
      if (mode.bytesPerSecond) {
        at = Math.max(at, pipe.busyUntil);
        pipe.busyUntil = at + (chunk.length / mode.bytesPerSecond) * 1000;
      }
      if (at <= now && pipe.busyUntil <= now) pipe.to.write(chunk);
      else {
        // Keep order: everything after a delayed chunk waits behind it.
        pipe.held.unshift(chunk);
        setTimeout(
          () => {
            if (pipe.held[0] === chunk && !mode.stall && !pipe.frozen && !pipe.to.destroyed) {
              pipe.held.shift();
              pipe.to.write(chunk);
              forward(pipe);
            }
          },
          Math.max(at, pipe.busyUntil) - now,
        );
        return;
      }
    }
  };

  const server = net.createServer((client) => {
    accepted++;
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    if (mode.refuse) return void client.resetAndDestroy();
    if (mode.blackhole) {
      client.on("data", () => {});
      return;
    }
    const upstream = net.connect(target, "127.0.0.1");
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    const openedAt = Date.now();
    const up: Pipe = { from: client, to: upstream, openedAt, held: [], busyUntil: 0, fromServer: false, frozen: false };
    const down: Pipe = {
      from: upstream,
      to: client,
      openedAt,
      held: [],
      busyUntil: 0,
      fromServer: true,
      frozen: false,
    };
    for (const pipe of [up, down]) {
      pipes.add(pipe);
      pipe.from.on("data", (chunk: Buffer) => {
        pipe.held.push(chunk);
        if (pipe.held.length === 1) forward(pipe);
      });
      pipe.from.on("end", () => {
        if (!pipe.frozen) pipe.to.end();
      });
      pipe.from.on("close", () => {
        pipes.delete(pipe);
        // A frozen path does not carry the close either: the other end finds out by itself.
        if (!pipe.frozen) pipe.to.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    get accepted() {
      return accepted;
    },
    set(next) {
      mode = { ...next };
      for (const pipe of pipes) forward(pipe);
    },
    resetAll() {
      for (const socket of sockets) socket.resetAndDestroy();
    },
    freezeOpen() {
      for (const pipe of pipes) {
        pipe.frozen = true;
        pipe.held.length = 0;
      }
    },
    retarget(port) {
      target = port;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
