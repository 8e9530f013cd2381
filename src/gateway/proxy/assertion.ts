import { createPrivateKey, randomBytes, sign as cryptoSign, type JsonWebKey, type KeyObject } from 'node:crypto'
import type { JWK, JSONWebKeySet } from 'jose'
import type { Kysely } from 'kysely'
import type { Logger } from 'pino'
import type { Config } from '../../config/schema.ts'
import type { Database } from '../../db/database.ts'
import type { KeyEncryption } from '../../keys/encryption.ts'
import { ensureKeys, loadKeys } from '../../keys/keys.ts'
import type { Agency } from '../agencies.ts'
import type { AssertionSigner } from '../contracts.ts'
import type { Identity } from '../auth/identity.ts'

/**
 * The `X-Satupintu-Assertion` JWT (DESIGN.md "Upstream identity", docs/agency-integration.md).
 *
 *  - ES256 with the gateway's own key (signing_keys purpose 'gateway'), rotated like the
 *    idp's: published before it signs, kept published until what it signed has expired.
 *  - Header `typ: satupintu-assertion+jwt` (explicit typing, RFC 8725 §3.11): a verifier
 *    that checks it can never mistake another JWT signed with this key (document links
 *    will be) for an assertion.
 *  - Claims: iss (gateway.publicUrl), aud (agency id), sub, iat, exp (iat +
 *    gateway.assertionSeconds, at most 60 s), jti, acr, amr, name, nik (only where the
 *    agency's configuration releases it), plus extra claims (documents, later).
 *  - No `request_id` claim: an assertion is reused for a while (below), so a request id in
 *    it would name the wrong request. `X-Request-Id` carries the request id; the gateway
 *    logs each jti with the request id that caused it to be signed.
 *
 * Cache: signing costs ~80 µs of CPU, so an assertion is kept per (session or token,
 * agency, claims) and reused while more than `refreshBeforeSeconds` of its life is left —
 * never past its exp, never across a key change (the cache is replaced on reload). Its key
 * is the JSON of what the assertion says, worked out once per Identity object and agency
 * (a WeakMap on the identity, which the bearer and session caches keep while they reuse
 * it): a request served from those caches costs two map look-ups, no JSON and no hash.
 */

export interface AssertionSignerDeps {
  db: Kysely<Database>
  kek: KeyEncryption
  config: Config
  logger: Logger
  /** Current time in milliseconds (tests move it). */
  now?: () => number
}

/** Where the signer gets its keys: private JWKs in signing order, and a change fingerprint. */
export interface AssertionKeySource {
  load(): Promise<{ jwks: JWK[]; fingerprint: string }>
}

export interface AssertionSignerOptions {
  config: Config
  logger: Logger
  now?: () => number
  /** Most assertions kept in memory (default 10,000). */
  cacheSize?: number
}

/** The JOSE `typ` of the assertion (RFC 8725 §3.11). */
export const assertionType = 'satupintu-assertion+jwt'
export const assertionAlgorithm = 'ES256'

/** An assertion with less than this much life left is signed afresh (at most 20 s, at most half its lifetime). */
export function refreshBeforeSeconds(lifetimeSeconds: number): number {
  return Math.min(20, Math.floor(lifetimeSeconds / 2))
}

interface KeyState {
  readonly fingerprint: string
  readonly kid: string
  readonly key: KeyObject
  /** The encoded protected header, the same for every assertion this key signs. */
  readonly header: string
  readonly jwks: JSONWebKeySet
}

interface CacheEntry {
  readonly exp: number
  readonly token: Promise<string>
}

/** Public members of an EC or RSA JWK: never `d` or the other private parts. */
function publicJwk(jwk: JWK): JWK {
  const pub: JWK = {}
  for (const k of ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg'] as const) {
    const v = jwk[k]
    if (typeof v === 'string') pub[k] = v
  }
  pub.use = 'sig'
  return pub
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')
}

async function keyState(jwks: readonly JWK[], fingerprint: string): Promise<KeyState> {
  const signing = jwks.find((k) => k.alg === assertionAlgorithm && typeof k.kid === 'string')
  if (signing === undefined || signing.kid === undefined)
    throw new Error(`no ${assertionAlgorithm} gateway signing key is available`)
  const key = createPrivateKey({ key: signing as JsonWebKey, format: 'jwk' })
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new Error('the gateway signing key is not a P-256 key')
  const published = jwks.filter((k) => k.alg === assertionAlgorithm).map(publicJwk)
  return Object.freeze({
    fingerprint,
    kid: signing.kid,
    key,
    header: base64url({ alg: assertionAlgorithm, kid: signing.kid, typ: assertionType }),
    jwks: Object.freeze({ keys: Object.freeze(published) as JWK[] }) as JSONWebKeySet,
  })
}

/** The claims about the citizen one agency receives. */
function releasedClaims(identity: Identity, agency: Agency): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const name = identity.claims.name
  if (typeof name === 'string') out.name = name
  const nik = identity.claims.nik
  if (agency.releaseNik && typeof nik === 'string') out.nik = nik
  return out
}

