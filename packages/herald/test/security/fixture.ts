/** A Herald wired the way an app would: tokens, tasks, default channel rules, limits. */
import {
  createHerald,
  createTasks,
  createTokens,
  defaultAuthorize,
  tokenAuthenticator,
  type HeraldOptions,
  type Tasks,
} from "../../src/server/index.js";

export function secureHerald(extra: Partial<HeraldOptions> = {}) {
  const tokens = createTokens();
  const ref: { tasks?: Tasks } = {};
  const herald = createHerald({
    authenticate: tokenAuthenticator(tokens, { allowAnonymous: true }),
    authorize: defaultAuthorize({
      tasks: { ownerOf: (id) => ref.tasks!.ownerOf(id) },
      authorizePrivate: (principal, channel) => principal !== null && channel === `private-team-${principal.userId}`,
    }),
    ...extra,
  });
  const tasks = createTasks(herald);
  ref.tasks = tasks;
  return { herald, tokens, tasks };
}
