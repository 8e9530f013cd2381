import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.ts'
import { AppError } from '../errors/app-error.ts'

/**
 * The idp answers only for its own names. Every URL it builds (discovery's endpoints,
 * redirects, links in pages and messages) comes from the configured issuer, never from
 * the request (docs/security.md line 34); a request naming any other host is refused with 421
 * Misdirected Request (RFC 9110 §15.5.20), so a hostile or mistaken Host header can
 * neither change what the idp says nor be used to poison a cache in front of it.
 */

/** `host` or `host:port`, lowercase, without a trailing dot or a default port. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase()
  h = h.replace(/:(80|443)$/, '')
  const colon = h.startsWith('[') ? h.indexOf(']:') + 1 : h.lastIndexOf(':')
  const name = colon > 0 ? h.slice(0, colon) : h
  const port = colon > 0 ? h.slice(colon) : ''
  return `${name.replace(/\.$/, '')}${port}`
}

/** The issuer's host and every configured alias, normalised. */
export function allowedHosts(config: Config): ReadonlySet<string> {
  return new Set([new URL(config.idp.issuer).host, ...config.idp.hostAliases].map(normalizeHost))
}

/**
 * Paths answered on any host: load balancers and orchestrators probe an instance by its
 * address, before any DNS name points at it; and the stylesheet, which says nothing about
 * the host, so that the 421 page itself is readable.
 */
const anyHostPaths = new Set(['/healthz', '/readyz'])
const anyHostPrefix = '/assets/'

/** An onRequest hook refusing requests for a host the idp does not answer for. */
export function hostGuard(config: Config) {
  const allowed = allowedHosts(config)
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const path = req.url.split('?', 1)[0] ?? ''
    if (anyHostPaths.has(path) || path.startsWith(anyHostPrefix)) return
    // request.host: the Host header (HTTP/2 :authority), or X-Forwarded-Host from a
    // trusted proxy only (http.trustProxy; src/http/app.ts).
    const host = typeof req.host === 'string' ? normalizeHost(req.host) : ''
    if (host === '' || !allowed.has(host)) {
      req.log.info({ host: req.host.slice(0, 255) }, 'request for a host the idp does not answer for: 421')
      throw new AppError('misdirected_request')
    }
  }
}

/** What oidc-provider (Koa) reads to build URLs, set from the issuer whatever the request said. */
export function issuerForwarding(config: Config): { host: string; proto: string } {
  const url = new URL(config.idp.issuer)
  return { host: url.host, proto: url.protocol.replace(/:$/, '') }
}
