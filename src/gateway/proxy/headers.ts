import type { IncomingHttpHeaders } from 'node:http'
import { BlockList, isIP } from 'node:net'
import type { Agency } from '../agencies.ts'
import { sessionCookieName } from '../auth/authenticate.ts'
import { identityLevelOf, type Identity } from '../auth/identity.ts'

/**
 * What an agency receives in request headers, and what the citizen receives back
 * (docs/security.md lines 14, 15, 17, 22; docs/agency-integration.md "Headers").
 *
 * Requests: first everything a client could use to speak for the gateway is removed —
 * identity headers in any case or spelling, forwarding headers, the citizen's credentials
 * and the gateway's cookies, hop-by-hop headers and whatever the client's `Connection`
 * header names — and only then are the gateway's own headers written. They are always
 * written, empty when there is no value (the pomerium habit, STYLE.md): a backend that
 * reads `X-Citizen-Sub` can never see a value the client chose.
 *
 * Responses: hop-by-hop headers go, `Location` and `Set-Cookie` are rewritten so that the
 * citizen stays on the gateway's origin and each agency's cookies stay below its prefix.
 */

/** The headers the gateway writes on every proxied request. */
export const identityHeaderNames = {
  assertion: 'x-satupintu-assertion',
  sub: 'x-citizen-sub',
  name: 'x-citizen-name',
  acr: 'x-citizen-acr',
  /** How well the person was proven (the idp's identity level), apart from acr. */
  identityLevel: 'x-citizen-identity-level',
  nik: 'x-citizen-nik',
} as const

/** Hop-by-hop headers (RFC 9110 §7.6.1, RFC 9112 §9.6) plus ones undici refuses to send. */
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  // Node answers `Expect: 100-continue` itself; undici refuses to send it.
  'expect',
])

/**
 * Request headers the gateway owns or that assert who the caller is, matched after
 * lower-casing and mapping "_" to "-" (nginx, Apache and CGI map `X_Citizen_Sub` and
 * `X-Citizen-Sub` to the same HTTP_X_CITIZEN_SUB). A client never gets to send these.
 */
const ownedExact = new Set([
  'authorization',
  'proxy-authorization',
  'dpop',
  'forwarded',
  'link', // document links ride in `Link` (the documents issue)
  'x-request-id',
  'x-real-ip',
  'x-client-ip',
  'client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-cluster-client-ip',
  'x-original-forwarded-for',
  'x-remote-user',
  'x-remote-email',
  'x-remote-group',
  'x-remote-groups',
  'x-remote-addr',
  'remote-user',
  'remote-email',
  'remote-groups',
  'auth-user',
  'x-auth-user',
  'x-user',
  'x-user-id',
  'x-email',
  'x-username',
  'x-preferred-username',
  'x-userinfo',
  'x-id-token',
  'x-access-token',
  'x-jwt-assertion',
  'x-goog-iap-jwt-assertion',
  'x-client-verify',
  // Path overrides honoured by IIS, Symfony, Laravel and others: the policy decided on
  // the request path, so a client must not be able to name another one.
  'x-original-url',
  'x-rewrite-url',
  'x-original-uri',
  'x-original-host',
  'x-host',
])

const ownedPrefixes = [
  'x-citizen-',
  'x-satupintu-',
  'x-forwarded-', // -for, -host, -proto, -prefix, -user, -email, -preferred-username, -groups, -access-token…
  'x-auth-request-',
  'x-authenticated-',
  'x-amzn-oidc-',
  'x-ms-client-principal',
  'x-goog-authenticated-user-',
  'cf-access-',
  'x-pomerium-',
  'x-webauth-',
  'x-ssl-client-',
  'ssl-client-',
  'x-client-cert',
]

function canonicalName(name: string): string {
  return name.toLowerCase().replace(/_/g, '-')
}

/** Whether a client-sent request header is removed before forwarding (docs/security.md line 14). */
export function isOwnedRequestHeader(name: string): boolean {
  const n = canonicalName(name)
  if (n === 'x-citizen' || n === 'x-satupintu') return true
  return ownedExact.has(n) || ownedPrefixes.some((p) => n.startsWith(p))
}

/**
 * Satu Pintu's own cookies, never forwarded to an agency and never set by one: the
 * gateway's session and transaction cookies (`sp_gw…`) and, since browsers share
 * cookies across ports of one host (the quick start's localhost:3000 and :8080), the
 * idp's (`sp_session`, `sp_interaction…`, `sp_csrf`, `sp_daftar`, `sp_reset`, and
 * their `.sig` companions). Everything of ours is named `sp_…` for this reason.
 */
