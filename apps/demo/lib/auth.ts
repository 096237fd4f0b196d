/** The session in Server Components and Server Actions (Next's `cookies()`). */
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { decodeSession, SESSION_COOKIE, type Session } from "./session";

/** The signed-in user, or null. */
export async function getSession(): Promise<Session | null> {
  return decodeSession((await cookies()).get(SESSION_COOKIE)?.value);
}

/** The signed-in user; redirects to the sign-in page when there is none. */
export async function requireSession(): Promise<Session> {
  const session = await getSession();
  if (!session) redirect("/signin");
  return session;
}
