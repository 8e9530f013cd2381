// Officers: staff accounts of the MPP and the agencies (DESIGN.md, Identity). They sign in
// with a username and a password under the same throttling and dummy-hash rules as
// citizens; their second factor (required for officers) is checked after this step, by
// the idp.

import type { Kysely } from 'kysely'
import { recordAudit, type AuditActor } from '../audit/audit.ts'
import type { Database } from '../db/database.ts'
import { officerRoles, type OfficerRole, type OfficerStatus } from '../db/tables/officers.ts'
import { normalizeName, type RequestContext } from './citizens.ts'
import { AccountError } from './errors.ts'
import { issueEnrolmentCode } from './officer-factors.ts'
import { checkPassword } from './password-policy.ts'
import { argon2Hasher, MAX_PASSWORD_BYTES, type PasswordHasher } from './passwords.ts'
import {
  accountKey,
  recordSuccess,
  reserveAttempt,
  sourceKey,
  unknownAccountKey,
  type ThrottlePolicy,
} from './throttle.ts'

export { officerRoles, type OfficerRole, type OfficerStatus } from '../db/tables/officers.ts'

export interface Officer {
  readonly id: string
  readonly username: string
  readonly name: string
  readonly roles: readonly OfficerRole[]
  readonly agencyId: string | null
  readonly status: OfficerStatus
  readonly createdAt: Date
  readonly updatedAt: Date
}

export interface NewOfficerInput {
  readonly username: string
  readonly name: string
  readonly roles: readonly string[]
  /** Required for an agency admin: the agency they administer. */
  readonly agencyId?: string | null | undefined
  readonly password: string
  /** The regency's name, refused inside passwords. */
  readonly regencyName: string
}

const USERNAME = /^[a-z0-9](?:[a-z0-9._-]{1,62}[a-z0-9])$/

/** Lowercased, NFKC, trimmed; 3–64 of a-z 0-9 . _ - (starting and ending with a letter or digit). */
export function normalizeUsername(input: string): string | undefined {
  if (typeof input !== 'string' || input.length > 256) return undefined
  const username = input.normalize('NFKC').trim().toLowerCase()
  return USERNAME.test(username) ? username : undefined
}

/** Refuses an empty list, unknown roles and duplicates; gives the roles in canonical order. */
export function validateRoles(roles: readonly string[]): OfficerRole[] {
  if (!Array.isArray(roles) || roles.length === 0) throw new AccountError('roles_invalid')
  const set = new Set<string>(roles)
  if (set.size !== roles.length || ![...set].every((r) => (officerRoles as readonly string[]).includes(r))) {
    throw new AccountError('roles_invalid')
  }
  return officerRoles.filter((r) => set.has(r))
}

interface OfficerRecord {
  id: string
  username: string
  name: string
  roles: OfficerRole[]
  agency_id: string | null
  password_hash: string
  status: OfficerStatus
  created_at: Date
  updated_at: Date
}