export function isGatewayCookie(name: string): boolean {
  const base = name.replace(/^__(Host|Secure)-/, '')
  return base === sessionCookieName || base.startsWith(`${sessionCookieName}_`) || base.startsWith('sp_')
}

/** Names listed in a `Connection` header (RFC 9110 §7.6.1), lower-cased. */
export function connectionTokens(value: string | string[] | undefined): Set<string> {
  const out = new Set<string>()
  for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
    for (const t of v.split(',')) {
      const n = t.trim().toLowerCase()
      if (n !== '') out.add(n)
    }
  }
  return out
}

/**
 * Agency cookies live in the browser under a namespace of the gateway's (issue 10; docs/security.md
 * line 22): an upstream's `Set-Cookie: sid=…` is stored as `__Host-ag_sid` behind https (`ag_sid`
 * on plain http, the quick start), and only cookies of that namespace go upstream, with the
 * namespace taken off. So
 *  - the gateway's own cookies (`sp_…`) and the idp's never reach an agency, and an upstream
 *    cookie can never take one of their names (it is `…ag_sp_gw` in the browser);
 *  - a cookie set for the parent domain by a sibling host, or by another agency's page script
 *    (`document.cookie = "x=1; Domain=sukamaju.go.id"`), is not forwarded: behind https the
 *    `__Host-` prefix makes the browser refuse any Domain attribute (RFC 6265bis §4.1.3.2), so
 *    a `__Host-ag_…` cookie can only have been set by this very host, i.e. by the gateway for
 *    this agency. On plain http there is no such guarantee; only the namespace holds there.
 */
export const agencyCookieNamespace = 'ag_'

/** The browser's name for an agency's cookie `name`. */
export function agencyCookieName(name: string, secure: boolean): string {
  return `${secure ? '__Host-' : ''}${agencyCookieNamespace}${name}`
}

/**
 * The `Cookie` header an agency receives: only its own cookies (see agencyCookieNamespace),
 * under the names the agency gave them, values byte for byte. Undefined when none is left.
 */
export function agencyCookieHeader(value: string, secure: boolean): string | undefined {
  const ns = agencyCookieName('', secure)
  const kept: string[] = []
  for (const raw of value.split(';')) {
    const p = raw.trim()
    if (!p.startsWith(ns)) continue
    const eq = p.indexOf('=')
    if (eq === -1) continue
    const name = p.slice(ns.length, eq).trim()
    if (name === '' || isGatewayCookie(name)) continue
    kept.push(`${name}=${p.slice(eq + 1)}`)
  }
  return kept.length > 0 ? kept.join('; ') : undefined
}

/**
 * A `Cookie` header without the cookies `drop` names; the others pass byte for byte.
 * Undefined when nothing is left.
 */
export function filterCookieHeader(value: string, drop: (name: string) => boolean): string | undefined {
  const kept = value
    .split(';')
    .map((p) => p.trim())
    .filter((p) => {
      if (p === '') return false
      const eq = p.indexOf('=')
      const name = (eq === -1 ? p : p.slice(0, eq)).trim()
      return !drop(name)
    })
  return kept.length > 0 ? kept.join('; ') : undefined
}

/**
 * A header value any HTTP stack accepts and any agency can decode: UTF-8, percent-encoded
 * (RFC 3986 §2.1) for everything outside printable ASCII, and for "%" and "+" themselves
 * ("+" so that form decoders such as Java's URLDecoder do not turn it into a space).
 * "Budi Santoso" stays "Budi Santoso"; "Zoë" becomes "Zo%C3%AB". Decode with
 * decodeURIComponent (JavaScript), rawurldecode (PHP) or URLDecoder.decode (Java).
 */
export function encodeHeaderText(value: string): string {
  // toWellFormed: a lone surrogate (possible in JSON) becomes U+FFFD instead of a URIError.
  return value.toWellFormed().replace(/[^\x20-\x24\x26-\x2A\x2C-\x7E]+/gu, (s) => encodeURIComponent(s))
}

export interface IdentityHeaderValues {
  readonly assertion: string
  readonly sub: string
  readonly name: string
  readonly acr: string
  readonly identityLevel: string
  readonly nik: string
}

/** Every identity header, empty: what an anonymous (or public-route) request carries. */
export const noIdentity: IdentityHeaderValues = Object.freeze({
  assertion: '',
  sub: '',
  name: '',
  acr: '',
  identityLevel: '',
  nik: '',
})

