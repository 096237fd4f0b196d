import type { Metadata } from "next";
import { OperationsView } from "@/components/operations-view";
import { requireSession } from "@/lib/auth";
import { operationsHistory } from "@/lib/operations";

export const metadata: Metadata = { title: "Operations" };
export const dynamic = "force-dynamic";

export default async function OperationsPage() {
  await requireSession();
  return <OperationsView history={operationsHistory()} />;
}
