import type { Metadata } from "next";
import { requireSession } from "@/lib/auth";
import { herald } from "@/lib/herald";
import type { ReportResult } from "@/lib/report-job";
import { TaskBoard } from "@/components/task-board";
import type { TaskSnapshot } from "herald/react";

export const metadata: Metadata = { title: "Tasks" };
export const dynamic = "force-dynamic";

export default async function TasksPage() {
  const session = await requireSession();
  const tasks = (await herald.tasks.list(session.id)) as TaskSnapshot<ReportResult>[];
  return <TaskBoard initial={tasks} />;
}
