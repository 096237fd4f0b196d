/** The chat's transport for this request (server only): `?chat=` now, else the cookie, else SSE. */
import { cookies, headers } from "next/headers";
import { CHAT_COOKIE, CHAT_HEADER, parseChatTransport, type ChatTransport } from "./transport";

export async function chatTransport(): Promise<ChatTransport> {
  return (
    parseChatTransport((await headers()).get(CHAT_HEADER)) ??
    parseChatTransport((await cookies()).get(CHAT_COOKIE)?.value) ??
    "sse"
  );
}