/**
 * The plain `X-Citizen-*` values for one agency. `nik` only where the agency's
 * configuration releases it and the citizen's claims carry it; otherwise empty.
 */
export function identityHeaderValues(
  identity: Identity | undefined,
  agency: Agency,
  assertion: string,
): IdentityHeaderValues {
  if (identity === undefined) return noIdentity
  const name = identity.claims.name
  const nik = identity.claims.nik
  return {
    assertion,
    sub: identity.sub,
    name: typeof name === 'string' ? name : '',
    acr: identity.acr,
    identityLevel: identityLevelOf(identity),
    nik: agency.releaseNik && typeof nik === 'string' ? nik : '',
  }
}

export interface Forwarding {
  /** The request id, end to end. */
  readonly requestId: string
  /**
   * Client address first, then each proxy the gateway trusts, ending with the gateway's
   * own peer (Fastify's `req.ips` reversed; only hops within http.trustProxy are there).
   */
  readonly chain: readonly string[]
  /** The gateway's public origin (gateway.publicUrl): never taken from Host or X-Forwarded-Host. */
  readonly publicUrl: URL
  /** The agency's prefix on the gateway, e.g. /layanan/dinas-contoh. */
  readonly prefix: string
}

export interface UpstreamHeaderInput {
  /** The Host the upstream expects (its own host:port, from the agency's fixed upstream URL). */
  readonly upstreamHost: string
  /** Whether a request body is forwarded; without one, framing headers are dropped. */
  readonly hasBody: boolean
  readonly identity: IdentityHeaderValues
  readonly forwarding: Forwarding
  /** `Link` header values (document links, the documents issue); none today. */
  readonly links?: readonly string[]
}

/** What happens to a client's request header of a given name, whatever the request. */
interface HeaderFate {
  /** The name as sent upstream (lower case). */
  readonly name: string
  /** drop: hop-by-hop, Host or owned; body: framing, kept only with a body; cookie: filtered. */
  readonly fate: 'pass' | 'drop' | 'body' | 'cookie'
}

/**
 * Fates by raw name, worked out once: clients send the same few dozen names over and over,
 * and the checks (lower-casing, "_" mapping, the owned prefixes) were a few µs a request.
 * Bounded: past `maxFates` names a fate is worked out each time and not kept.
 */
const fates = new Map<string, HeaderFate>()
const maxFates = 1000

function headerFate(rawName: string): HeaderFate {
  const known = fates.get(rawName)
  if (known !== undefined) return known
  const name = rawName.toLowerCase()
  const fate: HeaderFate['fate'] =
    hopByHop.has(name) || name === 'host' || isOwnedRequestHeader(name)
      ? 'drop'
      : name === 'content-length' || name === 'content-type'
        ? 'body'
        : name === 'cookie'
          ? 'cookie'
          : 'pass'
  const out: HeaderFate = Object.freeze({ name, fate })
  if (fates.size < maxFates) fates.set(rawName, out)
  return out
}

/** RFC 7239 §6: IPv6 addresses are quoted and bracketed; other values quoted when not a token. */
function forwardedNode(addr: string): string {
  return addr.includes(':') ? `"[${addr}]"` : addr
}

