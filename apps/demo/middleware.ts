/**
 * Passes the requested path to Server Components (`x-demo-path`), so a page that needs a session
 * can send the browser to `/signin?next=<that path>` and sign-in can return there.
 */
import { NextResponse, type NextRequest } from "next/server";

export function middleware(request: NextRequest): NextResponse {
  const url = request.nextUrl.clone();
  url.searchParams.delete("_rsc");
  const headers = new Headers(request.headers);
  headers.set("x-demo-path", `${url.pathname}${url.search}`);
  return NextResponse.next({ request: { headers } });
}

export const config = {
  matcher: ["/((?!api/|_next/|icon.svg|favicon.ico).*)"],
};
