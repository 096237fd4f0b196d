import { herald } from "@/lib/herald";

export const { GET, POST } = herald.routes;
