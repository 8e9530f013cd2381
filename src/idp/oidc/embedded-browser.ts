/**
 * Known embedded web views, by their User-Agent. RFC 8252 §8.12: an app must sign its
 * users in through the system browser (Custom Tabs, ASWebAuthenticationSession), never an
 * embedded web view, where the app can read what the citizen types and the citizen cannot
 * see the address bar. The idp cannot stop an app that does it anyway, but the sign-in
 * page can tell the citizen (src/idp/templates/login.eta).
 *
 * A User-Agent can be anything, so this is a notice for citizens, never a security check:
 * an app that hides its web view gets no notice, and a page that is not in one never gets
 * one by mistake (every pattern names a web view, not a browser).
 */
const patterns: readonly (readonly [RegExp, string])[] = [
  // Android System WebView: "; wv)" in the platform part (Chrome's documented marker).
  [/; wv\)/, 'Android WebView'],
  // In-app browsers of the social apps citizens follow links from.
  [/\bFBA[NV]\/|\bFB_IAB\b|\bFBIOS\b/, 'Facebook'],
  [/\bInstagram\b/, 'Instagram'],
  [/\bLine\/\d/, 'LINE'],
  [/\bBytedanceWebview\b|\bmusical_ly\b|\bTikTok\b/i, 'TikTok'],
  [/\bTwitter for (?:iPhone|Android)\b/, 'X (Twitter)'],
  [/\bGSA\/\d.*\bwv\b/, 'Google app'],
  // iOS WKWebView: AppleWebKit and "Mobile/" but no "Safari/" token, which Safari,
  // SFSafariViewController, ASWebAuthenticationSession and every iOS browser send.
  [/\((?:iPhone|iPad|iPod);.*AppleWebKit\/[\d.]+ \(KHTML, like Gecko\)(?!.*\bSafari\/)(?=.*\bMobile\/)/, 'iOS WebView'],
]

/** The name of the embedded web view this User-Agent says it is, if it is a known one. */
export function embeddedBrowserOf(userAgent: string | undefined): string | undefined {
  if (userAgent === undefined || userAgent.length > 1024) return undefined
  for (const [re, name] of patterns) if (re.test(userAgent)) return name
  return undefined
}
