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

/**
 * RFC 9110 §7.2 / RFC 3986 §3.2.2: a name (or IPv4 address) or a bracketed IPv6 literal,
 * then at most one port of at most 5 digits. `idp.localhost:8080:9999` (two ports),
 * user info, spaces and other bytes are not a host: such a request is refused with 400
 * before any name is compared, so that stripping a "default port" can never turn it into
 * one of ours (`id.example:8080:443` → `id.example:8080`).
 */
const wellFormedHost =
  /^(?:[a-z0-9](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_-]{1,63})*\.?|\[[0-9a-f:.]{2,45}\])(?::[0-9]{1,5})?$/i

export function isWellFormedHost(host: string): boolean {
  return host.length <= 255 && wellFormedHost.test(host)
}

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
    const target = req.raw.url ?? ''
    // An absolute-form request line (`GET http://other.host/ HTTP/1.1`, RFC 9112 §3.2.2)
    // names its host in the target, and that host wins over the Host header: it must be
    // one of ours too, or the request is misdirected.
    if (!target.startsWith('/')) {
      let named: URL | undefined
      try {
        named = new URL(target)
      } catch {
        named = undefined
      }
      if (
        !named ||
        (named.protocol !== 'http:' && named.protocol !== 'https:') ||
        named.username !== '' ||
        named.password !== ''
      ) {
        throw new AppError('bad_request')
      }
      if (!allowed.has(normalizeHost(named.host))) {
        req.log.info('absolute-form request for a host the idp does not answer for: 421')
        throw new AppError('misdirected_request')
      }
    }
    const path = req.url.split('?', 1)[0] ?? ''
    if (anyHostPaths.has(path) || path.startsWith(anyHostPrefix)) return
    // request.host: the Host header (HTTP/2 :authority), or X-Forwarded-Host from a
    // trusted proxy only (http.trustProxy; src/http/app.ts).
    const rawHost = typeof req.host === 'string' ? req.host.trim() : ''
    if (rawHost !== '' && !isWellFormedHost(rawHost)) {
      req.log.info('malformed Host header: 400')
      throw new AppError('bad_request')
    }
    const host = normalizeHost(rawHost)
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
