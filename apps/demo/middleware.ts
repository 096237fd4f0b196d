/**
 * Passes the requested path to Server Components (`x-demo-path`), so a page that needs a session
 * can send the browser to `/signin?next=<that path>` and sign-in can return there. A `?transport=`
 * parameter (`auto`, `sse`, `poll`) forces the realtime transport: passed on for this render
 * (`x-demo-transport`) and kept in a cookie for the next ones.
 */
import { NextResponse, type NextRequest } from "next/server";
import { parseTransport, TRANSPORT_COOKIE, TRANSPORT_HEADER } from "@/lib/transport";

export function middleware(request: NextRequest): NextResponse {
  const url = request.nextUrl.clone();
  url.searchParams.delete("_rsc");
  const headers = new Headers(request.headers);
  headers.set("x-demo-path", `${url.pathname}${url.search}`);
  const transport = parseTransport(url.searchParams.get("transport"));
  if (transport) headers.set(TRANSPORT_HEADER, transport);
  else headers.delete(TRANSPORT_HEADER);
  const response = NextResponse.next({ request: { headers } });
  if (transport) {
    response.cookies.set(TRANSPORT_COOKIE, transport, { path: "/", sameSite: "lax", maxAge: 60 * 60 * 24 * 365 });
  }
  return response;
}

export const config = {
  matcher: ["/((?!api/|_next/|icon.svg|favicon.ico).*)"],
};
