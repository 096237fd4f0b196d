import type { Metadata } from "next";
import { NotificationsView } from "@/components/notifications-view";
import { requireSession } from "@/lib/auth";
import { inboxOf } from "@/lib/inbox";
import { recipients } from "@/lib/online";
import { MAX_USERS } from "@/lib/users";

export const metadata: Metadata = { title: "Notifications" };
export const dynamic = "force-dynamic";

export default async function NotificationsPage() {
  const session = await requireSession();
  return <NotificationsView me={session} users={recipients()} inbox={inboxOf(session.id)} limit={MAX_USERS} />;
}