/** A signer over any key source; `createAssertionSigner` is this over the database. */
export async function createAssertionSignerFrom(
  source: AssertionKeySource,
  opts: AssertionSignerOptions,
): Promise<AssertionSigner> {
  const { config, logger } = opts
  const now = opts.now ?? Date.now
  const lifetime = config.gateway.assertionSeconds
  const refreshBefore = refreshBeforeSeconds(lifetime)
  const cacheSize = opts.cacheSize ?? 10_000
  const issuer = config.gateway.publicUrl.replace(/\/+$/, '')
  const first = await source.load()
  // Immutable state, swapped whole on a key change (the pomerium habit).
  let state = await keyState(first.jwks, first.fingerprint)
  let cache = new Map<string, CacheEntry>()
  // Identities are frozen (identity.ts), so the key of one is the key of it for good.
  const keys = new WeakMap<Identity, Map<Agency, string>>()

  function keyOf(identity: Identity, agency: Agency): string {
    let byAgency = keys.get(identity)
    if (byAgency === undefined) {
      byAgency = new Map()
      keys.set(identity, byAgency)
    }
    let key = byAgency.get(agency)
    if (key === undefined) {
      key = JSON.stringify([
        agency.id,
        identity.via,
        identity.sessionId ?? null,
        identity.clientId ?? null,
        identity.sub,
        identity.acr,
        identity.authTime ?? null,
        identity.amr,
        releasedClaims(identity, agency),
      ])
      byAgency.set(agency, key)
    }
    return key
  }

  function remember(key: string, entry: CacheEntry): void {
    if (cache.size >= cacheSize) {
      // Oldest first (insertion order): drop expired ones, or the oldest if none are.
      const nowS = Math.floor(now() / 1000)
      for (const [k, e] of cache) {
        if (e.exp <= nowS || cache.size >= cacheSize) cache.delete(k)
        else break
      }
    }
    cache.set(key, entry)
  }

  async function signNew(
    identity: Identity,
    agency: Agency,
    extra: Record<string, unknown> | undefined,
    iat: number,
  ): Promise<string> {
    const current = state
    const jti = randomBytes(16).toString('base64url')
    const payload = {
      ...extra,
      ...releasedClaims(identity, agency),
      acr: identity.acr,
      amr: [...identity.amr],
      ...(identity.authTime === undefined ? {} : { auth_time: identity.authTime }),
    }
    // A compact JWS (RFC 7515 §7.1) signed in this thread with node:crypto: jose signs
    // through WebCrypto, a thread-pool round trip of ~220 µs per assertion, and assertions
    // with document links are signed on every request. ES256 signatures are R||S (RFC 7518
    // §3.4), which is `ieee-p1363`. Agencies verify them with any JOSE library (tests: jose).
    const claims = base64url({
      ...payload,
      iss: issuer,
      sub: identity.sub,
      aud: agency.id,
      iat,
      exp: iat + lifetime,
      jti,
    })
    const input = `${current.header}.${claims}`
    const signature = cryptoSign('sha256', Buffer.from(input, 'latin1'), {
      key: current.key,
      dsaEncoding: 'ieee-p1363',
    })
    const token = `${input}.${signature.toString('base64url')}`
    logger.debug({ jti, agency: agency.id, kid: current.kid }, 'signed an assertion')
    return token
  }

  return {
    async sign(identity, agency, extra) {
      const nowS = Math.floor(now() / 1000)
      // Extra claims are document links (documents issue): fresh per request, with their
      // own expiry and a grant that can be withdrawn at any moment. Such an assertion is
      // never cached, so one is never handed out again with an older link set.
      if (extra !== undefined && Object.keys(extra).length > 0) return signNew(identity, agency, extra, nowS)
      const key = keyOf(identity, agency)
      const hit = cache.get(key)
      if (hit !== undefined && hit.exp - nowS >= refreshBefore) return hit.token
      if (hit !== undefined) cache.delete(key)
      const entry: CacheEntry = { exp: nowS + lifetime, token: signNew(identity, agency, extra, nowS) }
      remember(key, entry)
      entry.token.catch(() => {
        if (cache.get(key) === entry) cache.delete(key)
      })
      return entry.token
    },
    jwks() {
      return state.jwks
    },
    async reload() {
      const next = await source.load()
      if (next.fingerprint === state.fingerprint) return
      state = await keyState(next.jwks, next.fingerprint)
      // Assertions signed with a key that no longer signs are not handed out again.
      cache = new Map()
      logger.info({ kid: state.kid }, 'gateway assertion keys reloaded')
    },
  }
}

/**
 * The gateway's assertion signer over the database keys: creates the first 'gateway' key
 * on first start (`ensureKeys`), and on `reload()` picks up rotated keys (and creates one
 * again should every key have expired).
 */
export async function createAssertionSigner(deps: AssertionSignerDeps): Promise<AssertionSigner> {
  const { db, kek } = deps
  const source: AssertionKeySource = {
    async load() {
      await ensureKeys(db, kek, 'gateway')
      const loaded = await loadKeys(db, kek, 'gateway')
      return { jwks: loaded.jwks, fingerprint: loaded.fingerprint }
    },
  }
  return createAssertionSignerFrom(source, {
    config: deps.config,
    logger: deps.logger,
    ...(deps.now ? { now: deps.now } : {}),
  })
}
