import { createHash } from 'node:crypto'
import { jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import type { Identity } from './identity.ts'

/**
 * Bearer access tokens for the gateway's resource (apps, kiosks): JWTs the idp issues
 * (RFC 9068, typ at+jwt), verified here with jose against the idp's JWKS — no call to the
 * idp per request. A verified token is cached under the token string itself until it
 * expires, so a client sending the same token again costs a map look-up, not a signature
 * (nor a SHA-256: a hash per request was ~5 µs of the gateway's CPU in the benchmark).
 * Only tokens that verified are cached, and the idp's tokens are about 1 KiB, so the
 * cache's 10,000 entries hold about 10 MB at most.
 */

/**
 * Algorithms an access token may be signed with: what the idp signs with (ES256, and
 * RS256 keys in its JWKS). An allow-list, so `none` and HS* (a public key used as an
 * HMAC secret, RFC 8725 §2.1) never reach a verifier.
 */
export const accessTokenAlgorithms = ['ES256', 'RS256'] as const

/** Leeway for exp/nbf/iat between our clock and the idp's (RFC 7519 §4.1.4 "small leeway"). */
export const clockToleranceSeconds = 30

/** Longest Authorization value we read; the idp's tokens are about 1 KiB. */
const maxTokenLength = 8192

/**
 * A credential the caller presented that we refuse: 401 with the OAuth error code it
 * names and its description (safe to show) in WWW-Authenticate.
 */
export abstract class RefusedCredentialError extends Error {
  abstract readonly oauthError: 'invalid_token' | 'invalid_dpop_proof'
  /** Safe for the WWW-Authenticate error_description. */
  readonly description: string
  constructor(description: string, options?: { cause?: unknown }) {
    super(description, options)
    this.name = new.target.name
    this.description = description
  }
}

/** A token that is not valid for us: error="invalid_token" (RFC 6750 §3.1). */
export class InvalidTokenError extends RefusedCredentialError {
  readonly oauthError = 'invalid_token'
}

/** The idp's keys could not be fetched: we cannot tell, so 503 rather than a 401 that makes clients drop a good token. */
export class KeysUnavailableError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('the idp signing keys are not reachable', options)
    this.name = 'KeysUnavailableError'
  }
}

export type AuthScheme = 'Bearer' | 'DPoP'

export interface PresentedToken {
  scheme: AuthScheme
  token: string
}

/** b64token (RFC 6750 §2.1); a JWT is three base64url parts with dots. */
const b64token = /^[A-Za-z0-9\-._~+/]+=*$/

/**
 * The access token in an Authorization header: `Bearer <token>` (RFC 6750 §2.1) or
 * `DPoP <token>` (RFC 9449 §7.1). Undefined when the header is absent or uses another
 * scheme (not ours to judge); throws when it is ours but malformed.
 */
export function presentedToken(authorization: string | undefined): PresentedToken | undefined {
  if (authorization === undefined) return undefined
  const m = /^(\S+)(?: +(.*))?$/.exec(authorization.trim())
  const scheme = m?.[1]?.toLowerCase()
  if (scheme !== 'bearer' && scheme !== 'dpop') return undefined
  const token = m?.[2]?.trim() ?? ''
  if (token === '' || token.length > maxTokenLength || !b64token.test(token)) {
    throw new InvalidTokenError('The access token is malformed')
  }
  return { scheme: scheme === 'dpop' ? 'DPoP' : 'Bearer', token }
}

/** base64url SHA-256 of a token: the cache key, and the DPoP `ath` (RFC 9449 §4.2). */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url')
}

/** Characters allowed in an error_description (RFC 6750 §3: %x20-21 / %x23-5B / %x5D-7E). */
function quoted(value: string): string {
  return `"${value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '')}"`
}

