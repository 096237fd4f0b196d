/** The default channel rules: `defaultAuthorize`. */
import type { RequestContext } from "./request-context.js";
import type { Principal } from "../core/subscriber.js";

/** Finds who owns a task; `Tasks` from `createTasks` implements it. */
export interface TaskOwnerLookup {
  /** The owner's user id, or null when the task is unknown (or expired). */
  ownerOf(taskId: string): Promise<string | null>;
}

/** Options for {@link defaultAuthorize}. */
export interface DefaultAuthorizeOptions {
  /** Where `task-{id}` owners are looked up. Without it every `task-*` channel is denied. */
  tasks?: TaskOwnerLookup;
  /**
   * Decides `private-*` and `presence-*` channels. Without it they are denied. The principal is null
   * for anonymous subscribers.
   */
  authorizePrivate?: (
    principal: Principal | null,
    channel: string,
    request: RequestContext,
  ) => boolean | Promise<boolean>;
}

/**
 * Herald's channel conventions as an `authorize` callback for `createHerald`:
 * - `user-{id}`: only the principal whose `userId` is `id`;
 * - `task-{id}`: only the task's owner (looked up in `tasks`);
 * - `private-*`, `presence-*`: whatever `authorizePrivate` says (denied when it is not given);
 * - anything else: public, anonymous subscribers included.
 */
export function defaultAuthorize(
  options: DefaultAuthorizeOptions = {},
): (principal: Principal | null, channel: string, request: RequestContext) => Promise<boolean> {
  return async (principal, channel, request) => {
    if (channel.startsWith("user-")) {
      return principal !== null && principal.userId === channel.slice("user-".length);
    }
    if (channel.startsWith("task-")) {
      if (principal === null || !options.tasks) return false;
      const owner = await options.tasks.ownerOf(channel.slice("task-".length));
      return owner !== null && owner === principal.userId;
    }
    if (channel.startsWith("private-") || channel.startsWith("presence-")) {
      if (!options.authorizePrivate) return false;
      return (await options.authorizePrivate(principal, channel, request)) === true;
    }
    return true;
  };
}