/**
 * The headers sent upstream. Order matters and is the point: (1) drop hop-by-hop headers
 * and every header the client's `Connection` names, (2) drop owned headers and the
 * gateway's cookies, (3) write the gateway's headers. A client's `Connection: X-Citizen-Sub`
 * is applied to the client's own headers in step 1 and can never reach step 3 (docs/security.md
 * line 15); the gateway sends no `Connection` header of its own.
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  input: UpstreamHeaderInput,
): Record<string, string | string[]> {
  const listed = incoming.connection === undefined ? undefined : connectionTokens(incoming.connection)
  const out: Record<string, string | string[]> = {}
  for (const rawName in incoming) {
    const value = incoming[rawName]
    if (value === undefined) continue
    const { name, fate } = headerFate(rawName)
    if (fate === 'drop' || listed?.has(name) === true) continue
    if (fate === 'body' && !input.hasBody) continue
    if (fate === 'cookie') {
      const kept = agencyCookieHeader(
        Array.isArray(value) ? value.join('; ') : value,
        input.forwarding.publicUrl.protocol === 'https:',
      )
      if (kept !== undefined) out.cookie = kept
      continue
    }
    out[name] = value
  }
  const { identity, forwarding } = input
  const client = forwarding.chain[0] ?? ''
  const publicHost = forwarding.publicUrl.host
  const proto = forwarding.publicUrl.protocol.replace(/:$/, '')
  out.host = input.upstreamHost
  out[identityHeaderNames.assertion] = identity.assertion
  out[identityHeaderNames.sub] = encodeHeaderText(identity.sub)
  out[identityHeaderNames.name] = encodeHeaderText(identity.name)
  out[identityHeaderNames.acr] = encodeHeaderText(identity.acr)
  out[identityHeaderNames.identityLevel] = encodeHeaderText(identity.identityLevel)
  out[identityHeaderNames.nik] = encodeHeaderText(identity.nik)
  out['x-request-id'] = forwarding.requestId
  out['x-forwarded-for'] = forwarding.chain.join(', ')
  out['x-forwarded-proto'] = proto
  out['x-forwarded-host'] = publicHost
  // An agency on its own host has no prefix: nothing to say (a client's is never passed).
  if (forwarding.prefix !== '') out['x-forwarded-prefix'] = forwarding.prefix
  out['x-real-ip'] = client
  out.forwarded = `for=${forwardedNode(client)};host="${publicHost}";proto=${proto}`
  if (input.links !== undefined && input.links.length > 0) out.link = input.links.join(', ')
  return out
}

// ---------------------------------------------------------------------------------------
// Responses

export interface ResponseRewrite {
  /** The agency's own public origin, as the browser sees it (CORS credentials are allowed only for it). */
  readonly ownOrigin: string
  /** The agency's fixed upstream (origin and base path ending in "/"). */
  readonly upstream: URL
  /** The gateway's public origin, e.g. https://layanan.sukamaju.go.id */
  readonly publicUrl: URL
  /** The agency's prefix, e.g. /layanan/dinas-contoh */
  readonly prefix: string
  /** The path the upstream was asked for (to compute a cookie's default path). */
  readonly upstreamPath: string
  /** Redirects the citizen's browser must not be sent to (the proxy always sets it). */
  readonly redirectGuard?: RedirectGuard
}

/**
 * Where an upstream may not send the citizen: an internal address the browser cannot
 * reach and that tells the world the layout of the regency's network — another agency's
 * upstream, the agency's own upstream outside its base path, or an IP literal in a
 * private, loopback, link-local or shared range — unless it is one of our own public
 * origins (the quick start serves everything on loopback). Such a Location becomes
 * `refusedTarget`, the gateway's page that says the service is at fault.
 */
export interface RedirectGuard {
  readonly internalOrigins: ReadonlySet<string>
  readonly publicOrigins: ReadonlySet<string>
  readonly refusedTarget: string
}

const internalRanges = (() => {
  const list = new BlockList()
  for (const [net, bits] of [
    ['10.0.0.0', 8],
    ['172.16.0.0', 12],
    ['192.168.0.0', 16],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['100.64.0.0', 10],
    ['0.0.0.0', 8],
  ] as const) {
    list.addSubnet(net, bits, 'ipv4')
  }
  // IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) are checked against the IPv4 rules by BlockList itself.
  for (const [net, bits] of [
    ['::1', 128],
    ['::', 128],
    ['fc00::', 7],
    ['fe80::', 10],
  ] as const)
    list.addSubnet(net, bits, 'ipv6')
  return list
})()

/** Is `url` an address a redirect must not name (RedirectGuard)? */
export function isInternalRedirect(url: URL, guard: RedirectGuard): boolean {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false
  if (guard.publicOrigins.has(url.origin)) return false
  if (guard.internalOrigins.has(url.origin)) return true
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  const family = isIP(host)
  if (family === 0) return false
  return internalRanges.check(host, family === 4 ? 'ipv4' : 'ipv6')
}

/**
 * Response headers whose effect reaches past the agency's own pages — the whole origin,
 * its parent domain, or the browser's handling of every site behind the gateway — and
 * which an upstream therefore never sets (docs/security.md line 32; issue 10 §2):
 *
 *  - `Service-Worker-Allowed`: widens a service worker's scope (W3C Service Workers §4.1):
 *    a worker for "/" would control every page of the origin.
 *  - `Strict-Transport-Security`: with includeSubDomains it binds the parent domain and
 *    every sibling host (RFC 6797 §6.1.2); the gateway's operator decides HSTS.
 *  - `NEL`, `Report-To`, `Reporting-Endpoints`: register endpoints that receive reports
 *    about the whole origin's traffic (W3C Network Error Logging, Reporting API).
 *  - `Clear-Site-Data`: wipes the origin's cookies and storage — the citizen's session.
 *  - `Alt-Svc`: sends the origin's later traffic to another host or port (RFC 7838).
 *  - `Origin-Agent-Cluster`: an origin-wide process-isolation switch (HTML §7.1.4); the
 *    first answer decides it for every page of the origin.
 *
 * `Access-Control-Allow-Credentials` is not in this list: it is dropped by
 * corsCredentialsAllowed below unless it is paired with the agency's own origin.
 */
