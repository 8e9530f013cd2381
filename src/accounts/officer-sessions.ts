// Officers' console sessions (issue 14, Officers), apart from citizens' (oidc-provider's):
// a random 256-bit value in the officer's cookie, its SHA-256 in officer_sessions. A
// session lasts at most 12 hours from the sign-in and ends after 15 minutes without a
// request (NIST SP 800-63B-4 §2.2.3, AAL2 reauthentication: 12 h absolute, and the
// stricter idle limit for staff). It begins with the password only (`factor_at` null) and
// can then reach nothing but the second-factor step or enrolment; the second factor gives
// it a new id (no session fixation across the step). Disabling an officer or resetting
// their factors revokes every session at once: each request reads the row and the officer.

import { createHash, randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '../db/database.ts'
import type { CounterRow } from '../db/tables/counters.ts'
import type { OfficerSessionRow } from '../db/tables/officer-factors.ts'
import { findOfficerById, type Officer } from './officers.ts'

export const officerSessionLimits = Object.freeze({ absoluteSeconds: 12 * 3600, idleSeconds: 15 * 60 })

const TOKEN = /^[A-Za-z0-9_-]{43}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function hashOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

function newToken(): string {
  return randomBytes(32).toString('base64url')
}

export interface OfficerSession {
  readonly officer: Officer
  /** The second factor was given: the whole console is open. */
  readonly complete: boolean
  /** This session gave the officer's enrolment code. */
  readonly enrolmentCodeGiven: boolean
  readonly createdAt: Date
  readonly expiresAt: Date
  /**
   * The counter this session sits at (issue 15), as it is now: a disabled one is given
   * too, so that the console can say so; only an active one opens the counter functions.
   */
  readonly counter: CounterRow | null
}

/** A new session after the password step; its token goes in the cookie. */
export async function createOfficerSession(
  db: Kysely<Database>,
  officerId: string,
  now = new Date(),
): Promise<{ token: string; expiresAt: Date }> {
  const token = newToken()
  const expiresAt = new Date(now.getTime() + officerSessionLimits.absoluteSeconds * 1000)
  await db
    .insertInto('officer_sessions')
    .values({
      id_hash: hashOf(token),
      officer_id: officerId,
      created_at: now,
      last_seen_at: now,
      expires_at: expiresAt,
    })
    .execute()
  return { token, expiresAt }
}

async function liveRow(db: Kysely<Database>, token: string, now: Date): Promise<OfficerSessionRow | undefined> {
  if (typeof token !== 'string' || !TOKEN.test(token)) return undefined
  const row = await db
    .selectFrom('officer_sessions')
    .selectAll()
    .where('id_hash', '=', hashOf(token))
    .executeTakeFirst()
  if (row === undefined || row.revoked_at !== null) return undefined
  if (row.expires_at.getTime() <= now.getTime()) return undefined
  if (row.last_seen_at.getTime() + officerSessionLimits.idleSeconds * 1000 <= now.getTime()) return undefined
  return row
}

/**
 * The live session of a cookie, or undefined (unknown, revoked, past 12 hours, idle 15
 * minutes, or its officer disabled). A live session's idle clock starts again.
 */
export async function readOfficerSession(
  db: Kysely<Database>,
  token: string | undefined,
  now = new Date(),
): Promise<OfficerSession | undefined> {
  if (token === undefined) return undefined
  const row = await liveRow(db, token, now)
  if (row === undefined) return undefined
  const officer = await findOfficerById(db, row.officer_id)
  if (officer === undefined || officer.status !== 'active') return undefined
  await db
    .updateTable('officer_sessions')
    .set({ last_seen_at: now })
    .where('id_hash', '=', row.id_hash)
    .where('revoked_at', 'is', null)
    .execute()
  const counter =
    row.counter_id === null
      ? null
      : ((await db.selectFrom('counters').selectAll().where('id', '=', row.counter_id).executeTakeFirst()) ?? null)
  return {
    counter,
    officer,
    complete: row.factor_at !== null,
    enrolmentCodeGiven: row.enrolment_code_at !== null,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  }
}

/**
 * Seats this complete session at an active counter (issue 15); false if the session is
 * not live and complete or the counter is not active (disabled meanwhile, or unknown).
 */
export async function seatAtCounter(
  db: Kysely<Database>,
  token: string,
  counterId: string,
  now = new Date(),
): Promise<boolean> {
  if (!TOKEN.test(token) || !UUID.test(counterId)) return false
  return db.transaction().execute(async (trx) => {
    const counter = await trx
      .selectFrom('counters')
      .select('id')
      .where('id', '=', counterId)
      .where('status', '=', 'active')
      .forShare()
      .executeTakeFirst()
    if (counter === undefined) return false
    const r = await trx
      .updateTable('officer_sessions')
      .set({ counter_id: counter.id, last_seen_at: now })
      .where('id_hash', '=', hashOf(token))
      .where('revoked_at', 'is', null)
      .where('factor_at', 'is not', null)
      .where('expires_at', '>', now)
      .executeTakeFirst()
    return Number(r.numUpdatedRows) > 0
  })
}

/** Records that this session gave the enrolment code. */
export async function markEnrolmentCodeGiven(db: Kysely<Database>, token: string, now = new Date()): Promise<void> {
  await db
    .updateTable('officer_sessions')
    .set({ enrolment_code_at: now })
    .where('id_hash', '=', hashOf(token))
    .where('revoked_at', 'is', null)
    .execute()
}

/**
 * The second factor was given: the session is complete, under a new id (returned, for
 * the cookie), and the officer's last sign-in is now. Undefined if the session ended meanwhile.
 */
export async function completeOfficerSession(
  db: Kysely<Database>,
  token: string,
  now = new Date(),
): Promise<string | undefined> {
  const fresh = newToken()
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('officer_sessions')
      .set({ id_hash: hashOf(fresh), factor_at: now, last_seen_at: now })
      .where('id_hash', '=', hashOf(token))
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .returning('officer_id')
      .executeTakeFirst()
    if (row === undefined) return undefined
    await trx.updateTable('officers').set({ last_sign_in_at: now }).where('id', '=', row.officer_id).execute()
    return fresh
  })
}

/** Signs this session out; true if it was live. */
export async function endOfficerSession(db: Kysely<Database>, token: string, now = new Date()): Promise<boolean> {
  if (!TOKEN.test(token)) return false
  const r = await db
    .updateTable('officer_sessions')
    .set({ revoked_at: now })
    .where('id_hash', '=', hashOf(token))
    .where('revoked_at', 'is', null)
    .executeTakeFirst()
  return Number(r.numUpdatedRows) > 0
}

/** Ends every session of the officer at once (disabled, factors reset); how many were live. */
export async function endOfficerSessions(db: Kysely<Database>, officerId: string, now = new Date()): Promise<number> {
  const r = await db
    .updateTable('officer_sessions')
    .set({ revoked_at: now })
    .where('officer_id', '=', officerId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst()
  return Number(r.numUpdatedRows)
}

/** Housekeeping: sessions past their absolute limit, a day on (kept that long for inspection). */
export async function pruneOfficerSessions(db: Kysely<Database>, now = new Date()): Promise<number> {
  const r = await db
    .deleteFrom('officer_sessions')
    .where('expires_at', '<', new Date(now.getTime() - 24 * 3600 * 1000))
    .executeTakeFirst()
  return Number(r.numDeletedRows)
}
