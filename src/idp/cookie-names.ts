import type { Config } from '../config/schema.ts'

/**
 * The idp's cookie names. Over https they carry the `__Host-` prefix (RFC 6265bis
 * §4.1.3.2): a browser keeps such a cookie only when this very host set it, Secure, with
 * `Path=/` and no `Domain`, so no sibling host under the regency's domain (an agency's
 * origin, say) can plant or overwrite the session, a sign-in step, a registration or a
 * password reset of ours (cookie tossing). Plain http — the quick start on localhost —
 * has no prefix to offer and keeps the plain names.
 */
export function idpIsSecure(config: Config): boolean {
  return config.idp.issuer.startsWith('https://')
}

export function hostCookieName(config: Config, base: string): string {
  return idpIsSecure(config) ? `__Host-${base}` : base
}

/** The provider's session cookie (provider.ts, cookies.names.session). */
export function sessionCookieName(config: Config): string {
  return hostCookieName(config, 'sp_session')
}

/** The provider's interaction cookie; `__Host-` means Path=/, so provider.ts sets that path. */
export function interactionCookieName(config: Config): string {
  return hostCookieName(config, 'sp_interaction')
}

/**
 * The provider's resume cookie: oidc-provider always scopes it to `/auth/<uid>`, which a
 * `__Host-` cookie may not be; `__Secure-` (Secure only) is what it can have.
 */
export function resumeCookieName(config: Config): string {
  return idpIsSecure(config) ? '__Secure-sp_interaction_resume' : 'sp_interaction_resume'
}

/**
 * The officer console's session cookie (console/routes.ts), apart from the citizens'
 * provider session: a citizen session opens nothing under /petugas, and an officer's
 * nothing elsewhere. Over https `__Host-` (so Path=/, which the prefix requires); over
 * plain http scoped to /petugas.
 */
export function officerSessionCookieName(config: Config): string {
  return hostCookieName(config, 'sp_petugas')
}
