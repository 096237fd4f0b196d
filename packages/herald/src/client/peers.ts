/**
 * Tabs of one origin tell each other that the server is reachable: when one tab's client connects,
 * the others following the same endpoint and waiting out a backoff delay retry at once. A hidden
 * tab's timers are throttled, but its messages are not, so after an outage every tab comes back
 * with the first one instead of each at the end of its own delay. Over `BroadcastChannel`; where
 * there is none, nothing is shared.
 */

/** A tab's side of the signal. */
export interface PeerSignal {
  /** Tells the other tabs that a connection to the endpoint just opened. */
  announce(): void;
  close(): void;
}

/** Joins the signal of the endpoint `key`; `onPeerConnected` runs when another tab connected. Null without `BroadcastChannel`. */
export function joinPeers(key: string, onPeerConnected: () => void): PeerSignal | null {
  const BC = (globalThis as { BroadcastChannel?: typeof BroadcastChannel }).BroadcastChannel;
  if (typeof BC !== "function") return null;
  const channel = new BC(`herald:${key}`);
  (channel as { unref?: () => void }).unref?.(); // Node: never keeps the process alive
  channel.onmessage = () => onPeerConnected();
  return {
    announce: () => channel.postMessage("connected"),
    close: () => channel.close(),
  };
}
