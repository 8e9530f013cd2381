/**
 * The one check of a return path (after sign-in, after a document question…): a path on
 * our own origin, or `fallback` for anything else. Only `/…`: never `//host` or `/\host`
 * (which browsers read as another host), no control characters (no header splitting, no
 * hidden text), not longer than `maxLength`. The redirect is then built on the site's own
 * origin, never from what the request claims its host is.
 */
export function safeReturnPath(p: unknown, options: { fallback: string; maxLength: number }): string {
  if (typeof p !== 'string' || p.length > options.maxLength) return options.fallback
  if (!p.startsWith('/') || p.startsWith('//') || /[\\\u0000-\u001f\u007f]/.test(p)) return options.fallback
  return p
}
