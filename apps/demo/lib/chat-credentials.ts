/**
 * The chat's Pusher app credentials, server only (server.ts attaches the WebSocket server with
 * them, the auth route signs with them). PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET set them.
 * Without PUSHER_APP_SECRET, development uses the documented `herald-demo-secret`; production never
 * does: it makes a random secret once per process (the auth route and the WebSocket server share
 * the process; the cluster script gives its processes one), and refuses to start with the
 * documented one.
 */
import { randomBytes } from "node:crypto";

/** The documented development secret: anyone can read it, so production refuses it. */
export const DEV_SECRET = "herald-demo-secret";

const secrets = globalThis as { __heraldDemoPusherSecret?: string };

/**
 * The chat's signing secret: PUSHER_APP_SECRET, else {@link DEV_SECRET} in development, else (in
 * production) a random one made once per process. Throws in production when it is the documented one.
 */
function pusherSecret(): string {
  const given = process.env.PUSHER_APP_SECRET;
  const production = process.env.NODE_ENV === "production";
  if (given === DEV_SECRET && production) {
    throw new Error(
      `PUSHER_APP_SECRET is the demo's documented secret (${DEV_SECRET}): anyone could sign chat subscriptions as any user. Set another one, or unset it.`,
    );
  }
  if (given) return given;
  if (!production) return DEV_SECRET;
  secrets.__heraldDemoPusherSecret ??= randomBytes(32).toString("base64url");
  return secrets.__heraldDemoPusherSecret;
}

/** The Pusher app's credentials (the key is public: the browser connects to `/app/{key}`). */
export function pusherCredentials(): { appId: string; key: string; secret: string } {
  return {
    appId: process.env.PUSHER_APP_ID || "herald-demo",
    key: process.env.PUSHER_APP_KEY || "herald-demo-key",
    secret: pusherSecret(),
  };
}
