/**
 * `POST /api/chat/auth`: signs the chat's WebSocket subscriptions. Herald's WebSocket client posts
 * what pusher-js posts (a form of `socket_id` and `channel_name`, with the page's cookies); this
 * answers `{ auth, channel_data }` for a chat room's presence channel, with the signed-in user as
 * the member (`user_id` = the demo user id, `user_info` = `{ name }`). Signed out: 403. Any other
 * channel: 403. A request from another site (an `Origin` that is not this host): 403, whatever
 * cookies it carries.
 */
import { authorizeChannel } from "herald/pusher";
import { getSession } from "@/lib/auth";
import { roomOfChannel } from "@/lib/chat";
import { pusherCredentials } from "@/lib/chat-credentials";

export const dynamic = "force-dynamic";

const refuse = (status: number, message: string) =>
  new Response(message, { status, headers: { "content-type": "text/plain", "cache-control": "no-store" } });

/** True when the request comes from another site's page (an `Origin` naming another host). */
function crossSite(request: Request): boolean {
  const origin = request.headers.get("origin");
  if (origin === null) return false; // not a browser's cross-origin request
  try {
    return new URL(origin).host !== (request.headers.get("host") ?? new URL(request.url).host);
  } catch {
    return true;
  }
}

export async function POST(request: Request): Promise<Response> {
  if (crossSite(request)) return refuse(403, "Cross-site requests are refused");
  const session = await getSession();
  if (!session) return refuse(403, "Sign in to chat");
  const form = await request.formData().catch(() => null);
  const socketId = String(form?.get("socket_id") ?? "");
  const channel = String(form?.get("channel_name") ?? "");
  if (!/^\d+\.\d+$/.test(socketId)) return refuse(400, "Bad socket_id");
  if (roomOfChannel(channel) === null) return refuse(403, "No such room");
  const { key, secret } = pusherCredentials();
  return Response.json(
    authorizeChannel({ key, secret }, socketId, channel, { user_id: session.id, user_info: { name: session.name } }),
    { headers: { "cache-control": "no-store" } },
  );
}
