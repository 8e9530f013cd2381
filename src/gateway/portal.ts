import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/schema.ts'
import { pickLocale } from '../http/locale.ts'
import type { AgencyTable } from './agencies.ts'
import type { GatewayAuth } from './contracts.ts'
import { identityRank } from './auth/identity.ts'

export interface PortalDeps {
  config: Config
  table: AgencyTable
  auth: GatewayAuth
}

/**
 * The portal home page: the catalogue of agencies and their services, who is signed in,
 * and the way to the idp's account page. A page, not an app: no JavaScript, cacheable
 * for no one (it shows who is signed in).
 */
/** The portal's own sign-in. */
export const signInPath = '/masuk'

export async function portalRoutes(app: FastifyInstance, deps: PortalDeps): Promise<void> {
  const { config, table, auth } = deps
  const accountUrl = new URL('/akun', config.idp.issuer).toString()

  app.get('/', async (req, reply) => {
    // The portal is a public page: a bad or expired token just means "not signed in" here.
    const found = await auth.identify(req).catch(() => undefined)
    // A client's own token names no citizen: nobody is signed in.
    const identity = found?.via === 'client' ? undefined : found
    if (found === undefined) {
      // Signed in at Satu Pintu already? Then here too, without a page (once per browser session).
      const silent = await auth.trySilentSignIn(req, reply)
      if (silent !== undefined) return silent
    }
    const locale = pickLocale(req)
    const agencies = table.agencies.map((a) => ({
      name: a.name[locale],
      services: [...a.services]
        .sort((x, y) => x.path.localeCompare(y.path))
        .map((s) => ({
          name: s.name[locale],
          // Each agency at its own origin (issue 10 §2).
          href: `${a.origin}${s.path === '/' ? '/' : s.path}`,
          purpose: s.purpose?.[locale] ?? '',
          badge:
            s.access === 'public'
              ? 'portal.public'
              : // "Verified account" is about the person (an officer checked the KTP-el),
                // not about how strongly they sign in: the service's minIdentity says it.
                identityRank(s.minIdentity) >= identityRank('in_person')
                ? 'portal.needsVerified'
                : 'portal.needsAccount',
        })),
    }))
    const name = identity?.claims.name
    return reply.page('portal', {
      agencies,
      citizenName: typeof name === 'string' ? name : '',
      accountUrl,
      logoutPath: auth.logoutPath,
      signInPath,
    })
  })

  // Signing in at the portal itself (its own session, like every host's): the idp's
  // sign-in, then back to the portal's home.
  app.get(signInPath, async (req, reply) => {
    const found = await auth.identify(req).catch(() => undefined)
    if (found !== undefined && found.via === 'session') return reply.redirect('/', 303)
    return auth.challenge(req, reply, {}, undefined)
  })
}
