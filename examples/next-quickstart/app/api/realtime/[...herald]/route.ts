import { herald } from "@/lib/herald";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";
export const { GET, POST } = herald.routes;
