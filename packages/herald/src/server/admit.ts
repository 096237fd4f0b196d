/** The checks every subscription request passes before a stream opens: parse, authenticate, authorize. */
import { HeraldError } from "../protocol/errors.js";
import type { HeraldOptions, RequestContext } from "./options.js";
import { parseSubscription, type SubscriptionRequest } from "./request.js";
import type { Principal } from "./subscriber.js";

/** A request that passed every check. */
export interface Admitted extends SubscriptionRequest {
  principal: Principal | null;
}

/**
 * Runs the checks. Throws `HeraldError`: 400 for malformed input, the authenticator's code (401)
 * when it rejects, 403 naming the first channel the principal may not follow.
 */
export async function admit(
  options: HeraldOptions,
  url: URL,
  header: (name: string) => string | null,
  ip: string | undefined,
): Promise<Admitted> {
  const parsed = parseSubscription(url, header("last-event-id"), options.maxChannelsPerConnection ?? 32);
  const context: RequestContext = { url, header, ip, channels: parsed.channels, token: parsed.token };
  const principal = options.authenticate ? await options.authenticate(context) : null;
  if (options.authorize) {
    for (const channel of parsed.channels) {
      if (!(await options.authorize(principal, channel, context))) {
        throw new HeraldError("forbidden", `not allowed to subscribe to "${channel}"`, { details: { channel } });
      }
    }
  }
  return { ...parsed, principal };
}
