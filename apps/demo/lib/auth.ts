/** The session in Server Components and Server Actions (Next's `cookies()`). */
import { cookies, headers } from "next/headers";
import { redirect } from "next/navigation";
import { safeNext } from "./redirect";
import { decodeSession, SESSION_COOKIE, type Session } from "./session";

/** Request header set by middleware.ts: the path (and query) of the page being rendered. */
export const PATH_HEADER = "x-demo-path";

/** The signed-in user, or null. */
export async function getSession(): Promise<Session | null> {
  return decodeSession((await cookies()).get(SESSION_COOKIE)?.value);
}

/** The sign-in page, asked to come back to the page being rendered. */
export async function signInUrl(): Promise<string> {
  const here = safeNext((await headers()).get(PATH_HEADER), "");
  return here && here !== "/" ? `/signin?next=${encodeURIComponent(here)}` : "/signin";
}

/** The signed-in user; redirects to the sign-in page (and back here afterwards) when there is none. */
export async function requireSession(): Promise<Session> {
  const session = await getSession();
  if (!session) redirect(await signInUrl());
  return session;
}

/**
 * Whether the session cookie is `Secure`: always in production, unless `DEMO_INSECURE_COOKIE=1`
 * says the demo is served over plain http on a host other than localhost (browsers accept `Secure`
 * cookies from http://localhost, which is how `npm start` and the browser tests run).
 */
export function secureCookie(): boolean {
  if (process.env.DEMO_INSECURE_COOKIE === "1") return false;
  return process.env.NODE_ENV === "production" || process.env.DEMO_SECURE_COOKIE === "1";
}
