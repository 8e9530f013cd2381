import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'
import proxyAddr from 'proxy-addr'
import { AppError } from '../errors/app-error.ts'
import type { Config } from '../config/schema.ts'
import type { Agency, AgencyTable } from './agencies.ts'

/**
 * Which site a request is for, by its host (issue 10 §2; docs/security.md lines 17, 32).
 *
 * Each agency is served on its own host (`<agency>.<gateway domain>`, agencies.ts), because
 * the origin is the browser's only isolation boundary: script on one agency's pages must
 * never read another's pages as the citizen, nor the portal's. The portal stays at the
 * gateway's own host (gateway.publicUrl). Any other host is refused: a request for a name
 * we do not serve is not ours to guess at.
 *
 * The host is the request's `Host` header; `X-Forwarded-Host` is believed only from a
 * trusted proxy (http.trustProxy), as Fastify does it (its last entry: the one the nearest
 * proxy wrote). Whatever the host, the upstream stays the agency's fixed one: the host only
 * chooses among the configured sites.
 *
 * Routing: Fastify's rewriteUrl maps `https://<agency host>/x` onto the agency's internal
 * routes (`<prefix>/x`, proxy.ts), except for the few paths the gateway itself answers on
 * every agency host (its sign-in callback, sign-out, the return from the idp's consent
 * page). The proxy then decides on the URL the client sent (`originalUrl`), never on the
 * rewritten one.
 */

export type Site =
  | { readonly kind: 'portal'; readonly host: string; readonly origin: string }
  | { readonly kind: 'agency'; readonly host: string; readonly origin: string; readonly agency: Agency }
  | { readonly kind: 'unknown'; readonly host: string }

/** A site the gateway serves (the portal or an agency). */
export type KnownSite = Exclude<Site, { kind: 'unknown' }>

/** Paths the gateway answers itself on every site, agency hosts included. */
export interface SitePaths {
  readonly own: readonly string[]
}

const siteOfRequest = Symbol('satupintu.site')

/** The gateway's stylesheet, on every host (its pages show on agency hosts too). */
export const gatewayAssetsPrefix = '/.satupintu/assets'

export interface Sites {
  /** The site of a request (worked out once per request). */
  siteOf(req: IncomingMessage): Site
  /** The portal's site. */
  readonly portal: KnownSite & { kind: 'portal' }
  /** Every site the gateway serves: the portal first, then each agency. */
  readonly all: readonly KnownSite[]
  /** For Fastify's rewriteUrl: agency hosts into their agency's routes. */
  rewriteUrl(req: IncomingMessage): string
  /** Whether `path` (no query) is one the gateway answers itself on agency hosts. */
  isOwnPath(path: string): boolean
  /** Whether the request goes to an agency (an agency host, not one of the gateway's own paths). */
  isProxied(req: IncomingMessage): boolean
}

function lastEntry(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value.at(-1) : value
  if (v === undefined) return undefined
  const parts = v.split(',')
  return parts.at(-1)?.trim() || undefined
}

