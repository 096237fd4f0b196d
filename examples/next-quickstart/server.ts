/**
 * The quickstart on a custom server, with the same `lib/herald.ts` (whose `getUserId` reads
 * `cookies()`): Herald's streams on the Node fast path, everything else in Next.
 *
 *   npx next build && NODE_ENV=production node --import tsx server.ts
 */
import next from "next";
import { createHeraldServer } from "herald/next";
import { herald } from "./lib/herald";

const app = next({ dev: process.env.NODE_ENV !== "production" });
await app.prepare();
createHeraldServer({ herald, next: app.getRequestHandler() }).listen(Number(process.env.PORT ?? 3000));
