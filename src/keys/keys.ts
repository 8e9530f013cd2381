import { createHash, randomBytes } from 'node:crypto'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db/database.ts'
import type { KeyPurpose, SigningKeyRow } from '../db/tables/oidc.ts'
import type { KeyEncryption } from './encryption.ts'

/**
 * Signing keys with a lifecycle that never breaks a live token (docs/security.md line 27):
 *  1. published: a new key appears in the JWKS `publishDelay` before it signs, so every
 *     instance and every relying party's JWKS cache can learn it first;
 *  2. active: the newest published key of its algorithm signs;
 *  3. retiring: the key it replaced stays published until every token it signed has
 *     expired (`retireAfter` = the longest token lifetime), then drops out.
 * Every instance reloads the set periodically and rebuilds its provider when it changes.
 */

export const signingAlgs = {
  oidc: ['ES256', 'RS256'],
  gateway: ['ES256'],
  cookie: ['HS256'],
} as const satisfies Record<KeyPurpose, readonly string[]>

export type KeyState = 'pending' | 'active' | 'retiring' | 'expired'

export interface KeyInfo {
  kid: string
  purpose: KeyPurpose
  alg: string
  state: KeyState
  createdAt: Date
  activatesAt: Date
  expiresAt: Date | null
}

export interface LoadedKeys {
  /** Private JWKs in signing order: the active key of each alg first, then the rest. */
  jwks: JWK[]
  /** Cookie-signing secrets, newest active first (Keygrip signs with the first). */
  cookieKeys: string[]
  /** Changes whenever what an instance would sign or publish changes. */
  fingerprint: string
  /** When the state of some key changes next (activation or expiry), if ever. */
  nextChange: Date | undefined
}

function stateOf(
  row: Pick<SigningKeyRow, 'activates_at' | 'expires_at'>,
  activeKids: Set<string>,
  kid: string,
  now: Date,
): KeyState {
  if (row.expires_at !== null && row.expires_at <= now) return 'expired'
  if (row.activates_at > now) return 'pending'
  return activeKids.has(kid) ? 'active' : 'retiring'
}

/** The kids that sign now: per (purpose, alg) the newest key already activated and not expired. */
function activeKidsOf(rows: readonly SigningKeyRow[], now: Date): Set<string> {
  const best = new Map<string, SigningKeyRow>()
  for (const r of rows) {
    if (r.activates_at > now || (r.expires_at !== null && r.expires_at <= now)) continue
    const k = `${r.purpose}/${r.alg}`
    const cur = best.get(k)
    if (
      !cur ||
      r.activates_at > cur.activates_at ||
      (r.activates_at.getTime() === cur.activates_at.getTime() && r.kid > cur.kid)
    ) {
      best.set(k, r)
    }
  }
  return new Set([...best.values()].map((r) => r.kid))
}

export async function listKeys(db: Kysely<Database>, now = new Date()): Promise<KeyInfo[]> {
  const rows = await db
    .selectFrom('signing_keys')
    .selectAll()
    .orderBy('purpose')
    .orderBy('activates_at', 'desc')
    .execute()
  const active = activeKidsOf(rows, now)
  return rows.map((r) => ({
    kid: r.kid,
    purpose: r.purpose,
    alg: r.alg,
    state: stateOf(r, active, r.kid, now),
    createdAt: r.created_at,
    activatesAt: r.activates_at,
    expiresAt: r.expires_at,
  }))
}

async function newKeyMaterial(
  purpose: KeyPurpose,
  alg: string,
): Promise<{ kid: string; publicJwk: JWK | null; secret: string }> {
  if (purpose === 'cookie') {
    const secret = randomBytes(32).toString('base64url')
    return { kid: `cookie-${randomBytes(8).toString('hex')}`, publicJwk: null, secret }
  }
  const { publicKey, privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'RS256' ? { modulusLength: 2048 } : {}),
  })
  const pub = await exportJWK(publicKey)
  const priv = await exportJWK(privateKey)
  // kid: a short date plus the key's thumbprint-like digest; unique and stable.
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '')
  const digest = createHash('sha256').update(JSON.stringify(pub)).digest('base64url').slice(0, 12)
  const kid = `${purpose}-${alg.toLowerCase()}-${day}-${digest}`
  return {
    kid,
    publicJwk: { ...pub, kid, alg, use: 'sig' },
    secret: JSON.stringify({ ...priv, kid, alg, use: 'sig' }),
  }
}

export interface RotateOptions {
  /** How long a new key is published before it signs. 0 = at once (first start, emergencies). */
  publishDelaySeconds: number
  /** How long a replaced key stays published after the new one activates (≥ longest token lifetime). */
  retireAfterSeconds: number
  /**
   * A key was stolen: every older key of the purpose (also one already retiring) stops
   * counting at `retireAfterSeconds`, instead of only those still unreplaced.
   */
  revokeOld?: boolean
}

/**
 * Adds a new key for every algorithm of `purpose` and schedules the keys it replaces to
 * leave the JWKS once their tokens have expired. One transaction: a failure leaves the
 * key set as it was.
 */