function toOfficer(r: OfficerRecord): Officer {
  return {
    id: r.id,
    username: r.username,
    name: r.name,
    roles: Object.freeze([...r.roles]),
    agencyId: r.agency_id,
    status: r.status,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

async function findRecordByUsername(db: Kysely<Database>, username: string): Promise<OfficerRecord | undefined> {
  const normalized = normalizeUsername(username)
  if (normalized === undefined) return undefined
  return db.selectFrom('officers').selectAll().where('username', '=', normalized).executeTakeFirst()
}

export async function findOfficerByUsername(db: Kysely<Database>, username: string): Promise<Officer | undefined> {
  const r = await findRecordByUsername(db, username)
  return r === undefined ? undefined : toOfficer(r)
}

export async function findOfficerById(db: Kysely<Database>, id: string): Promise<Officer | undefined> {
  if (!UUID.test(id)) return undefined
  const r = await db.selectFrom('officers').selectAll().where('id', '=', id).executeTakeFirst()
  return r === undefined ? undefined : toOfficer(r)
}

/**
 * Creates an officer (from the CLI or by a system admin) with a one-time enrolment code
 * for their second factor (officer-factors.ts): the officer row, the code and their audit
 * entries together. The code is returned to be shown once.
 */
export async function createOfficer(
  db: Kysely<Database>,
  input: NewOfficerInput,
  context: RequestContext & { readonly passwords?: PasswordHasher; readonly now?: Date } = {},
): Promise<Officer & { readonly enrolment: { readonly code: string; readonly expiresAt: Date } }> {
  const username = normalizeUsername(input.username)
  if (username === undefined) throw new AccountError('username_invalid')
  const name = normalizeName(input.name)
  if (name === undefined) throw new AccountError('name_invalid')
  const roles = validateRoles(input.roles)
  const agencyId =
    input.agencyId === undefined || input.agencyId === null || input.agencyId.trim() === ''
      ? null
      : input.agencyId.trim()
  if (roles.includes('agency_admin') && agencyId === null) throw new AccountError('agency_required')
  if (typeof input.password !== 'string' || Buffer.byteLength(input.password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new AccountError('password_too_long')
  }
  const verdict = checkPassword(input.password, { name, email: username, regencyName: input.regencyName })
  if (!verdict.ok) throw new AccountError('password_weak', { reason: verdict.reason })
  const hash = await (context.passwords ?? argon2Hasher).hashPassword(input.password)

  try {
    return await db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('officers')
        .values({ username, name, roles, agency_id: agencyId, password_hash: hash })
        .returningAll()
        .executeTakeFirstOrThrow()
      await recordAudit(trx, {
        event: 'officer.created',
        actor: context.actor ?? 'cli',
        ip: context.ip,
        requestId: context.requestId,
        data: { officerId: row.id, roles, agencyId },
      })
      const enrolment = await issueEnrolmentCode(trx, row.id, {
        actor: context.actor ?? 'cli',
        ip: context.ip,
        requestId: context.requestId,
        now: context.now,
      })
      return { ...toOfficer(row), enrolment }
    })
  } catch (err) {
    const e = err as { code?: unknown; constraint?: unknown }
    if (e.code === '23505' && e.constraint === 'officers_username_unique')
      throw new AccountError('username_taken', { cause: err })
    throw err
  }
}

export interface OfficerAuthenticateOptions {
  readonly ip?: string | undefined
  readonly requestId?: string | undefined
  readonly policy?: ThrottlePolicy
  readonly now?: Date
  readonly passwords?: PasswordHasher
}

export type OfficerAuthResult =
  | { readonly ok: true; readonly officer: Officer }
  | { readonly ok: false; readonly reason: 'invalid_credentials' }
  | {
      readonly ok: false
      readonly reason: 'throttled'
      readonly retryAfterSeconds: number
      readonly permanent: boolean
    }

const INVALID_CREDENTIALS = Object.freeze({ ok: false, reason: 'invalid_credentials' } as const)

/**
 * The password step of an officer's sign-in; the same rules as authenticateCitizen: an
 * unknown username, a disabled officer and a wrong password give the same result after
 * the same work, and throttling counts per officer and per source address.
 */
export async function authenticateOfficer(
  db: Kysely<Database>,
  username: string,
  password: string,
  options: OfficerAuthenticateOptions = {},
): Promise<OfficerAuthResult> {
  if (typeof password !== 'string' || Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new AccountError('password_too_long')
  }
  const hasher = options.passwords ?? argon2Hasher
  const now = options.now ?? new Date()
  const record = await findRecordByUsername(db, username)
  const keys = {
    account:
      record !== undefined
        ? accountKey(record.id)
        : unknownAccountKey('officer', normalizeUsername(username) ?? String(username).slice(0, 256)),
    source: sourceKey(options.ip),
  }
  const actor: AuditActor = record === undefined ? 'anonymous' : `officer:${record.id}`
  const base = { ip: options.ip, requestId: options.requestId, actor }

  const decision = await reserveAttempt(db, keys, { ...(options.policy ? { policy: options.policy } : {}), now })
  if (!decision.allowed) {
    await recordAudit(db, {
      ...base,
      event: 'auth.login.throttled',
      data: { accountKind: 'officer', scope: decision.scope },
    })
    return {
      ok: false,
      reason: 'throttled',
      retryAfterSeconds: decision.retryAfterSeconds,
      permanent: decision.permanent,
    }
  }

  if (record !== undefined && record.status === 'active') {
    const check = await hasher.verifyPassword(record.password_hash, password)
    if (check.ok) {
      const rehashed = check.needsRehash ? await hasher.hashPassword(password) : undefined
      await db.transaction().execute(async (trx) => {
        if (rehashed !== undefined) {
          await trx.updateTable('officers').set({ password_hash: rehashed }).where('id', '=', record.id).execute()
        }
        await recordSuccess(trx, keys)
        await recordAudit(trx, {
          ...base,
          event: 'auth.login.succeeded',
          data: { accountKind: 'officer', method: 'password' },
        })
      })
      return { ok: true, officer: toOfficer(record) }
    }
  } else {
    await hasher.verifyAgainstDummy(password)
  }
  await recordAudit(db, { ...base, event: 'auth.login.failed', data: { accountKind: 'officer' } })
  return INVALID_CREDENTIALS
}

/** Disables or re-enables an officer; true when the status changed. */
export async function setOfficerStatus(
  db: Kysely<Database>,
  officerId: string,
  status: OfficerStatus,
  context: RequestContext = {},
): Promise<boolean> {
  if (!UUID.test(officerId)) throw new AccountError('account_not_found')
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('officers')
      .select('status')
      .where('id', '=', officerId)
      .forUpdate()
      .executeTakeFirst()
    if (current === undefined) throw new AccountError('account_not_found')
    if (current.status === status) return false
    await trx.updateTable('officers').set({ status, updated_at: new Date() }).where('id', '=', officerId).execute()
    // A disabled officer's console sessions end at once (officer-sessions.ts).
    if (status === 'disabled') {
      await trx
        .updateTable('officer_sessions')
        .set({ revoked_at: new Date() })
        .where('officer_id', '=', officerId)
        .where('revoked_at', 'is', null)
        .execute()
    }
    await recordAudit(trx, {
      event: status === 'disabled' ? 'account.disabled' : 'account.enabled',
      actor: context.actor ?? 'cli',
      ip: context.ip,
      requestId: context.requestId,
      data: { officerId },
    })
    return true
  })
}

export interface OfficerListing extends Officer {
  /** A confirmed second factor. */
  readonly factors: readonly 'totp'[]
  /** An unused, unexpired enrolment code waits. */
  readonly enrolmentPending: boolean
  readonly lastSignInAt: Date | null
}

/** Every officer, by username, with their factors and last sign-in (`satupintu officers list`). */
export async function listOfficers(db: Kysely<Database>, now = new Date()): Promise<OfficerListing[]> {
  const rows = await db.selectFrom('officers').selectAll().orderBy('username').execute()
  const factors = await db
    .selectFrom('officer_second_factors')
    .select(['officer_id', 'kind'])
    .where('confirmed_at', 'is not', null)
    .execute()
  const codes = await db
    .selectFrom('officer_enrolment_codes')
    .select('officer_id')
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .execute()
  const pending = new Set(codes.map((c) => c.officer_id))
  return rows.map((r) => ({
    ...toOfficer(r),
    factors: factors.filter((f) => f.officer_id === r.id).map((f) => f.kind),
    enrolmentPending: pending.has(r.id),
    lastSignInAt: r.last_sign_in_at,
  }))
}
