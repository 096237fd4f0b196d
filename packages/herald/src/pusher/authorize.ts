/**
 * The app's side of channel auth, for apps without the `pusher` SDK: what an auth endpoint answers
 * to a `socket_id` and `channel_name` (pusher-js and Herald's WebSocket transport POST them).
 */
import { signSocketAuth } from "./signature.js";

/** A presence member as the auth endpoint vouches for it. */
export interface PresenceData {
  user_id: string | number;
  user_info?: unknown;
}

/**
 * Signs a subscription the way `pusher.authorizeChannel(socketId, channel, presenceData?)` does:
 * `{ auth }` for a private channel, `{ auth, channel_data }` for a presence one. Decide first
 * whether the user may join `channel`: this only signs.
 *
 * @example
 * ```ts
 * // POST /api/pusher/auth (form: socket_id, channel_name)
 * const form = await request.formData();
 * return Response.json(
 *   authorizeChannel({ key, secret }, String(form.get("socket_id")), String(form.get("channel_name")), {
 *     user_id: session.userId,
 *     user_info: { name: session.name },
 *   }),
 * );
 * ```
 */
export function authorizeChannel(
  credentials: { key: string; secret: string },
  socketId: string,
  channel: string,
  presenceData?: PresenceData,
): { auth: string; channel_data?: string } {
  if (!/^\d+\.\d+$/.test(socketId)) throw new TypeError(`Invalid socket id: ${socketId}`);
  if (channel.startsWith("presence-")) {
    if (!presenceData) throw new TypeError(`${channel} is a presence channel: presenceData is required`);
    const channelData = JSON.stringify(presenceData);
    return {
      auth: signSocketAuth(credentials.key, credentials.secret, `${socketId}:${channel}:${channelData}`),
      channel_data: channelData,
    };
  }
  return { auth: signSocketAuth(credentials.key, credentials.secret, `${socketId}:${channel}`) };
}
