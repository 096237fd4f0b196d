/**
 * Passes the requested path to Server Components (`x-demo-path`), so a page that needs a session
 * can send the browser to `/signin?next=<that path>` and sign-in can return there. A `?transport=`
 * parameter (`auto`, `sse`, `poll`) forces the realtime transport: passed on for this render
 * (`x-demo-transport`) and kept in a cookie for the next ones; `?chat=ws` (or `sse`) chooses how
 * the chat talks, the same way (`x-demo-chat`).
 */
import { NextResponse, type NextRequest } from "next/server";
import {
  CHAT_COOKIE,
  CHAT_HEADER,
  parseChatTransport,
  parseTransport,
  TRANSPORT_COOKIE,
  TRANSPORT_HEADER,
} from "@/lib/transport";

export function middleware(request: NextRequest): NextResponse {
  const url = request.nextUrl.clone();
  url.searchParams.delete("_rsc");
  const headers = new Headers(request.headers);
  headers.set("x-demo-path", `${url.pathname}${url.search}`);
  const transport = parseTransport(url.searchParams.get("transport"));
  if (transport) headers.set(TRANSPORT_HEADER, transport);
  else headers.delete(TRANSPORT_HEADER);
  const chat = parseChatTransport(url.searchParams.get("chat"));
  if (chat) headers.set(CHAT_HEADER, chat);
  else headers.delete(CHAT_HEADER);
  const response = NextResponse.next({ request: { headers } });
  const year = { path: "/", sameSite: "lax" as const, maxAge: 60 * 60 * 24 * 365 };
  if (transport) response.cookies.set(TRANSPORT_COOKIE, transport, year);
  if (chat) response.cookies.set(CHAT_COOKIE, chat, year);
  return response;
}

export const config = {
  matcher: ["/((?!api/|_next/|icon.svg|favicon.ico).*)"],
};