export const originWideResponseHeaders: readonly string[] = Object.freeze([
  'service-worker-allowed',
  'strict-transport-security',
  'nel',
  'report-to',
  'reporting-endpoints',
  'clear-site-data',
  'alt-svc',
  'origin-agent-cluster',
  // Client hints the browser then sends on every request to the origin (RFC 8942), and
  // Critical-CH, which makes it retry requests to get them.
  'accept-ch',
  'critical-ch',
  // FedCM: declares the citizen signed in (or out) at the whole origin.
  'set-login',
])

/** Attribution Reporting registrations (sources, triggers, OS variants): origin-wide, by prefix. */
const originWidePrefixes: readonly string[] = Object.freeze(['attribution-reporting-register-'])

/**
 * Response headers never passed to the citizen: hop-by-hop ones, our request id (the
 * gateway's wins), and the origin-wide ones above.
 */
const droppedResponse = new Set([...hopByHop, 'proxy-authenticate', 'x-request-id', ...originWideResponseHeaders])

/**
 * Whether an upstream's `Access-Control-Allow-Credentials: true` may pass. Credentialed
 * CORS lets the named origin read this agency's pages *with the citizen's session*
 * (Fetch §3.2.5): the gateway's session is the citizen's, not the agency's to share, and
 * every agency host is same-site with its siblings, so a SameSite=Lax cookie rides along.
 * It passes only when `Access-Control-Allow-Origin` names exactly the agency's own public
 * origin (which same-origin requests do not even need); with `*`, `null`, a list, or any
 * other origin it is dropped, and the browser then refuses to hand a credentialed
 * response to the other origin. A CORS answer without credentials passes as it is: a
 * request without the citizen's cookie carries no identity.
 */
export function corsCredentialsAllowed(
  allowOrigin: string | string[] | number | undefined,
  ownOrigin: string,
): boolean {
  if (typeof allowOrigin !== 'string') return false
  return allowOrigin.trim().toLowerCase() === ownOrigin.toLowerCase()
}

/** The upstream path below the agency's base path, or undefined when outside it. */
function belowBase(pathname: string, upstream: URL): string | undefined {
  const base = upstream.pathname // ends in "/"
  if (pathname === base.slice(0, -1)) return ''
  return pathname.startsWith(base) ? pathname.slice(base.length) : undefined
}

/**
 * A `Location` (or `Content-Location`) pointing at the upstream — absolute, network-path
 * or path-absolute — rewritten onto the gateway: `${publicUrl}${prefix}/…` for absolute
 * ones, `${prefix}/…` for path-absolute ones. Relative references already resolve under
 * the prefix; anything pointing elsewhere (the idp, another site) is left as it is.
 */
export function rewriteLocation(value: string, ctx: ResponseRewrite): string {
  const v = value.trim()
  const pathAbsolute = v.startsWith('/') && !v.startsWith('//') && !v.startsWith('/\\')
  let url: URL
  try {
    url = new URL(v, ctx.upstream)
  } catch {
    return value
  }
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:|^\/\//.test(v)
  if (url.origin !== ctx.upstream.origin) {
    return absolute && ctx.redirectGuard !== undefined && isInternalRedirect(url, ctx.redirectGuard)
      ? ctx.redirectGuard.refusedTarget
      : value
  }
  // A relative reference ("next", "../x") resolves the same way on the gateway.
  if (!pathAbsolute && !absolute) return value
  const rest = belowBase(url.pathname, ctx.upstream)
  // The upstream's own address outside its base path: nothing to map it to, and not for the browser.
  if (rest === undefined) return absolute && ctx.redirectGuard !== undefined ? ctx.redirectGuard.refusedTarget : value
  const path = `${ctx.prefix}/${rest}${url.search}${url.hash}`
  return pathAbsolute ? path : `${ctx.ownOrigin}${path}`
}