export async function rotateKeys(
  db: Kysely<Database>,
  kek: KeyEncryption,
  purpose: KeyPurpose,
  opts: RotateOptions,
): Promise<KeyInfo[]> {
  const created: string[] = []
  const material = await Promise.all(
    signingAlgs[purpose].map(async (alg) => ({ alg, m: await newKeyMaterial(purpose, alg) })),
  )
  await db.transaction().execute(async (trx) => {
    const activatesAt = new Date(Date.now() + opts.publishDelaySeconds * 1000)
    const retireAt = new Date(activatesAt.getTime() + opts.retireAfterSeconds * 1000)
    for (const { alg, m } of material) {
      // Keys of this alg without an expiry are replaced: they retire after the new one activates.
      await trx
        .updateTable('signing_keys')
        .set({ expires_at: retireAt })
        .where('purpose', '=', purpose)
        .where('alg', '=', alg)
        .where((eb) =>
          opts.revokeOld
            ? eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', retireAt)])
            : eb('expires_at', 'is', null),
        )
        .execute()
      await trx
        .insertInto('signing_keys')
        .values({
          kid: m.kid,
          purpose,
          alg,
          public_jwk: m.publicJwk === null ? null : JSON.stringify(m.publicJwk),
          private_enc: kek.encrypt(m.secret, `${purpose}:${m.kid}`),
          activates_at: activatesAt,
          expires_at: null,
        })
        .execute()
      created.push(m.kid)
    }
  })
  const all = await listKeys(db)
  return all.filter((k) => created.includes(k.kid))
}

/** Algorithms of `purpose` with no key that signs now or will sign soon. */
function missingAlgs(rows: readonly SigningKeyRow[], purpose: KeyPurpose, now: Date): string[] {
  const active = activeKidsOf(rows, now)
  return signingAlgs[purpose].filter(
    (alg) =>
      !rows.some(
        (r) =>
          r.purpose === purpose &&
          r.alg === alg &&
          (active.has(r.kid) || (r.activates_at > now && r.expires_at === null)),
      ),
  )
}

/**
 * Creates the first keys of a purpose where there are none that sign (first start). Two
 * instances starting together take a transaction-scoped advisory lock, so only one creates.
 */
export async function ensureKeys(db: Kysely<Database>, kek: KeyEncryption, purpose: KeyPurpose): Promise<string[]> {
  const rows = await db.selectFrom('signing_keys').selectAll().where('purpose', '=', purpose).execute()
  if (missingAlgs(rows, purpose, new Date()).length === 0) return []
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext(${`satupintu-keys-${purpose}`}))`.execute(trx)
    const current = await trx.selectFrom('signing_keys').selectAll().where('purpose', '=', purpose).execute()
    const created: string[] = []
    for (const alg of missingAlgs(current, purpose, new Date())) {
      const m = await newKeyMaterial(purpose, alg)
      await trx
        .insertInto('signing_keys')
        .values({
          kid: m.kid,
          purpose,
          alg,
          public_jwk: m.publicJwk === null ? null : JSON.stringify(m.publicJwk),
          private_enc: kek.encrypt(m.secret, `${purpose}:${m.kid}`),
          activates_at: new Date(),
          expires_at: null,
        })
        .execute()
      created.push(m.kid)
    }
    return created
  })
}

/** Loads what an instance needs to sign and publish for `purpose`, decrypting private parts. */
export async function loadKeys(
  db: Kysely<Database>,
  kek: KeyEncryption,
  purpose: KeyPurpose,
  now = new Date(),
): Promise<LoadedKeys> {
  const rows = await db.selectFrom('signing_keys').selectAll().where('purpose', '=', purpose).execute()
  const active = activeKidsOf(rows, now)
  const live = rows.filter((r) => r.expires_at === null || r.expires_at > now)
  // Signing order: active first (oidc-provider and Keygrip take the first matching key),
  // then pending (published ahead), then retiring (still verifies).
  const rank = (r: SigningKeyRow) => (active.has(r.kid) ? 0 : r.activates_at > now ? 1 : 2)
  live.sort((a, b) => rank(a) - rank(b) || b.activates_at.getTime() - a.activates_at.getTime())
  const jwks: JWK[] = []
  const cookieKeys: string[] = []
  for (const r of live) {
    const secret = kek.decrypt(r.private_enc, `${purpose}:${r.kid}`)
    if (purpose === 'cookie') {
      // A pending cookie key is not used yet: signing starts at activation.
      if (r.activates_at <= now) cookieKeys.push(secret)
    } else {
      jwks.push(JSON.parse(secret) as JWK)
    }
  }
  const times = rows
    .flatMap((r) => [r.activates_at, r.expires_at])
    .filter((d): d is Date => d !== null && d > now)
    .sort((a, b) => a.getTime() - b.getTime())
  const fingerprint = createHash('sha256')
    .update(live.map((r) => `${r.kid}:${rank(r)}:${r.activates_at <= now ? 1 : 0}`).join(','))
    .digest('hex')
  return { jwks, cookieKeys, fingerprint, nextChange: times[0] }
}
