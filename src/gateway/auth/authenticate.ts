import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto'
import type { CookieSerializeOptions } from '@fastify/cookie'
import formbody from '@fastify/formbody'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { jwtVerify, type JWTPayload } from 'jose'
import type { Kysely } from 'kysely'
import * as oidc from 'openid-client'
import type { Logger } from 'pino'
import type { Config } from '../../config/schema.ts'
import type { Database } from '../../db/database.ts'
import { AppError } from '../../errors/app-error.ts'
import { wantsHtml } from '../../http/errors.ts'
import { errorResponse } from '../../http/openapi.ts'
import { safeReturnPath as checkedReturnPath } from '../../http/return-path.ts'
import { pickLocale } from '../../http/locale.ts'
import type { KeyEncryption } from '../../keys/encryption.ts'
import type { Job } from '../../jobs/jobs.ts'
import {
  accessTokenAlgorithms,
  authChallenge,
  clockToleranceSeconds,
  createAccessTokenVerifier,
  RefusedCredentialError,
  KeysUnavailableError,
  presentedToken,
  type AuthScheme,
  type IdpKeys,
  type PresentedToken,
} from './bearer.ts'
import type { AgencyTable } from '../agencies.ts'
import type { KnownSite, Sites } from '../sites.ts'
import type { GatewayAuth, Requirement } from '../contracts.ts'
import { dpopAlgorithms, verifyDpopProof } from './dpop.ts'
import type { RevokedSessions } from './revocations.ts'
import { createCookieSigners } from './cookie-signers.ts'
import { createIdpDiscovery } from './discovery.ts'
import { createSessionStore } from './session-store.ts'
import {
  acrLevel,
  belowIdentity,
  identityLevelOf,
  identityRank,
  type Identity,
  knownIdentityLevels,
  levelShortfall,
  maxAgeFor,
  nowSeconds,
} from './identity.ts'
import { translator } from '../../http/i18n.ts'
import { gatewayMessages } from '../messages.ts'
import {
  createSession,
  deleteSession,
  deleteSessionsForLogout,
  findSession,
  hashSessionId,
  newSessionId,
  purgeExpiredJtis,
  purgeExpiredSessions,
  rememberJti,
  sessionIsLive,
  touchSession,
  type SessionLimits,
} from './sessions.ts'

/**
 * Who is calling (issue 4): browsers with a gateway session (the gateway is a
 * confidential OIDC client of the idp, code flow with PKCE), apps and kiosks with JWT
 * access tokens for the gateway's resource (DPoP when bound), and step-up (RFC 9470).
 * Everything shared lives in PostgreSQL: any instance serves any session, and a session
 * ended on one instance is ended on all within `sessionCacheMs`.
 */

/**
 * The gateway's session cookie, one per host (the portal's, each agency's): host-only (no
 * Domain), so no sibling host ever receives it, and `__Host-` prefixed behind https so no
 * sibling can plant one either (RFC 6265bis §4.1.3.2). The proxy removes it before a
 * request reaches an agency (docs/security.md line 22).
 */
export const sessionCookieName = 'sp_gw'
/** The session cookie's name as sent: `__Host-sp_gw` behind https, `sp_gw` on plain http (quick start). */
export function sessionCookieNameFor(secure: boolean): string {
  return secure ? `__Host-${sessionCookieName}` : sessionCookieName
}
/** Per sign-in transaction cookies: `sp_gw_tx_<start of state>`, only sent to the callback. */
export const transactionCookiePrefix = 'sp_gw_tx_'
export const callbackPath = '/oidc/callback'
export const backchannelLogoutPath = '/oidc/backchannel-logout'
export const logoutPath = '/keluar'
/**
 * Marks a browser session in which the portal has already tried a silent sign-in (see
 * `trySilentSignIn`): a session cookie (no Max-Age), so a new browser session tries once
 * again. Holds no data: its presence is the mark.
 */
export const silentTriedCookieName = 'sp_gw_sso'
/**
 * Where the callback sends a silent sign-in's answer that arrives without its transaction
 * cookie (a browser that keeps no cookies): the portal's home with this flag, which stops
 * it from trying again — the cookie that would have done so could not be kept.
 */
export const silentDoneQuery = 'sso=0'
/**
 * The idp's answers to `prompt=none` that mean "no sign-in without asking" (OIDC Core
 * §3.1.2.6): the page is shown as it is, the citizen not signed in here.
 */
const silentRefusals = new Set([
  'login_required',
  'interaction_required',
  'consent_required',
  'account_selection_required',
])

/**
 * How long an instance may answer from its memory of a session row. A session deleted by
 * another instance (logout, back-channel logout) is refused here at most this long later:
 * the requirement is one second (issue 4), and the idp's end-session request, its
 * back-channel call and a database round trip must fit in the rest. Long enough to spare
 * the database the bursts of one page (its images, styles, API calls).
 */
export const sessionCacheMs = 250
/** Most session rows kept in memory per instance. */
const sessionCacheMax = 10_000
/** Scopes every browser sign-in asks for (DESIGN.md, "Scopes and claims"). */
const baseScopes = ['openid', 'profile'] as const
/** A sign-in has this long from the redirect to the callback (the idp gives 15 minutes to sign in). */
const transactionSeconds = 20 * 60
/** `state` as openid-client makes it (32 random bytes, base64url); we refuse anything else. */
const statePattern = /^[A-Za-z0-9_-]{43}$/
const sessionIdPattern = /^[A-Za-z0-9_-]{43}$/
const backchannelLogoutEvent = 'http://schemas.openid.net/event/backchannel-logout'
/** Claims that describe the token rather than the citizen: never copied into a session's released claims. */
const nonReleasedClaims = new Set([
  'sub',
  'iss',
  'aud',
  'exp',
  'iat',
  'nbf',
  'jti',
  'nonce',
  'auth_time',
  'acr',
  'amr',
  'azp',
  'sid',
  'at_hash',
  'c_hash',
])