/** RFC 6265 §5.1.4 default-path of a request path. */
function defaultCookiePath(requestPath: string): string {
  const last = requestPath.lastIndexOf('/')
  return last <= 0 ? '/' : requestPath.slice(0, last)
}

/**
 * A `Set-Cookie` rewritten for the agency's origin: the name put in the agency namespace
 * (agencyCookieNamespace: `__Host-ag_<name>` behind https), `Domain` removed (the cookie
 * belongs to the agency's host only), and behind https `Secure` and `Path=/` as `__Host-`
 * requires; on plain http the `Path` is moved below the agency's prefix (an explicit one is
 * always written). A cookie that would take the name of one of the gateway's own is
 * dropped (undefined): an agency cannot set, replace or fix the citizen's gateway session.
 */
export function rewriteSetCookie(value: string, ctx: ResponseRewrite): string | undefined {
  const parts = value.split(';')
  const pair = (parts[0] ?? '').trim()
  const eq = pair.indexOf('=')
  const name = (eq === -1 ? '' : pair.slice(0, eq)).trim()
  if (name === '' || isGatewayCookie(name)) return undefined
  let upstreamCookiePath: string | undefined
  const attrs: string[] = []
  for (const raw of parts.slice(1)) {
    const a = raw.trim()
    if (a === '') continue
    const key = a.split('=', 1)[0]?.trim().toLowerCase()
    if (key === 'domain') continue
    if (key === 'path') {
      const p = a.slice(a.indexOf('=') + 1).trim()
      // RFC 6265 §5.2.4: a path not starting with "/" means the default path.
      if (p.startsWith('/')) upstreamCookiePath = p
      continue
    }
    attrs.push(a)
  }
  const secure = ctx.ownOrigin.startsWith('https:')
  const stored = `${agencyCookieName(name, secure)}${pair.slice(eq)}`
  if (secure) {
    // `__Host-`: Secure, Path=/ and no Domain, or the browser refuses the cookie.
    return [
      stored,
      'Path=/',
      ...attrs.filter((a) => !/^path\s*=/i.test(a)),
      ...(attrs.some((a) => /^secure$/i.test(a)) ? [] : ['Secure']),
    ].join('; ')
  }
  const upstreamPath = upstreamCookiePath ?? defaultCookiePath(ctx.upstreamPath)
  const rest = belowBase(upstreamPath, ctx.upstream)
  // Outside the agency's base path there is nothing to map to: keep it at the prefix.
  const path = rest === undefined || rest === '' ? ctx.prefix || '/' : `${ctx.prefix}/${rest}`
  return [stored, `Path=${path}`, ...attrs].join('; ')
}

/** The upstream's response headers as the citizen receives them. */
export function rewriteResponseHeaders(
  headers: Readonly<Record<string, string | string[] | number | undefined>>,
  ctx: ResponseRewrite,
): Record<string, string | string[]> {
  const listed = connectionTokens(typeof headers.connection === 'string' ? headers.connection : undefined)
  const out: Record<string, string | string[]> = {}
  for (const [rawName, value] of Object.entries(headers)) {
    if (value === undefined) continue
    const name = rawName.toLowerCase()
    if (droppedResponse.has(name) || listed.has(name) || originWidePrefixes.some((p) => name.startsWith(p))) continue
    if (
      name === 'access-control-allow-credentials' &&
      !corsCredentialsAllowed(headers['access-control-allow-origin'], ctx.ownOrigin)
    )
      continue
    if (name === 'set-cookie') {
      const cookies = (Array.isArray(value) ? value : [String(value)])
        .map((c) => rewriteSetCookie(c, ctx))
        .filter((c): c is string => c !== undefined)
      if (cookies.length > 0) out[name] = cookies
      continue
    }
    if (name === 'refresh') {
      // `Refresh: 5; url=http://10.0.0.5/x` (HTML §7.11.1) is a redirect too.
      const v = Array.isArray(value) ? (value[0] ?? '') : String(value)
      const m = /^(\s*\d+(?:\.\d*)?\s*[;,]\s*(?:url\s*=\s*)?)(['"]?)(.*?)\2\s*$/i.exec(v)
      out[name] = m === null ? v : `${m[1] ?? ''}${m[2] ?? ''}${rewriteLocation(m[3] ?? '', ctx)}${m[2] ?? ''}`
      continue
    }
    if (name === 'location' || name === 'content-location') {
      out[name] = rewriteLocation(Array.isArray(value) ? (value[0] ?? '') : String(value), ctx)
      continue
    }
    out[name] = Array.isArray(value) ? value : String(value)
  }
  return out
}
