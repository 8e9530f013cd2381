import { createHash } from 'node:crypto'
import csrf from '@fastify/csrf-protection'
import formbody from '@fastify/formbody'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.ts'
import { sessionCookieName } from './cookie-names.ts'
import { AppError } from '../errors/app-error.ts'

/** Form bodies are small; anything bigger is refused before it is parsed (docs/security.md line 11). */
export const formBodyLimit = 16 * 1024
/** Our forms have a handful of fields; hundreds are refused before any work is done. */
export const maxFormFields = 20

/**
 * The name of the CSRF secret's cookie. Over https it has the `__Host-` prefix (RFC 6265bis
 * §4.1.3.2): a browser then keeps it only when set by this very host, Secure, with Path=/
 * and no Domain, so a sibling host under the regency's domain cannot plant its own.
 */
export function csrfCookieName(config: Config): string {
  return config.idp.issuer.startsWith('https://') ? '__Host-sp_csrf' : 'sp_csrf'
}

/**
 * What a CSRF token is bound to (docs/security.md line 35). A token is an HMAC over the secret
 * cookie *and* this value (@fastify/csrf's userInfo), so a secret planted by a same-site
 * page (cookie tossing; there is no `__Host-` over plain http) is worth nothing without the
 * victim's session, which that page cannot read:
 * - a signed-in browser: a digest of its provider session cookie (HttpOnly, host-only);
 * - the sign-in and consent steps: their interaction, whose id only this browser learnt;
 * - a browser without a session (registration, password reset): "anonymous"; there the
 *   Sec-Fetch-Site/Origin check below is what refuses another site's form.
 */
export type CsrfBinding = (req: FastifyRequest) => string

/** Binds to the provider's session cookie (its name depends on http/https: cookie-names.ts). */
export function sessionBindingFor(config: Config): CsrfBinding {
  const name = sessionCookieName(config)
  return (req) => bindToSession(req, name)
}

function bindToSession(req: FastifyRequest, name: string): string {
  const cookie = (req.cookies as Record<string, string | undefined> | undefined)?.[name]
  return cookie ? `session:${createHash('sha256').update(cookie).digest('base64url')}` : 'anonymous'
}

/** The origins our own pages have: the issuer's, and each alias host's with the issuer's scheme. */
export function ownOrigins(config: Config): ReadonlySet<string> {
  const issuer = new URL(config.idp.issuer)
  return new Set([issuer.origin, ...config.idp.hostAliases.map((h) => `${issuer.protocol}//${h}`)])
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Fetch Metadata and Origin on every state-changing request of a form scope (OWASP CSRF
 * Prevention cheat sheet, "Fetch Metadata headers" and "Verifying origin with standard
 * headers"): a browser that sends `Sec-Fetch-Site` is believed (a page cannot set it):
 * anything but same-origin (or none: typed by the person) is refused, which also stops a
 * same-site sibling host. Without it, an `Origin` that is not ours is refused. `Origin:
 * null` is what browsers send for a form on a page with `Referrer-Policy: no-referrer`
 * (ours; Fetch §3.2.5 "serializing a request origin"), so it is left to the token check,
 * as are old browsers that send neither.
 */
export function sameOriginGuard(config: Config) {
  const origins = ownOrigins(config)
  return async (req: FastifyRequest): Promise<void> => {
    if (safeMethods.has(req.method)) return
    const site = req.headers['sec-fetch-site']
    if (site !== undefined) {
      if (site === 'same-origin' || site === 'none') return
      req.log.info({ secFetchSite: String(site).slice(0, 20) }, 'cross-site form submission refused')
      throw new AppError('forbidden', 'A form from another site was refused.')
    }
    const origin = req.headers.origin
    if (origin !== undefined && origin !== 'null' && !origins.has(origin)) {
      req.log.info({ origin: origin.slice(0, 100) }, 'form submission from another origin refused')
      throw new AppError('forbidden', 'A form from another site was refused.')
    }
  }
}

/**
 * What every plugin scope of the idp's HTML forms registers: urlencoded parsing with a
 * small limit, no JSON (a second way in is no way in), CSRF protection with one cookie
 * for all of them (so one secret serves every page) and tokens bound to the session
 * (`binding`), the same-origin check, and the field-count guard.
 * `token` reads the CSRF token where a scope keeps it (a multipart upload's first part).
 * The HMAC key comes from the app (`app.csrfKey`, src/idp/app.ts).
 */
export async function registerForms(
  app: FastifyInstance,
  config: Config,
  options: {
    token?: (req: FastifyRequest) => string | undefined
    beforeCsrf?: () => Promise<void>
    binding?: CsrfBinding
  } = {},
): Promise<void> {
  const binding = options.binding ?? sessionBindingFor(config)
  app.addHook('onRequest', sameOriginGuard(config))
  await app.register(formbody, { bodyLimit: formBodyLimit })
  app.removeContentTypeParser('application/json')
  if (options.beforeCsrf) await options.beforeCsrf()
  const secure = config.idp.issuer.startsWith('https://')
  await app.register(csrf, {
    cookieKey: csrfCookieName(config),
    cookieOpts: { path: '/', httpOnly: true, sameSite: 'lax', secure },
    getToken: options.token ?? ((req) => (req.body as { _csrf?: string } | undefined)?._csrf),
    getUserInfo: binding,
    csrfOpts: { hmacKey: app.csrfKey },
  })
  // Every token a page of this scope asks for is made for the request's binding.
  app.addHook('onRequest', async (req, reply) => {
    const generate = reply.generateCsrf
    reply.generateCsrf = function boundCsrf(this: FastifyReply, opts?: Record<string, unknown>) {
      return generate.call(this, { ...opts, userInfo: binding(req) })
    }
  })
  app.addHook('preValidation', async (req) => {
    if (req.body && typeof req.body === 'object' && Object.keys(req.body).length > maxFormFields) {
      throw new AppError('bad_request', 'Too many form fields.')
    }
  })
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The HMAC key of CSRF tokens (derived from the key-encryption secret every instance holds). */
    csrfKey: Buffer
  }
}