export interface GatewayAuthDeps {
  config: Config
  db: Kysely<Database>
  logger: Logger
  kek: KeyEncryption
  /** The agencies: their origins are audiences of bearer tokens. */
  table: AgencyTable
  /** The sites (portal, agency hosts): each has its own session and sign-in callback. */
  sites: Sites
  /** The gateway's client secret at the idp; without it browsers cannot sign in (bearer tokens still work). */
  clientSecret: string | undefined
  /** Sessions the idp ended: their access tokens are refused (revocations.ts). */
  revoked: RevokedSessions
}

/** A path on the site's own origin to return to after signing in, or '/' for anything else. */
export function safeReturnPath(url: string | undefined): string {
  return checkedReturnPath(url, { fallback: '/', maxLength: 2048 })
}

interface SignInTransaction {
  /** state */
  s: string
  /** PKCE code_verifier */
  v: string
  /** nonce */
  n: string
  /** return path */
  r: string
  /** acr_values asked for, if any */
  a: string | null
  /** scopes asked for */
  sc: string[]
  /** the host the sign-in started on: the callback must be on the same one */
  h: string
  /** 'none' for a silent sign-in (prompt=none): any error answer returns quietly to `r` */
  p?: 'none'
}

function isTransaction(v: unknown): v is SignInTransaction {
  if (typeof v !== 'object' || v === null) return false
  const t = v as Record<string, unknown>
  return (
    typeof t.s === 'string' &&
    typeof t.v === 'string' &&
    typeof t.n === 'string' &&
    typeof t.r === 'string' &&
    (t.a === null || typeof t.a === 'string') &&
    Array.isArray(t.sc) &&
    t.sc.every((x) => typeof x === 'string') &&
    typeof t.h === 'string' &&
    (t.p === undefined || t.p === 'none')
  )
}

/**
 * Builds the gateway's authentication and registers its routes on `app`: the OIDC
 * callback, the logout (`/keluar`) and the back-channel logout endpoint. Needs the pages
 * plugins (cookies, error handler) registered on `app` first.
 */
