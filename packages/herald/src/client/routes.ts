/** Herald's routes beside the SSE route the client is given (`…/sse` → `…/poll`, `…/publish`, `…/channels`). */

/** The page's address (relative URLs resolve against it), or `http://localhost/` outside a page. */
export function pageHref(): string {
  return (globalThis as { location?: { href: string } }).location?.href ?? "http://localhost/";
}

/** The URL of Herald's route `route` beside an SSE URL: a last path segment `sse` becomes `route`. */
export function routeBeside(sseUrl: string, route: string): string {
  const url = new URL(sseUrl, "http://relative.invalid");
  url.pathname = url.pathname.replace(/\/sse\/?$/, `/${route}`);
  return url.origin === "http://relative.invalid" ? `${url.pathname}${url.search}` : url.toString();
}

/** The poll URL for an SSE URL: a last path segment `sse` becomes `poll`. */
export function pollUrlOf(sseUrl: string): string {
  return routeBeside(sseUrl, "poll");
}
