import { createHerald } from "herald";
import { currentUserId } from "./session";

export const herald = createHerald({
  getUserId: currentUserId,
  singleton: true,
  // Chat: signed-in users join the lobby (presence) and send messages to it (client events).
  authorizePrivate: (user, channel) => user !== null && channel === "presence-lobby",
  authorizePublish: (_userId, channel, event) => channel === "presence-lobby" && event === "client-message",
});
