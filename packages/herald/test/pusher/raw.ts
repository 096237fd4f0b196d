/** A raw `ws` client speaking the Pusher protocol, to check frames byte for byte. */
import WebSocket from "ws";

export interface RawFrame {
  event: string;
  channel?: string;
  data?: unknown;
  id?: string;
  user_id?: string;
}

export interface RawClient {
  ws: WebSocket;
  frames: RawFrame[];
  socketId: string;
  send(event: string, data: unknown, channel?: string): void;
  /** Waits for a frame matching `pred` (seen already or later). */
  waitFrame(pred: (f: RawFrame) => boolean, ms?: number): Promise<RawFrame>;
  closed: Promise<{ code: number; reason: string }>;
}

/** A refused upgrade: the HTTP status and body the server answered. */
export interface RefusedUpgrade extends Error {
  status: number;
  body: string;
}

/** Connects; rejects with a {@link RefusedUpgrade} when the server answers the upgrade with an HTTP error. */
export async function rawConnect(
  port: number,
  path = "/app/app-key?protocol=7&client=js&version=8.6.0&flash=false",
  headers: Record<string, string> = {},
): Promise<RawClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
  const refused = new Promise<never>((_, reject) => {
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () =>
        reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, body })),
      );
    });
  });
  refused.catch(() => undefined);
  const frames: RawFrame[] = [];
  const waiters: (() => void)[] = [];
  ws.on("message", (data) => {
    frames.push(JSON.parse(data.toString()) as RawFrame);
    for (const w of [...waiters]) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const waitFrame = (pred: (f: RawFrame) => boolean, ms = 5000) =>
    new Promise<RawFrame>((resolve, reject) => {
      const check = () => {
        const found = frames.find(pred);
        if (found) {
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(check), 1);
        reject(new Error(`no matching frame; got ${JSON.stringify(frames).slice(0, 800)}`));
      }, ms);
      waiters.push(check);
      check();
    });
  const client: RawClient = {
    ws,
    frames,
    socketId: "",
    send: (event, data, channel) => ws.send(JSON.stringify({ event, data, ...(channel ? { channel } : {}) })),
    waitFrame,
    closed,
  };
  const first = await Promise.race([waitFrame(() => true), refused]);
  if (first.event === "pusher:connection_established") {
    client.socketId = (JSON.parse(first.data as string) as { socket_id: string }).socket_id;
  }
  return client;
}
