/** Where sign-in may send the browser back to. */

/**
 * `next` when it is a path on this site, else `fallback`. Only a single leading `/` followed by
 * something other than `/` or `\`, no backslash anywhere (browsers read `/\evil.example` as
 * `//evil.example`), no control characters, and it must resolve to this origin.
 */
export function safeNext(next: unknown, fallback = "/tasks"): string {
  if (typeof next !== "string" || next.length === 0 || next.length > 512) return fallback;
  if (!next.startsWith("/") || next.startsWith("//")) return fallback;
  if (next.includes("\\") || /[\u0000-\u001f\u007f]/.test(next)) return fallback;
  try {
    const base = "http://demo.invalid";
    const url = new URL(next, base);
    if (url.origin !== base) return fallback;
    if (url.pathname === "/signin") return fallback;
    return `${url.pathname}${url.search}${url.hash}`;
  } catch {
    return fallback;
  }
}