/** One WWW-Authenticate challenge: `Bearer error="invalid_token", error_description="…"`. */
export function authChallenge(scheme: AuthScheme, params: Readonly<Record<string, string | undefined>>): string {
  const parts = Object.entries(params)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${quoted(v)}`)
  return parts.length === 0 ? scheme : `${scheme} ${parts.join(', ')}`
}

export interface VerifiedAccessToken {
  readonly identity: Identity
  /** `cnf.jkt`: the token is DPoP-bound to this key thumbprint (RFC 9449 §6.1). */
  readonly jkt: string | undefined
  /** tokenHash(token): the DPoP `ath` to compare (computed once, when the token is verified). */
  readonly hash: string
  /** When the token expires (ms since the epoch). */
  readonly expiresAt: number
  /** When the token was issued (ms since the epoch): a revocation covers the tokens issued before it. */
  readonly issuedAt: number
  /** The `sp_sh` claim: the session the token was issued in (revocations.ts); none for a client's own token. */
  readonly sessionHash: string | undefined
}

/**
 * The claim naming the session a token was issued in, hashed with the client (written by
 * the idp, src/idp/oidc/session-revocation.ts; the gateway never imports the idp).
 */
export const sessionHashClaim = 'sp_sh'

export interface IdpKeys {
  issuer: string
  jwks: JWTVerifyGetKey
}

export interface AccessTokenVerifierOptions {
  /** The idp's issuer and JWKS (createRemoteJWKSet: refetches on an unknown kid); may wait for discovery. */
  keys: () => Promise<IdpKeys>
  /**
   * The audiences accepted at all (the gateway's resource and every agency origin); which
   * one a route needs is the caller's decision (Identity.audience).
   */
  audience: string | readonly string[]
  /** Largest number of tokens kept verified in memory. */
  cacheSize?: number
}

export interface AccessTokenVerifier {
  /**
   * `connection` (the client's socket, optional): the token last verified on it is kept
   * beside it, so a client that sends the same token on a kept-alive connection costs a
   * string comparison — no hashing of the ~1 KiB token for the map look-up.
   */
  verify(token: string, connection?: object): Promise<VerifiedAccessToken>
  /** Number of cached tokens (tests, metrics). */
  readonly cacheSize: number
}

/** Released claims a token may carry (DESIGN.md, "Scopes and claims"); nothing else is copied. */
const claimNames = [
  'name',
  'birthdate',
  'gender',
  'locale',
  'email',
  'email_verified',
  'phone_number',
  'phone_number_verified',
  'address',
  'nik',
  // How well the person was proven (the idp's identity levels), for minIdentity.
  'identity_level',
] as const

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}

/**
 * Whether an access token is a client's own (client credentials), with no citizen behind
 * it. Two markers, both from how the idp makes its JWT access tokens:
 *  - oidc-provider's JWT format writes `sub: accountId || clientId`
 *    (lib/models/formats/jwt.js, getValueAndPayload): a token from a grant without an
 *    account — client credentials — has the client id as its subject;
 *  - our idp adds `auth_time` and `acr` (extraTokenClaims, src/idp/oidc/provider.ts) only to
 *    tokens that come from a citizen's sign-in (an authorization code or its refresh token).
 * Either marker is enough: a token that names no sign-in is never a citizen's, whatever
 * its subject looks like.
 */
export function isClientToken(payload: JWTPayload): boolean {
  if (typeof payload.client_id === 'string' && payload.sub === payload.client_id) return true
  return typeof payload.auth_time !== 'number' || typeof payload.acr !== 'string' || payload.acr === ''
}

function identityOf(payload: JWTPayload): { identity: Identity; jkt: string | undefined } {
  const sub = payload.sub
  if (typeof sub !== 'string' || sub === '') throw new InvalidTokenError('The access token has no subject')
  const claims: Record<string, unknown> = {}
  for (const name of claimNames) if (payload[name] !== undefined) claims[name] = payload[name]
  const cnf = payload.cnf
  let jkt: string | undefined
  if (cnf !== undefined) {
    const value = typeof cnf === 'object' && cnf !== null ? (cnf as Record<string, unknown>).jkt : undefined
    // A confirmation we do not understand (x5t#S256, …) cannot be honoured: refuse rather than ignore it.
    if (typeof value !== 'string' || value === '')
      throw new InvalidTokenError('The access token is bound in a way this gateway does not support')
    jkt = value
  }
  const clientId = typeof payload.client_id === 'string' ? payload.client_id : undefined
  const aud = payload.aud
  const identity: Identity = Object.freeze({
    via: isClientToken(payload) ? 'client' : 'bearer',
    sub,
    acr: typeof payload.acr === 'string' ? payload.acr : '',
    authTime:
      typeof payload.auth_time === 'number' && Number.isFinite(payload.auth_time) ? payload.auth_time : undefined,
    lastUsedAt: undefined,
    amr: Object.freeze(strings(payload.amr)),
    scopes: Object.freeze(typeof payload.scope === 'string' ? payload.scope.split(' ').filter((s) => s !== '') : []),
    claims: Object.freeze(claims),
    clientId,
    audience: Object.freeze(typeof aud === 'string' ? [aud] : strings(aud)),
    sessionId: undefined,
    // The idp marks a kiosk's tokens (src/idp/oidc/kiosks.ts, kioskClaims).
    ...(payload.channel === 'kiosk'
      ? { channel: 'kiosk' as const, kioskId: typeof payload.kiosk_id === 'string' ? payload.kiosk_id : undefined }
      : {}),
  })
  return { identity, jkt }
}

function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  if (typeof code !== 'string' || !code.startsWith('ERR_J')) return true // fetch failed, not a JOSE verdict
  return code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JWKS_INVALID' || code === 'ERR_JOSE_GENERIC'
}

function describe(err: unknown): string {
  switch ((err as { code?: unknown } | undefined)?.code) {
    case 'ERR_JWT_EXPIRED':
      return 'The access token expired'
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (err as { claim?: unknown }).claim
      if (claim === 'aud') return 'The access token is not for this gateway'
      if (claim === 'iss') return 'The access token is from another issuer'
      if (claim === 'nbf') return 'The access token is not valid yet'
      if (claim === 'typ') return 'The token is not an access token'
      return 'The access token claims are not valid'
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'The access token is signed with an algorithm this gateway does not accept'
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'The access token is signed with an unknown key'
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'The access token signature is not valid'
    default:
      return 'The access token is not valid'
  }
}

/** Verifies access tokens for the gateway's resource; caches each verified token until it expires. */
export function createAccessTokenVerifier(opts: AccessTokenVerifierOptions): AccessTokenVerifier {
  const max = opts.cacheSize ?? 10_000
  // Keyed by the token itself: a cache hit means these very bytes verified before.
  const cache = new Map<string, VerifiedAccessToken>()
  // Per connection, the last token and its verification; gone with the socket.
  const lastOn = new WeakMap<object, { token: string; verified: VerifiedAccessToken }>()

  async function verifyUncached(token: string): Promise<VerifiedAccessToken> {
    const keys = await opts.keys()
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, keys.jwks, {
        issuer: keys.issuer,
        audience: typeof opts.audience === 'string' ? opts.audience : [...opts.audience],
        // RFC 9068 §4: typ at+jwt, so an ID token or logout token of ours is never taken for one.
        typ: 'at+jwt',
        algorithms: [...accessTokenAlgorithms],
        clockTolerance: clockToleranceSeconds,
        requiredClaims: ['exp', 'iat', 'sub', 'client_id'],
      }))
    } catch (err) {
      if (isUnavailable(err)) throw new KeysUnavailableError({ cause: err })
      throw new InvalidTokenError(describe(err), { cause: err })
    }
    const { identity, jkt } = identityOf(payload)
    const sessionHash = payload[sessionHashClaim]
    return Object.freeze({
      identity,
      jkt,
      hash: tokenHash(token),
      expiresAt: (payload.exp as number) * 1000,
      issuedAt: (payload.iat as number) * 1000,
      sessionHash: typeof sessionHash === 'string' && sessionHash !== '' ? sessionHash : undefined,
    })
  }

  return {
    async verify(token, connection) {
      const now = Date.now()
      const last = connection === undefined ? undefined : lastOn.get(connection)
      // Same bounds as the map below: unexpired, and the very same token.
      if (last !== undefined && last.verified.expiresAt > now && last.token === token) return last.verified
      const verified = await verifyCached(token, now)
      if (connection !== undefined && verified.expiresAt > now) lastOn.set(connection, { token, verified })
      return verified
    },
    get cacheSize() {
      return cache.size
    },
  }

  async function verifyCached(token: string, now: number): Promise<VerifiedAccessToken> {
    const hit = cache.get(token)
    if (hit !== undefined) {
      if (hit.expiresAt > now) return hit
      cache.delete(token)
    }
    const verified = await verifyUncached(token)
    // Cached only while unexpired without leeway; within the leeway it is verified again.
    if (verified.expiresAt > now) {
      if (cache.size >= max) {
        // Oldest first (Map keeps insertion order): bounded memory whatever clients send.
        const oldest = cache.keys().next()
        if (!oldest.done) cache.delete(oldest.value)
      }
      cache.set(token, verified)
    }
    return verified
  }
}
