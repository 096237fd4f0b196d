import { cookies } from "next/headers";

/** The signed-in user's id (a name kept in a cookie), or null when signed out. */
export async function currentUserId(): Promise<string | null> {
  return (await cookies()).get("user")?.value ?? null;
}
