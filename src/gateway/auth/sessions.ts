import { createHash, randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '../../db/database.ts'
import type { GatewaySessionRow, JtiKind } from '../../db/tables/gateway.ts'

/**
 * Browser sessions at the gateway, kept in PostgreSQL so that any instance serves any
 * session and a session ended by one instance is ended for all (DESIGN.md, "Past one
 * machine"). The citizen's cookie carries a 256-bit random id; the table keeps only its
 * SHA-256 (OWASP Session Management: ids with at least 64 bits of entropy, and a
 * stolen copy of the table must not be enough to ride a session).
 *
 * Also the replay cache of one-time token ids (DPoP proofs, logout tokens), shared by
 * every instance through a primary key.
 */

export type { GatewaySessionRow }

/** A new session id: 32 random bytes, base64url (43 characters). */
export function newSessionId(): string {
  return randomBytes(32).toString('base64url')
}

/** What the table stores for an id: base64url SHA-256. */
export function hashSessionId(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('base64url')
}

export interface SessionLimits {
  idleSeconds: number
  absoluteSeconds: number
}

export interface NewSession {
  /** The host the session is made on and accepted on (sites.ts). */
  site: string
  sub: string
  idpSid: string | undefined
  acr: string
  /** The ID token's auth_time (seconds since the epoch), when it had one. */
  authTime: number | undefined
  amr: readonly string[]
  scopes: readonly string[]
  claims: Readonly<Record<string, unknown>>
  idTokenEnc: string | undefined
  requestedAcr: string | undefined
  requestedScopes: readonly string[]
}

/**
 * Stores a new session under `idHash`; when the browser already had one (a step-up or a
 * second sign-in), that one is deleted in the same transaction, so the citizen never
 * holds two and the old id cannot be used again (session fixation).
 */
export async function createSession(
  db: Kysely<Database>,
  idHash: string,
  s: NewSession,
  limits: SessionLimits,
  opts: { replaces?: string | undefined; now?: Date } = {},
): Promise<GatewaySessionRow> {
  const now = opts.now ?? new Date()
  return db.transaction().execute(async (trx) => {
    if (opts.replaces !== undefined)
      await trx.deleteFrom('gateway_sessions').where('id_hash', '=', opts.replaces).execute()
    return trx
      .insertInto('gateway_sessions')
      .values({
        id_hash: idHash,
        site: s.site,
        sub: s.sub,
        idp_sid: s.idpSid ?? null,
        acr: s.acr,
        auth_time: s.authTime === undefined ? null : new Date(s.authTime * 1000),
        amr: [...s.amr],
        scopes: [...s.scopes],
        claims: JSON.stringify(s.claims),
        id_token_enc: s.idTokenEnc ?? null,
        requested_acr: s.requestedAcr ?? null,
        requested_scopes: [...s.requestedScopes],
        created_at: now,
        last_seen_at: now,
        expires_at: new Date(now.getTime() + limits.absoluteSeconds * 1000),
      })
      .returningAll()
      .executeTakeFirstOrThrow()
  })
}

export async function findSession(db: Kysely<Database>, idHash: string): Promise<GatewaySessionRow | undefined> {
  return db.selectFrom('gateway_sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst()
}

/** Whether a session may still be served at `now`: before its absolute end and not idle too long. */
export function sessionIsLive(
  row: Pick<GatewaySessionRow, 'expires_at' | 'last_seen_at'>,
  limits: SessionLimits,
  now: Date,
): boolean {
  if (row.expires_at.getTime() <= now.getTime()) return false
  return row.last_seen_at.getTime() + limits.idleSeconds * 1000 > now.getTime()
}

/** Records use of a session (the idle clock restarts). */
export async function touchSession(db: Kysely<Database>, idHash: string, at: Date): Promise<void> {
  await db.updateTable('gateway_sessions').set({ last_seen_at: at }).where('id_hash', '=', idHash).execute()
}

/** Deletes one session; returns the deleted row (for its ID token, the logout hint). */
export async function deleteSession(db: Kysely<Database>, idHash: string): Promise<GatewaySessionRow | undefined> {
  return db.deleteFrom('gateway_sessions').where('id_hash', '=', idHash).returningAll().executeTakeFirst()
}

/**
 * Deletes the sessions a logout token names (OIDC Back-Channel Logout 1.0 §2.7): with a
 * `sid`, the sessions of that idp session (of that subject too, when `sub` is given);
 * with only a `sub`, every session of the subject. Returns the id hashes deleted.
 */
export async function deleteSessionsForLogout(
  db: Kysely<Database>,
  target: { sub?: string | undefined; sid?: string | undefined },
): Promise<string[]> {
  if (target.sub === undefined && target.sid === undefined) return []
  let q = db.deleteFrom('gateway_sessions')
  if (target.sid !== undefined) q = q.where('idp_sid', '=', target.sid)
  if (target.sub !== undefined) q = q.where('sub', '=', target.sub)
  const rows = await q.returning('id_hash').execute()
  return rows.map((r) => r.id_hash)
}

/** Deletes sessions past their absolute end or idle for longer than allowed. */
export async function purgeExpiredSessions(
  db: Kysely<Database>,
  limits: SessionLimits,
  now = new Date(),
): Promise<number> {
  const idleSince = new Date(now.getTime() - limits.idleSeconds * 1000)
  const res = await db
    .deleteFrom('gateway_sessions')
    .where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', idleSince)]))
    .executeTakeFirst()
  return Number(res.numDeletedRows)
}

/**
 * Remembers a one-time token id until `expiresAt`. True when it is new; false when any
 * instance saw it before (a replay). The primary key decides, so two instances racing
 * with the same proof cannot both win.
 */
export async function rememberJti(db: Kysely<Database>, kind: JtiKind, jti: string, expiresAt: Date): Promise<boolean> {
  const row = await db
    .insertInto('gateway_jtis')
    .values({ kind, jti, expires_at: expiresAt })
    .onConflict((oc) => oc.columns(['kind', 'jti']).doNothing())
    .returning('jti')
    .executeTakeFirst()
  return row !== undefined
}

export async function purgeExpiredJtis(db: Kysely<Database>, now = new Date()): Promise<number> {
  const res = await db.deleteFrom('gateway_jtis').where('expires_at', '<=', now).executeTakeFirst()
  return Number(res.numDeletedRows)
}