/** The gateway's authentication, and the background work it needs (for the service's jobs list). */
export async function createGatewayAuth(
  app: FastifyInstance,
  deps: GatewayAuthDeps,
): Promise<GatewayAuth & { readonly background: readonly Job[] }> {
  const { config, db, kek, clientSecret } = deps
  const logger = deps.logger.child({ component: 'gateway-auth' })
  const { sites } = deps
  const base = config.gateway.publicUrl.replace(/\/+$/, '')
  const secureCookies = base.startsWith('https://')
  const cookieName = sessionCookieNameFor(secureCookies)
  const silentTriedCookie = secureCookies ? `__Host-${silentTriedCookieName}` : silentTriedCookieName
  const csrfKey = createSecretKey(kek.derive('gateway sign-out'))
  /** The site a request came to; the routes here are registered on known sites only. */
  function siteOf(req: FastifyRequest): KnownSite {
    const site = sites.siteOf(req.raw)
    if (site.kind === 'unknown') throw new AppError('misdirected_request')
    return site
  }
  const redirectUriOf = (site: KnownSite) => `${site.origin}${callbackPath}`
  /** The URL the client asked for (an agency host's requests are rewritten internally, sites.ts). */
  const clientUrl = (req: FastifyRequest) => req.originalUrl
  const limits: SessionLimits = {
    idleSeconds: config.gateway.session.idleSeconds,
    absoluteSeconds: config.gateway.session.absoluteSeconds,
  }
  // The idle clock needs no write per request: once a minute (or a tenth of the idle time) is enough.
  const touchEveryMs = Math.min(60_000, (limits.idleSeconds * 1000) / 10)
  // Tokens for the gateway's own resource (document links, the portal) and for each
  // agency's origin are verified here; which audience a route needs, the route decides
  // (proxy.ts tokenRefusal: the agency's origin only).
  const audience = [config.idp.gatewayResource ?? config.gateway.publicUrl, ...deps.table.agencies.map((a) => a.origin)]
  const issuerUrl = new URL(config.idp.issuer)
  const sessionCookie: CookieSerializeOptions = { path: '/', httpOnly: true, sameSite: 'lax', secure: secureCookies }
  const transactionCookie: CookieSerializeOptions = {
    path: callbackPath,
    httpOnly: true,
    sameSite: 'lax',
    secure: secureCookies,
  }

  if (clientSecret === undefined) {
    logger.warn('gateway.clientSecret is not set: browsers cannot sign in at the gateway (bearer tokens still work)')
  }

  // ---- Cookie keys: from the database, reloaded like every instance reloads keys. ----
  const cookieSigners = await createCookieSigners({
    db,
    kek,
    logger,
    labels: { session: sessionCookieName, transaction: transactionCookiePrefix },
  })

  // ---- The idp: discovered lazily and again after a failure, so the gateway starts while the idp is down. ----
  const discovery = createIdpDiscovery({ config, clientSecret, logger })
  const discovered = discovery.discovered
  const idp = discovery.idp

  const tokens = createAccessTokenVerifier({
    audience,
    keys: async () => {
      try {
        return (await discovered()).keys
      } catch (err) {
        throw new KeysUnavailableError({ cause: err })
      }
    },
  })

  // ---- Session rows, with a short memory per instance (session-store.ts). ----
  const store = createSessionStore({
    find: (idHash) => findSession(db, idHash),
    cacheMs: sessionCacheMs,
    cacheMax: sessionCacheMax,
  })

  function cookiesOf(req: FastifyRequest): Record<string, string | undefined> {
    return req.cookies ?? app.parseCookie(req.headers.cookie ?? '')
  }
  /** Requests whose session cookie was signed with an older key: re-signed on the way out. */
  const renewals = new WeakMap<FastifyRequest, string>()

  /** The session id in the request's cookie, if its signature holds; `renew` when signed with an older key. */
  async function sessionCookieOf(req: FastifyRequest): Promise<{ id: string; renew: boolean } | undefined> {
    const raw = cookiesOf(req)[cookieName]
    if (raw === undefined || raw.length > 200) return undefined
    const r = await cookieSigners.unsign('session', raw)
    if (r === undefined || !sessionIdPattern.test(r.value)) return undefined
    return { id: r.value, renew: r.renew }
  }
  async function sessionIdFrom(req: FastifyRequest): Promise<string | undefined> {
    return (await sessionCookieOf(req))?.id
  }

  async function checkedSessionCookie(
    req: FastifyRequest,
  ): Promise<{ id: string; renew: boolean; idHash: string } | undefined> {
    const raw = cookiesOf(req)[cookieName]
    if (raw === undefined) return undefined
    return store.checkedCookie(req.raw.socket, raw, cookieSigners.current(), async () => {
      const cookie = await sessionCookieOf(req)
      return cookie === undefined ? undefined : { id: cookie.id, renew: cookie.renew, idHash: hashSessionId(cookie.id) }
    })
  }

  async function identifySession(req: FastifyRequest): Promise<Identity | undefined> {
    const cookie = await checkedSessionCookie(req)
    if (cookie === undefined) return undefined
    const idHash = cookie.idHash
    let row = await store.row(idHash)
    if (row === undefined) return undefined
    // A session is accepted only on the host it was made on: agency A's session is never
    // agency B's, nor the portal's (issue 10 §2), whatever cookie a browser is made to send.
    if (row.site !== siteOf(req).host) return undefined
    const now = new Date()
    if (!sessionIsLive(row, limits, now)) {
      // What this instance remembers may predate a use on another instance: ask the
      // database before ending the session.
      store.forget([idHash])
      row = await store.row(idHash)
      if (row === undefined) return undefined
      if (!sessionIsLive(row, limits, now)) {
        store.forget([idHash])
        await deleteSession(db, idHash).catch((err: unknown) =>
          req.log.warn({ err }, 'could not delete an expired gateway session'),
        )
        return undefined
      }
    }
    if (now.getTime() - row.last_seen_at.getTime() >= touchEveryMs) {
      try {
        await touchSession(db, idHash, now)
        store.replace(idHash, { ...row, last_seen_at: now })
      } catch (err) {
        // The session is still valid; the idle clock catches up on the next request.
        req.log.warn({ err }, 'could not record gateway session use')
      }
    }
    // Signed with a key that is retiring: re-signed with the current one on the way out.
    if (cookie.renew) renewals.set(req, cookie.id)
    return store.identity(row)
  }

  // ---- Bearer tokens. ----
  function unauthorized(scheme: AuthScheme, description: string, error = 'invalid_token', cause?: unknown): AppError {
    const params: Record<string, string | undefined> = { error, error_description: description }
    if (scheme === 'DPoP') params.algs = dpopAlgorithms.join(' ')
    return new AppError('unauthorized', description, {
      headers: { 'www-authenticate': authChallenge(scheme, params) },
      cause,
    })
  }

  function publicUrlOf(req: FastifyRequest): string {
    // The URL the client used, as it must appear in a DPoP proof's htu: our public origin
    // and the request's path, never the Host or X-Forwarded-Host a caller sends.
    const path = clientUrl(req).split('?', 1)[0] ?? '/'
    return `${siteOf(req).origin}${path}`
  }

  async function identifyBearer(req: FastifyRequest, presented: PresentedToken): Promise<Identity> {
    let verified: Awaited<ReturnType<typeof tokens.verify>>
    try {
      verified = await tokens.verify(presented.token, req.raw.socket)
    } catch (err) {
      if (err instanceof RefusedCredentialError)
        throw unauthorized(presented.scheme, err.description, err.oauthError, err)
      if (err instanceof KeysUnavailableError) throw new AppError('not_ready', undefined, { cause: err })
      throw err
    }
    // Signed out (or signed out everywhere, or the password reset) since it was issued.
    // Not a cached verdict: asked at every request, since the set changes under the cache.
    if (deps.revoked.refuses(verified.sessionHash, verified.issuedAt)) {
      throw unauthorized(
        verified.jkt === undefined ? 'Bearer' : 'DPoP',
        'The access token was revoked: the session it was issued in has ended',
      )
    }
    const proofHeader = req.headers.dpop
    if (verified.jkt === undefined) {
      // RFC 9449 §7.1: the DPoP scheme is for bound tokens only.
      if (presented.scheme === 'DPoP') throw unauthorized('DPoP', 'The access token is not DPoP-bound')
      return verified.identity
    }
    // A bound token used as a plain bearer token is refused (RFC 9449 §7.2: no downgrade).
    if (presented.scheme !== 'DPoP')
      throw unauthorized('DPoP', 'The access token is DPoP-bound: send it with the DPoP scheme and a proof')
    if (typeof proofHeader !== 'string' || proofHeader === '' || proofHeader.includes(',')) {
      throw unauthorized('DPoP', 'A single DPoP proof is required', 'invalid_dpop_proof')
    }
    try {
      await verifyDpopProof(
        proofHeader,
        { method: req.method, url: publicUrlOf(req), accessTokenHash: verified.hash, jkt: verified.jkt },
        (jti, expiresAt) => rememberJti(db, 'dpop', jti, expiresAt),
      )
    } catch (err) {
      if (err instanceof RefusedCredentialError) throw unauthorized('DPoP', err.description, err.oauthError, err)
      throw err
    }
    return verified.identity
  }

  function presentedOf(req: FastifyRequest): PresentedToken | undefined {
    try {
      return presentedToken(req.headers.authorization)
    } catch (err) {
      if (err instanceof RefusedCredentialError) throw unauthorized('Bearer', err.description, err.oauthError, err)
      throw err
    }
  }

  async function identify(req: FastifyRequest): Promise<Identity | undefined> {
    const presented = presentedOf(req)
    // An API caller's token decides, even when a session cookie rides along.
    if (presented !== undefined) return identifyBearer(req, presented)
    return identifySession(req)
  }

  // ---- Challenges. ----
  function isBrowserNavigation(req: FastifyRequest): boolean {
    return (req.method === 'GET' || req.method === 'HEAD') && wantsHtml(req)
  }

  /** The scheme of the caller's Authorization header when it is ours (Bearer, DPoP); malformed counts as Bearer. */
  function schemeOf(req: FastifyRequest): AuthScheme | undefined {
    try {
      return presentedToken(req.headers.authorization)?.scheme
    } catch {
      return 'Bearer'
    }
  }

  /** What an API caller (or a browser that cannot be redirected) gets: RFC 6750 §3, RFC 9470 §3. */
  /** 403 `insufficient_identity`: the level needed and the caller's, for the agency's app to explain. */
  function insufficientIdentity(identity: Identity, need: Requirement): AppError {
    return new AppError('insufficient_identity', undefined, {
      details: { min_identity: need.identity, identity_level: identityLevelOf(identity) || null },
    })
  }

  function apiRefusal(req: FastifyRequest, need: Requirement, identity: Identity | undefined): AppError {
    const scheme = schemeOf(req) ?? 'Bearer'
    const scope = need.scopes !== undefined && need.scopes.length > 0 ? need.scopes.join(' ') : undefined
    if (identity === undefined) {
      // No credentials: no error code (RFC 6750 §3.1).
      return new AppError('unauthorized', undefined, {
        headers: { 'www-authenticate': authChallenge('Bearer', { realm: 'satupintu', scope }) },
      })
    }
    const short = levelShortfall(identity, need.acr, config.signInLevels, nowSeconds())
    if (short !== undefined && need.acr !== undefined) {
      // RFC 9470 §3: the level; and when the sign-in reached it but too long ago, how
      // recent it must be (max_age), so the client asks for a fresh one.
      const description =
        short === 'age'
          ? 'A more recent sign-in is required for this level of assurance'
          : 'A higher level of sign-in assurance is required'
      const maxAge = short === 'age' ? maxAgeFor(need.acr, config.signInLevels) : undefined
      return new AppError('unauthorized', description, {
        headers: {
          'www-authenticate': authChallenge(scheme, {
            error: 'insufficient_user_authentication',
            error_description: description,
            acr_values: need.acr,
            max_age: maxAge === undefined ? undefined : String(maxAge),
          }),
        },
      })
    }
    // How well the person was proven is not how they signed in: no challenge can raise it
    // (a stronger sign-in or a new token changes nothing), so no WWW-Authenticate.
    if (belowIdentity(identity, need)) return insufficientIdentity(identity, need)
    const missing = (need.scopes ?? []).filter((s) => !identity.scopes.includes(s))
    const description =
      missing.length > 0 ? 'The access token does not have the scope this service needs' : 'Not allowed'
    return new AppError('forbidden', description, {
      headers: {
        'www-authenticate': authChallenge(scheme, {
          error: 'insufficient_scope',
          error_description: description,
          scope,
        }),
      },
    })
  }

  async function startSignIn(
    req: FastifyRequest,
    reply: FastifyReply,
    ask: { acr: string | undefined; scopes: readonly string[]; prompt: 'login' | 'none' | undefined },
  ): Promise<FastifyReply> {
    if (clientSecret === undefined) {
      return reply.send(new AppError('not_ready', undefined, { cause: new Error('gateway.clientSecret is not set') }))
    }
    const site = siteOf(req)
    const { client, scopesSupported } = await idp()
    // Only scopes the idp knows can be asked for; offline_access is never asked: the
    // gateway calls no idp API after sign-in, so it keeps no refresh token.
    const scopes = [
      ...new Set([...baseScopes, ...ask.scopes.filter((s) => s !== 'offline_access' && scopesSupported.includes(s))]),
    ]
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const nonce = oidc.randomNonce()
    const params: Record<string, string> = {
      redirect_uri: redirectUriOf(site),
      scope: scopes.join(' '),
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ui_locales: pickLocale(req),
    }
    // RFC 9470 §4 / OIDC Core §3.1.2.1: ask for the level; prompt=login makes the idp
    // authenticate again rather than reuse the sign-in that was not enough.
    if (ask.acr !== undefined) params.acr_values = ask.acr
    if (ask.prompt !== undefined) params.prompt = ask.prompt
    const url = oidc.buildAuthorizationUrl(client, params)
    const tx: SignInTransaction = {
      s: state,
      v: verifier,
      n: nonce,
      r: safeReturnPath(clientUrl(req)),
      a: ask.acr ?? null,
      sc: scopes,
      h: site.host,
    }
    if (ask.prompt === 'none') tx.p = 'none'
    const value = cookieSigners
      .current()
      .transaction.sign(Buffer.from(JSON.stringify(tx), 'utf8').toString('base64url'))
    reply.setCookie(`${transactionCookiePrefix}${state.slice(0, 16)}`, value, {
      ...transactionCookie,
      maxAge: transactionSeconds,
    })
    return reply.header('cache-control', 'no-store').redirect(url.href, 303)
  }

  async function challenge(
    req: FastifyRequest,
    reply: FastifyReply,
    need: Requirement,
    identity: Identity | undefined,
  ): Promise<FastifyReply> {
    const hasToken = schemeOf(req) !== undefined
    if (identity?.via === 'bearer' || hasToken || !isBrowserNavigation(req))
      return reply.send(apiRefusal(req, need, identity))
    if (identity === undefined)
      return startSignIn(req, reply, { acr: need.acr, scopes: need.scopes ?? [], prompt: undefined })

    // A browser with a session that is not enough: sign in again, asking for more — once.
    const row = identity.sessionId === undefined ? undefined : await store.row(identity.sessionId)
    const wantScopes = [...new Set([...identity.scopes, ...(need.scopes ?? [])])]
    const short = levelShortfall(identity, need.acr, config.signInLevels, nowSeconds())
    if (short !== undefined) {
      // A sign-in that reached the level but too long ago signs in again (prompt=login);
      // only one that asked for the level and still did not get it is refused.
      if (short === 'level' && row !== undefined && acrLevel(row.requested_acr ?? undefined) >= acrLevel(need.acr)) {
        // The sign-in that made this session already asked for this level and the idp
        // could not give it: another redirect would only loop.
        return reply.send(
          new AppError('forbidden', 'This service needs a higher level of sign-in assurance than your account has.'),
        )
      }
      return startSignIn(req, reply, { acr: need.acr, scopes: wantScopes, prompt: 'login' })
    }
    // Below the service's identity level: signing in again cannot help. The citizen is
    // told, in words, what is missing and where to have the KTP-el checked.
    if (belowIdentity(identity, need)) {
      const t = translator(gatewayMessages, pickLocale(req))
      const site = siteOf(req)
      const level = identityLevelOf(identity)
      return reply.header('cache-control', 'no-store').page(
        'identitas-kurang',
        {
          service: site.kind === 'agency' ? site.agency.name[pickLocale(req)] : 'Satu Pintu',
          needed: t(`identitas.level.${identityRank(need.identity) >= 3 ? 'in_person' : 'contact_verified'}`),
          current: knownIdentityLevels.includes(level)
            ? t(`identitas.level.${level as 'self_asserted' | 'contact_verified' | 'in_person' | 'dukcapil'}`)
            : t('identitas.level.unknown'),
          inPerson: identityRank(need.identity) >= 3,
          account: new URL('/akun', issuerUrl).href,
          home: '/',
        },
        { status: 403 },
      )
    }
    const missing = (need.scopes ?? []).filter((s) => !identity.scopes.includes(s))
    if (missing.length > 0) {
      const { scopesSupported } = await idp()
      const askable = missing.every((s) => s !== 'offline_access' && scopesSupported.includes(s))
      const askedBefore = row !== undefined && missing.every((s) => row.requested_scopes.includes(s))
      if (askable && !askedBefore)
        return startSignIn(req, reply, {
          acr: need.acr ?? (identity.acr || undefined),
          scopes: wantScopes,
          prompt: undefined,
        })
      return reply.send(new AppError('forbidden', 'You have not allowed this service to use the data it needs.'))
    }
    return reply.send(new AppError('forbidden'))
  }

  /**
   * The portal's silent sign-in (OIDC Core §3.1.2.1, prompt=none), once per browser
   * session: a citizen already signed in at the idp is signed in here too, with no page
   * shown; otherwise the idp answers login_required and the callback returns to the page.
   * Only for a plain browser navigation on the portal with no session, no token and no
   * mark of an earlier try (the mark cookie, or the flag of a browser without cookies), and
   * only while the idp is reachable. Undefined when not tried: the caller shows its page.
   */
  async function trySilentSignIn(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    if (req.method !== 'GET' || !wantsHtml(req) || schemeOf(req) !== undefined) return undefined
    if (clientSecret === undefined || siteOf(req).kind !== 'portal') return undefined
    // A prefetch or prerender is not the citizen opening the page.
    const purpose = `${String(req.headers['sec-purpose'] ?? '')} ${String(req.headers.purpose ?? '')}`
    if (/prefetch|prerender/i.test(purpose)) return undefined
    if (cookiesOf(req)[silentTriedCookie] !== undefined) return undefined
    const search = clientUrl(req).split('?')[1]
    if (search !== undefined && new URLSearchParams(search).get('sso') === '0') return undefined
    try {
      await discovered()
    } catch {
      return undefined
    }
    reply.setCookie(silentTriedCookie, '1', sessionCookie)
    return startSignIn(req, reply, { acr: undefined, scopes: [], prompt: 'none' })
  }

  // ---- Routes. ----
  app.addHook('onSend', async (req, reply) => {
    const id = renewals.get(req)
    if (id !== undefined) reply.setCookie(cookieName, cookieSigners.current().session.sign(id), sessionCookie)
  })

  await app.register(async (scope) => {
    // Only the back-channel logout reads a form, and only here: the proxied routes keep
    // their bodies as streams (@fastify/formbody stays inside this plugin scope).
    await scope.register(formbody, { bodyLimit: 16_384 })

    scope.get(
      callbackPath,
      {
        schema: {
          querystring: {
            type: 'object',
            properties: {
              state: { type: 'string', maxLength: 512 },
              code: { type: 'string', maxLength: 2048 },
              iss: { type: 'string', maxLength: 2048 },
              error: { type: 'string', maxLength: 256 },
              error_description: { type: 'string', maxLength: 2048 },
            },
          },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store')
        const query = req.query as Record<string, string | undefined>
        const state = query.state
        if (state === undefined || !statePattern.test(state))
          throw new AppError('bad_request', 'The sign-in response is not valid.')
        const txCookieName = `${transactionCookiePrefix}${state.slice(0, 16)}`
        const tx = await readTransaction(cookiesOf(req)[txCookieName])
        reply.clearCookie(txCookieName, transactionCookie)
        const site = siteOf(req)
        if (query.error !== undefined && site.kind === 'portal') {
          // The portal's silent sign-in came back without one: show the portal as it is.
          if (tx !== undefined && tx.s === state && tx.h === site.host && tx.p === 'none') {
            req.log.info({ error: query.error }, 'no silent sign-in at the portal')
            return reply.redirect(`${site.origin}${safeReturnPath(tx.r)}`, 303)
          }
          // Its transaction cookie was not kept (a browser without cookies): the portal
          // home, flagged so that it does not try again and loop.
          if (tx === undefined && silentRefusals.has(query.error))
            return reply.redirect(`${site.origin}/?${silentDoneQuery}`, 303)
        }
        if (tx === undefined || tx.s !== state || tx.h !== site.host) {
          throw new AppError(
            'bad_request',
            'This sign-in has expired or was started in another browser. Please start again.',
          )
        }
        if (query.error === 'unmet_authentication_requirements') {
          // The idp could not sign the citizen in at the level this route asked for (no
          // factor strong enough, and the idp has told them how to turn one on).
          req.log.info({ error: query.error, acr: tx.a }, 'the level asked for could not be had at the idp')
          throw new AppError(
            'forbidden',
            'This service needs a higher level of sign-in assurance than your account has.',
          )
        }
        if (query.error !== undefined) {
          req.log.info({ error: query.error }, 'sign-in at the idp ended without success')
          throw new AppError(
            query.error === 'access_denied' ? 'forbidden' : 'bad_request',
            'The sign-in was not completed.',
          )
        }
        const { client } = await idp()
        const current = new URL(redirectUriOf(site))
        current.search = new URL(clientUrl(req), site.origin).search
        let granted: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>
        try {
          granted = await oidc.authorizationCodeGrant(client, current, {
            pkceCodeVerifier: tx.v,
            expectedState: tx.s,
            expectedNonce: tx.n,
            idTokenExpected: true,
          })
        } catch (err) {
          req.log.warn(
            {
              err: {
                message: (err as Error).message,
                code: (err as { code?: unknown }).code,
                error: (err as { error?: unknown }).error,
              },
            },
            'code exchange failed',
          )
          throw new AppError('bad_request', 'The sign-in could not be completed. Please start again.', { cause: err })
        }
        const idClaims = granted.claims()
        if (idClaims === undefined)
          throw new AppError('bad_request', 'The sign-in could not be completed. Please start again.')
        let userinfo: Record<string, unknown>
        try {
          userinfo = await oidc.fetchUserInfo(client, granted.access_token, idClaims.sub)
        } catch (err) {
          throw new AppError('internal', undefined, { cause: err })
        }
        const claims: Record<string, unknown> = {}
        for (const [k, v] of Object.entries(userinfo)) if (!nonReleasedClaims.has(k)) claims[k] = v
        const previous = await sessionIdFrom(req)
        const previousHash = previous === undefined ? undefined : hashSessionId(previous)
        const id = newSessionId()
        const idHash = hashSessionId(id)
        const row = await createSession(
          db,
          idHash,
          {
            sub: idClaims.sub,
            idpSid: typeof idClaims.sid === 'string' ? idClaims.sid : undefined,
            acr: typeof idClaims.acr === 'string' ? idClaims.acr : '',
            authTime:
              typeof idClaims.auth_time === 'number' && Number.isFinite(idClaims.auth_time)
                ? idClaims.auth_time
                : undefined,
            amr: Array.isArray(idClaims.amr) ? idClaims.amr.filter((x): x is string => typeof x === 'string') : [],
            scopes: (granted.scope ?? tx.sc.join(' ')).split(' ').filter((s) => s !== ''),
            site: site.host,
            claims,
            idTokenEnc:
              granted.id_token === undefined ? undefined : kek.encrypt(granted.id_token, `gateway-session:${idHash}`),
            requestedAcr: tx.a ?? undefined,
            requestedScopes: tx.sc,
          },
          limits,
          { replaces: previousHash },
        )
        if (previousHash !== undefined) store.forget([previousHash])
        store.remember(idHash, row)
        renewals.delete(req)
        reply.setCookie(cookieName, cookieSigners.current().session.sign(id), sessionCookie)
        return reply.redirect(`${site.origin}${safeReturnPath(tx.r)}`, 303)
      },
    )

    // Sign-out (issue 10 §4): a GET only shows the question, so no page of another site
    // can sign the citizen out by linking or embedding it; the answer is a POST with a
    // token bound to this host's session, from this origin (Sec-Fetch-Site, Origin).
    scope.get(logoutPath, async (req, reply) => {
      reply.header('cache-control', 'no-store')
      const site = siteOf(req)
      const identity = await identifySession(req)
      if (identity === undefined || identity.sessionId === undefined) {
        // Nothing to end on this host: the idp asks itself whether to end the sign-in there.
        return reply.redirect(await endSessionUrl(req, site, undefined), 303)
      }
      const name = identity.claims.name
      return reply.page(
        'keluar',
        {
          action: logoutPath,
          csrf: signOutToken(identity.sessionId),
          citizenName: typeof name === 'string' ? name : '',
          site: site.kind === 'agency' ? site.agency.name[pickLocale(req)] : 'Satu Pintu',
          home: '/',
        },
        // The answer redirects to the idp's end-session page: allowed as the form's destination.
        { formActionOrigins: [issuerUrl.origin] },
      )
    })

    scope.post(
      logoutPath,
      {
        bodyLimit: 4096,
        schema: {
          body: { type: 'object', required: ['_csrf'], properties: { _csrf: { type: 'string', maxLength: 128 } } },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store')
        const site = siteOf(req)
        // Fetch Metadata and Origin (OWASP CSRF cheat sheet): a browser says where a form
        // came from; only this very origin may end the session here.
        const fetchSite = req.headers['sec-fetch-site']
        const origin = req.headers.origin
        // Our pages send Referrer-Policy: no-referrer, under which a browser's own form POST
        // carries `Origin: null`; Sec-Fetch-Site and the session-bound token decide then.
        if (
          (fetchSite !== undefined && fetchSite !== 'same-origin') ||
          (origin !== undefined && origin !== 'null' && origin !== site.origin)
        ) {
          throw new AppError('forbidden', 'Sign-out must be confirmed on this site.')
        }
        const identity = await identifySession(req)
        const { _csrf: token } = req.body as { _csrf: string }
        if (identity === undefined || identity.sessionId === undefined) return reply.redirect(`${site.origin}/`, 303)
        if (!signOutTokenValid(token, identity.sessionId))
          throw new AppError('forbidden', 'This form has expired. Please try again.')
        const idHash = identity.sessionId
        store.forget([idHash])
        const row = await deleteSession(db, idHash)
        let idToken: string | undefined
        if (row?.id_token_enc) {
          try {
            idToken = kek.decrypt(row.id_token_enc, `gateway-session:${idHash}`)
          } catch (err) {
            req.log.warn({ err }, 'could not decrypt the ID token of a gateway session')
          }
        }
        renewals.delete(req)
        reply.clearCookie(cookieName, sessionCookie)
        // RP-Initiated Logout 1.0 §2: then the idp ends the sign-in itself (and with it,
        // through back-channel logout, this citizen's sessions on every other host).
        return reply.redirect(await endSessionUrl(req, site, idToken), 303)
      },
    )

    // OIDC Back-Channel Logout 1.0: the idp tells us a citizen signed out.
    scope.post(
      backchannelLogoutPath,
      {
        bodyLimit: 16_384,
        schema: {
          tags: ['oidc'],
          summary: 'Back-channel logout: the idp ends the gateway sessions of a sign-in',
          description:
            'OpenID Connect Back-Channel Logout 1.0 §2.5, called by the idp only. The logout token is verified (§2.6: signature by the idp, `iss`, `aud`, `iat`, the back-channel logout event, `sub` or `sid`, no `nonce`); every gateway session of that sign-in (or citizen) ends at once.',
          consumes: ['application/x-www-form-urlencoded'],
          body: {
            type: 'object',
            required: ['logout_token'],
            properties: { logout_token: { type: 'string', minLength: 1, maxLength: 8192 } },
          },
          response: {
            200: { description: 'The sessions are ended (an empty body).', type: 'null' },
            400: errorResponse('The logout token is missing or not valid (§2.8).'),
          },
        },
      },
      async (req, reply) => {
        reply.header('cache-control', 'no-store')
        const { logout_token: token } = req.body as { logout_token: string }
        let payload: JWTPayload
        try {
          payload = await verifyLogoutToken(token)
        } catch (err) {
          if (err instanceof AppError) throw err
          req.log.info({ reason: (err as Error).message }, 'logout token refused')
          // §2.8: 400 when the logout token is not valid.
          throw new AppError('bad_request', 'The logout token is not valid.', { cause: err })
        }
        const target = {
          sub: typeof payload.sub === 'string' ? payload.sub : undefined,
          sid: typeof payload.sid === 'string' ? payload.sid : undefined,
        }
        const deleted = await deleteSessionsForLogout(db, target)
        store.forget(deleted)
        // The rows are gone for every instance; this one also forgets what it cached of them.
        store.forgetWhere(
          (row) =>
            (target.sid === undefined || row.idp_sid === target.sid) &&
            (target.sub === undefined || row.sub === target.sub),
        )
        req.log.info({ sessions: deleted.length }, 'back-channel logout')
        return reply.code(200).send()
      },
    )
  })

  /** The idp's end-session URL for a sign-out on `site`, back to its home page afterwards. */
  async function endSessionUrl(req: FastifyRequest, site: KnownSite, idToken: string | undefined): Promise<string> {
    let client: oidc.Configuration
    try {
      client = (await discovered()).client
    } catch {
      return `${site.origin}/`
    }
    if (client.serverMetadata().end_session_endpoint === undefined) return `${site.origin}/`
    const params: Record<string, string> = {
      post_logout_redirect_uri: `${site.origin}/`,
      client_id: config.gateway.clientId,
      ui_locales: pickLocale(req),
    }
    if (idToken !== undefined) params.id_token_hint = idToken
    return oidc.buildEndSessionUrl(client, params).href
  }

  /** The sign-out form's token: an HMAC of this host's session (so it is good for it alone) and the time. */
  function signOutMac(sessionHash: string, issued: number): string {
    return createHmac('sha256', csrfKey).update(`${sessionHash}\0${issued}`, 'utf8').digest('base64url')
  }
  function signOutToken(sessionHash: string): string {
    const issued = Math.floor(Date.now() / 1000)
    return `${issued}.${signOutMac(sessionHash, issued)}`
  }
  function signOutTokenValid(token: string, sessionHash: string): boolean {
    const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token)
    if (m === null) return false
    const issued = Number(m[1])
    const age = Math.floor(Date.now() / 1000) - issued
    if (age < -60 || age > 3600) return false
    return timingSafeEqual(
      Buffer.from(signOutMac(sessionHash, issued), 'latin1'),
      Buffer.from(m[2] as string, 'latin1'),
    )
  }

  /** OIDC Back-Channel Logout 1.0 §2.6, step by step. */
  async function verifyLogoutToken(token: string): Promise<JWTPayload> {
    let keys: IdpKeys
    try {
      keys = (await discovered()).keys
    } catch (err) {
      throw new AppError('not_ready', undefined, { cause: err })
    }
    // Steps 1–4: a signed JWT (not encrypted: we register none), from our issuer, for us,
    // with iat, explicitly typed (§2.4) so an ID token can never pass for one.
    const { payload } = await jwtVerify(token, keys.jwks, {
      issuer: keys.issuer,
      audience: config.gateway.clientId,
      typ: 'logout+jwt',
      algorithms: [...accessTokenAlgorithms],
      clockTolerance: clockToleranceSeconds,
      maxTokenAge: '10 minutes',
      requiredClaims: ['iat', 'jti', 'events'],
    })
    // Step 5: sub, sid or both.
    if (typeof payload.sub !== 'string' && typeof payload.sid !== 'string') throw new Error('neither sub nor sid')
    // Step 6: the back-channel logout event, as a JSON object.
    const events = payload.events
    const event =
      typeof events === 'object' && events !== null
        ? (events as Record<string, unknown>)[backchannelLogoutEvent]
        : undefined
    if (typeof event !== 'object' || event === null || Array.isArray(event))
      throw new Error('no back-channel logout event')
    // Step 7: no nonce (so that an ID token cannot be replayed as a logout token).
    if ('nonce' in payload) throw new Error('a logout token has no nonce')
    // Step 8: not seen before, on any instance. Remembered until the token could no longer verify.
    const jti = payload.jti as string
    const until = new Date(((payload.exp ?? (payload.iat as number) + 600) + clockToleranceSeconds) * 1000)
    if (!(await rememberJti(db, 'logout', `${keys.issuer} ${jti}`.slice(0, 512), until)))
      throw new Error('logout token replayed')
    return payload
  }

  async function readTransaction(raw: string | undefined): Promise<SignInTransaction | undefined> {
    if (raw === undefined || raw.length > 4096) return undefined
    const r = await cookieSigners.unsign('transaction', raw)
    if (r === undefined) return undefined
    try {
      const parsed: unknown = JSON.parse(Buffer.from(r.value, 'base64url').toString('utf8'))
      return isTransaction(parsed) ? parsed : undefined
    } catch {
      return undefined
    }
  }

  // ---- Background: purge, key reload (run by the gateway's jobs list, app.ts). ----
  const background: readonly Job[] = [
    {
      name: 'expired gateway sessions and proofs purge',
      everyMs: 60_000,
      run: () => Promise.all([purgeExpiredSessions(db, limits), purgeExpiredJtis(db)]),
    },
    {
      name: 'session cookie key reload',
      everyMs: config.idp.keys.refreshSeconds * 1000,
      run: () => cookieSigners.reload(),
    },
  ]

  async function idTokenHint(identity: Identity): Promise<string | undefined> {
    if (identity.via !== 'session' || identity.sessionId === undefined) return undefined
    const row = await store.row(identity.sessionId)
    if (row?.id_token_enc == null) return undefined
    try {
      return kek.decrypt(row.id_token_enc, `gateway-session:${identity.sessionId}`)
    } catch {
      return undefined
    }
  }

  return { identify, challenge, trySilentSignIn, logoutPath, idTokenHint, background }
}
