import type { Metadata } from "next";
import { DashboardView } from "@/components/dashboard-view";
import { requireSession } from "@/lib/auth";
import { dashboardHistory, recentActivity } from "@/lib/herald";

export const metadata: Metadata = { title: "Dashboard" };
export const dynamic = "force-dynamic";

export default async function DashboardPage() {
  await requireSession();
  return <DashboardView history={dashboardHistory()} activity={recentActivity()} />;
}
