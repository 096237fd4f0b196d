/**
 * `GET …/history?channel=…&limit=…[&before=…|&after=…]&token=…`: a page of one channel's log
 * (`HistoryPage`), admitted exactly as a stream is (origin, URL length, attempt limits, parsing,
 * the token, the channel's rule, connection caps), then read in one cut with the log's head.
 */
import { Buffer } from "node:buffer";
import { HeraldError } from "../../protocol/errors.js";
import { readHistory } from "../core/history.js";
import { admit, originHeaders, type IncomingRequest } from "./admit.js";
import type { HeraldCore } from "./edge.js";
import type { JsonReply } from "./routes.js";

/** Serves one history read; rejections throw (`HeraldError`), which the adapters answer as JSON errors. */
export async function serveHistory(edge: HeraldCore, request: IncomingRequest): Promise<JsonReply> {
  try {
    const cors = originHeaders(edge.options, request);
    const admitted = await admit(edge.options, edge.limits, request);
    try {
      if (admitted.channels.length !== 1) {
        throw new HeraldError("invalid_request", "history reads one `channel`");
      }
      const query = request.url.searchParams;
      const one = (name: string): string | undefined => {
        const values = query.getAll(name);
        if (values.length > 1) throw new HeraldError("invalid_request", `send one \`${name}\` parameter`);
        return values[0];
      };
      const limitText = one("limit");
      const limit = limitText === undefined ? undefined : /^\d{1,7}$/.test(limitText) ? Number(limitText) : NaN;
      const answer = await readHistory(edge.broker, admitted.channels[0]!, {
        limit,
        before: one("before"),
        after: one("after"),
      });
      const headers: Record<string, string> = {
        ...cors,
        "Content-Type": "application/json; charset=utf-8",
        "Cache-Control": "no-store",
        "Content-Length": String(Buffer.byteLength(answer.body)),
      };
      return { status: 200, headers, body: answer.body };
    } finally {
      admitted.release();
    }
  } catch (error) {
    edge.refused("history", error);
    throw error;
  }
}
