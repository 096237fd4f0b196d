/**
 * What the page tells the connection: `online` and `offline` (from `window`), `visibilitychange`
 * (from `document`) and another tab of the origin having connected to the same endpoint (see
 * `peers.ts`). One place that adds the listeners and one that removes them.
 */
import { joinPeers, type PeerSignal } from "./peers.js";
import type { OnlineTarget, VisibilityTarget } from "./types.js";

/** What happens on each signal. */
export interface PageHandlers {
  online(): void;
  offline(): void;
  /** The page became visible. */
  visible(): void;
  /** Another tab following the same endpoint connected. */
  peerConnected(): void;
}

/** The page signals a connection listens to, and how to stop. */
export interface PageSignals {
  readonly visibility: VisibilityTarget | null;
  /** Tells the other tabs that this one connected. */
  announceConnected(): void;
  close(): void;
}

/** Where the signals come from; null disables one, undefined takes the page's default. */
export interface PageTargets {
  onlineTarget?: OnlineTarget | null;
  visibilityTarget?: VisibilityTarget | null;
  /** Endpoint key of the cross-tab signal, or null for none. */
  peersKey: string | null;
}

/** Listens to the page's signals (see the module comment). */
export function watchPage(targets: PageTargets, on: PageHandlers): PageSignals {
  const win = (globalThis as { window?: OnlineTarget }).window;
  const online = targets.onlineTarget === undefined ? (win ?? null) : targets.onlineTarget;
  const doc = (globalThis as { document?: VisibilityTarget }).document;
  const visibility =
    targets.visibilityTarget === undefined
      ? doc && typeof doc.addEventListener === "function"
        ? doc
        : null
      : targets.visibilityTarget;
  const onVisibility = (): void => {
    if (visibility?.visibilityState === "visible") on.visible();
  };
  online?.addEventListener("online", on.online);
  online?.addEventListener("offline", on.offline);
  visibility?.addEventListener("visibilitychange", onVisibility);
  const peers: PeerSignal | null = targets.peersKey === null ? null : joinPeers(targets.peersKey, on.peerConnected);
  return {
    visibility,
    announceConnected: () => peers?.announce(),
    close: () => {
      online?.removeEventListener("online", on.online);
      online?.removeEventListener("offline", on.offline);
      visibility?.removeEventListener("visibilitychange", onVisibility);
      peers?.close();
    },
  };
}