export function createSites(config: Config, table: AgencyTable, paths: SitePaths): Sites {
  const publicUrl = new URL(config.gateway.publicUrl)
  const trusted = config.http.trustProxy.length > 0 ? proxyAddr.compile([...config.http.trustProxy]) : undefined
  const portal = Object.freeze({ kind: 'portal' as const, host: table.portalHost, origin: publicUrl.origin })
  const agencySites = new Map<Agency, KnownSite>(
    table.agencies.map((a) => [
      a,
      Object.freeze({ kind: 'agency' as const, host: a.host, origin: a.origin, agency: a }),
    ]),
  )
  const own = new Set(paths.own)

  function hostOf(req: IncomingMessage): string {
    if (trusted !== undefined && trusted(req.socket?.remoteAddress ?? '', 0)) {
      const forwarded = lastEntry(req.headers['x-forwarded-host'])
      if (forwarded !== undefined) return forwarded.toLowerCase()
    }
    return (req.headers.host ?? '').toLowerCase()
  }

  function siteOf(req: IncomingMessage): Site {
    const known = (req as { [siteOfRequest]?: Site })[siteOfRequest]
    if (known !== undefined) return known
    const host = hostOf(req)
    let site: Site
    if (host === portal.host) site = portal
    else {
      const agency = table.byHost(host)
      site = agency === undefined ? { kind: 'unknown', host } : (agencySites.get(agency) as KnownSite)
    }
    ;(req as { [siteOfRequest]?: Site })[siteOfRequest] = site
    return site
  }

  function isOwnPath(path: string): boolean {
    return own.has(path) || path.startsWith(`${gatewayAssetsPrefix}/`)
  }

  function isProxied(req: IncomingMessage): boolean {
    if (siteOf(req).kind !== 'agency') return false
    const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/'
    const q = url.indexOf('?')
    return !isOwnPath(q === -1 ? url : url.slice(0, q))
  }

  return {
    siteOf,
    isProxied,
    portal,
    all: Object.freeze([portal, ...agencySites.values()]),
    isOwnPath,
    rewriteUrl(req) {
      const url = req.url ?? '/'
      const site = siteOf(req)
      if (site.kind !== 'agency') return url
      const q = url.indexOf('?')
      if (isOwnPath(q === -1 ? url : url.slice(0, q))) return url
      // Not origin-form (absolute-form, "*"): still the agency's routes, where the check
      // of the original target refuses it (paths.ts checkTarget).
      return url.startsWith('/') ? `${site.agency.prefix}${url}` : `${site.agency.prefix}/`
    },
  }
}

/**
 * Paths answered on any host: the probes (load balancers and orchestrators probe by
 * address) and the gateway's public keys (agencies' backends fetch them over the internal
 * network, e.g. http://gateway:8080/.well-known/jwks.json). Nothing of a citizen's.
 */
const probePaths = new Set(['/healthz', '/readyz', '/.well-known/jwks.json'])

/**
 * The first hook of the gateway: refuses hosts it does not serve (421), moves the old
 * `/layanan/<agency>/…` addresses of the portal host to the agency's own origin (GET and
 * HEAD only: a form posted to an old address is refused, not replayed elsewhere), and
 * refuses service-worker scripts on the portal host, so no script of any origin can take
 * over the portal's pages (W3C Service Workers §4.2: the `Service-Worker: script` header
 * marks a registration's fetch). The gateway's own answers get COOP and CORP; an agency's
 * answers are the agency's.
 */
export function guardSites(app: FastifyInstance, deps: { sites: Sites; table: AgencyTable }): void {
  const { sites, table } = deps
  app.addHook('onRequest', async (req, reply) => {
    const site = sites.siteOf(req.raw)
    const path = (req.url.split('?', 1)[0] as string) || '/'
    if (site.kind === 'unknown') {
      if (probePaths.has(path)) return
      throw new AppError('misdirected_request', 'This host is not served here.', {
        details: { host: site.host.slice(0, 255) },
      })
    }
    if (site.kind === 'agency') return
    if (req.headers['service-worker'] !== undefined) {
      throw new AppError('forbidden', 'Service workers are not allowed on the portal.')
    }
    for (const agency of table.agencies) {
      if (path !== agency.prefix && !path.startsWith(`${agency.prefix}/`)) continue
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        throw new AppError('gone', `This address has moved to ${agency.origin}/ and takes no ${req.method} here.`, {
          details: { location: `${agency.origin}/` },
        })
      }
      // RFC 9110 §15.4.2: moved for good; the path below the prefix and the query stay.
      const rest = req.url.slice(agency.prefix.length)
      return reply
        .header('cache-control', 'no-store')
        .redirect(`${agency.origin}${rest.startsWith('/') ? rest : `/${rest}`}`, 301)
    }
  })
  app.addHook('onSend', async (req, reply) => {
    if (sites.isProxied(req.raw)) return
    reply.header('cross-origin-opener-policy', 'same-origin')
    reply.header('cross-origin-resource-policy', 'same-origin')
  })
}
