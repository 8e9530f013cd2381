import type { FastifyReply, FastifyRequest } from 'fastify'
import type { OidcPort } from '../oidc/port.ts'
import type { Config } from '../../config/schema.ts'
import { pageOnGet } from '../../http/locale.ts'
import { acr, acrRank } from '../oidc/levels.ts'
import { accountSignInUrl } from './session.ts'

/**
 * A guard for what only the person who just signed in may do (docs/security.md line 35):
 * changing an e-mail address or phone number, downloading the data export, and (next)
 * adding or removing a second factor. NIST SP 800-63B-4 §5.2 calls this
 * reauthentication; OWASP ASVS 5.0 V7.5 wants it before sensitive account changes.
 *
 * A preHandler: when the browser's sign-in is older than `maxAgeSeconds` (by default
 * idp.freshSignInSeconds), the request is answered with a redirect through the sign-in
 * page (`prompt=login`, so the password is asked even with a live session) and back to
 * the page of the form (for a POST, the GET page that shows it: the form is filled again,
 * a stale POST is never replayed). A browser without a session is left to the route's own
 * sign-in redirect.
 */
export function freshSignIn(
  deps: { config: Config; oidc: OidcPort },
  options: {
    maxAgeSeconds?: number
    /**
     * For changes to the factors themselves: when the account has a second factor (an app
     * or a passkey), the fresh sign-in must have used one (acr:mfa or above). Otherwise a
     * stolen password alone could add the thief's passkey or remove the owner's (NIST SP
     * 800-63B-4: binding an authenticator needs the account's highest level).
     */
    atFactorLevel?: (accountId: string) => Promise<boolean>
  } = {},
) {
  const maxAge = options.maxAgeSeconds ?? deps.config.idp.freshSignInSeconds
  return async function requireFreshSignIn(
    req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> {
    const session = await deps.oidc.browserSession(req, reply)
    if (session === undefined) return undefined
    const loginTs = session.authTime
    const now = Math.floor(Date.now() / 1000)
    const recent = typeof loginTs === 'number' && now - loginTs <= maxAge
    const strongEnough =
      options.atFactorLevel === undefined ||
      acrRank(session.acr) >= acrRank(acr.mfa) ||
      !(await options.atFactorLevel(session.accountId))
    if (recent && strongEnough) return undefined
    const back = req.method === 'GET' || req.method === 'HEAD' ? req.url : pageOnGet(req)
    req.log.info({ route: req.routeOptions.url, strongEnough }, 'fresh sign-in required')
    return reply.redirect(
      accountSignInUrl(deps.config, back, { prompt: 'login', ...(strongEnough ? {} : { acrValues: acr.mfa }) }),
      303,
    )
  }
}
