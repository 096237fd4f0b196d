/**
 * The requests a client makes beside its SSE stream, loaded in their own chunk when first made:
 * `POST …/channels` (a channel change applied to the open stream) and `POST …/publish` (a client
 * event on SSE or long-polling). An app that never changes channels on an open stream nor sends
 * client events does not load them.
 */
import { routeBeside } from "./routes.js";
import { refusalOf } from "./source-base.js";
import type { FetchErrorDetail } from "./types.js";

/**
 * `POST …/channels` beside the stream at `sseUrl`: moves the stream `connectionId` to the channel
 * set (and catch-up cursor, token) of `url`. True once applied while `open()` still holds; the
 * refusal's detail on a 403 (one channel refused, the stream stays); false otherwise.
 */
export async function postChannels(
  sseUrl: string,
  url: string,
  connectionId: string,
  withCredentials: boolean,
  open: () => boolean,
): Promise<boolean | FetchErrorDetail> {
  const params = new URL(url, "http://relative.invalid").searchParams;
  const response = await fetch(routeBeside(sseUrl, "channels"), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: withCredentials ? "include" : "same-origin",
    body: JSON.stringify({
      connectionId,
      channels: params.getAll("channel"),
      lastEventId: params.get("lastEventId"),
      token: params.get("token"),
    }),
  });
  if (response.status === 403) return await refusalOf(response);
  await response.body?.cancel();
  return response.ok && open();
}

/**
 * `POST …/publish` beside the stream at `sseUrl` with a client event (`body`); resolves to null
 * when accepted, else to the refusal (status and the server's code and message when it sent them).
 */
export async function postClientEvent(
  sseUrl: string,
  body: string,
  withCredentials: boolean | undefined,
  fetchFn: typeof fetch = fetch,
): Promise<(FetchErrorDetail & { code: number }) | null> {
  const response = await fetchFn(routeBeside(sseUrl, "publish"), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body,
    credentials: withCredentials ? "include" : "same-origin",
  });
  return response.ok ? null : ((await refusalOf(response)) as FetchErrorDetail & { code: number });
}
