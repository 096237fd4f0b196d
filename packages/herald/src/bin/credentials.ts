/** `herald serve`'s rule about its default credentials. */

/** The credentials used when none are given: public knowledge, so for a local try only. */
export const DEFAULTS = { appId: "app-id", key: "app-key", secret: "app-secret" } as const;

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h) || h === "::ffff:127.0.0.1";
}

/**
 * Why the server must not start with these credentials, or null: the default secret signs every
 * channel auth, sign-in and HTTP API call, and anyone can read it in this file.
 */
export function credentialsProblem(
  secret: string,
  host: string,
  production: boolean,
  allowDefault: boolean,
): string | null {
  if (secret !== DEFAULTS.secret || allowDefault) return null;
  if (!isLoopback(host)) {
    return `refusing to listen on ${host} with the default secret: set HERALD_APP_SECRET (and HERALD_APP_KEY), or pass --allow-default-credentials`;
  }
  if (production) {
    return "refusing to start with the default secret under NODE_ENV=production: set HERALD_APP_SECRET (and HERALD_APP_KEY), or pass --allow-default-credentials";
  }
  return null;
}
