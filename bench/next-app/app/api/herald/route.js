/** herald-fetch-next: Herald's Fetch handler as a Next.js route handler. */
import { getHerald } from "../../../lib/herald.js";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

export function GET(request) {
  return getHerald().handleRequest(request);
}
