import { randomBytes, createHash } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Config } from '../../config/schema.ts'
import { safeReturnPath as checkedReturnPath } from '../../http/return-path.ts'
import type { Database } from '../../db/database.ts'
import { findClient, prepareClient, upsertClient } from '../oidc/clients.ts'

/**
 * The citizen's own pages ("Akun Saya") are a first-party client of the idp: a citizen
 * without a session is sent through the ordinary authorization endpoint (so sign-in,
 * throttling, step-up and session rules are the provider's, not a second copy), and the
 * pages then read the provider's session. No consent is asked for this one client.
 */
export const accountClientId = 'satupintu-akun'

export function accountCallbackPath(): string {
  return '/akun/kembali'
}

/** Registers (or refreshes) the account pages' client at start-up. */
export async function ensureAccountClient(db: Kysely<Database>, config: Config): Promise<void> {
  const prepared = prepareClient(
    {
      clientId: accountClientId,
      name: 'Akun Saya — Satu Pintu',
      agencyId: 'satupintu',
      redirectUris: [new URL(accountCallbackPath(), config.idp.issuer).toString()],
      authMethod: 'none',
      // The citizen's own pages: first-party, the account id is their subject.
      firstParty: true,
      subjectType: 'public',
      scopes: ['openid'],
      grantTypes: ['authorization_code'],
    },
    { allowLoopbackHttp: config.env !== 'production' },
  )
  const existing = await findClient(db, accountClientId)
  if (existing && JSON.stringify(existing.metadata) === JSON.stringify(prepared.metadata)) return
  await upsertClient(db, prepared, 'system')
}

/**
 * Where to send a browser that must sign in before an account page: an authorization
 * request of the account client. `returnTo` (a path on the idp) is carried in `state`.
 */
export function accountSignInUrl(
  config: Config,
  returnTo: string,
  options: { prompt?: 'login'; acrValues?: string } = {},
): string {
  const verifier = randomBytes(32).toString('base64url')
  const url = new URL('/auth', config.idp.issuer)
  url.searchParams.set('client_id', accountClientId)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('scope', 'openid')
  url.searchParams.set('redirect_uri', new URL(accountCallbackPath(), config.idp.issuer).toString())
  // PKCE is required of every client; the account pages never redeem the code (the
  // session they need is the provider's), so the verifier is not kept.
  url.searchParams.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'))
  url.searchParams.set('code_challenge_method', 'S256')
  url.searchParams.set('state', safeReturnPath(returnTo))
  if (options.prompt) url.searchParams.set('prompt', options.prompt)
  if (options.acrValues) url.searchParams.set('acr_values', options.acrValues)
  return url.toString()
}

/** The longest local return path kept (longer ones fall back to /akun). */
export const maxLocalReturnPath = 4096

/** Only a local absolute path may be a return target (no open redirect); else /akun. */
export function safeReturnPath(p: unknown): string {
  // Long enough for a document question's own URL (src/idp/documents/consent.ts) with a
  // registered redirect URI and state, percent-encoded.
  return checkedReturnPath(p, { fallback: '/akun', maxLength: maxLocalReturnPath })
}
