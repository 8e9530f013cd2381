// Officers' second factors (issue 14, Officers): mandatory from the first sign-in. An
// officer without a factor can only enrol, with the one-time enrolment code that
// `satupintu officers add` (or `reset-factors`) printed: the code is kept as a SHA-256
// only, expires after 72 hours, and is spent by the enrolment it confirms.
//
// The authenticator app is the citizens' one (totp.ts: same parameters, a code taken once
// by a conditional UPDATE on its step, docs/security.md line 39), sealed with the same key
// encryption bound to the officer, and wrong codes are throttled by the same counters
// (throttle.ts, under the `second-factor:` keys of second-factors.ts; the enrolment code
// under `enrolment:`). Every factor change and failure is in the audit trail, with the
// officer in `data` (subject_id names citizens only).

import { createHash, randomInt, timingSafeEqual } from 'node:crypto'
import type { Kysely } from 'kysely'
import { recordAudit, type AuditActor } from '../audit/audit.ts'
import type { Database } from '../db/database.ts'
import { secondFactorThrottleKeys, type SecretSealer } from './second-factors.ts'
import {
  accountKey,
  recordSuccess,
  reserveAttempt,
  sourceKey,
  type ThrottleKeys,
  type ThrottlePolicy,
} from './throttle.ts'
import { acceptedStep, newTotpSecret, normalizeTotpCode, totpUri } from './totp.ts'

/** How long an enrolment code stays usable. */
export const enrolmentCodeLifetimeSeconds = 72 * 3600
/** Crockford's base32: no I, L, O or U to misread. 12 characters: 60 bits. */
const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
const enrolmentCodeLength = 12

export interface OfficerFactorContext {
  readonly ip?: string | undefined
  readonly requestId?: string | undefined
  readonly actor?: AuditActor | undefined
  readonly throttlePolicy?: ThrottlePolicy | undefined
  /** The current time; tests move it. */
  readonly now?: Date | undefined
}

export type OfficerCodeCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'wrong' }
  | {
      readonly ok: false
      readonly reason: 'throttled'
      readonly retryAfterSeconds: number
      readonly permanent: boolean
    }

function totpAad(officerId: string): string {
  return `officer-second-factor:totp:${officerId}`
}

function enrolmentThrottleKeys(officerId: string, ip: string | undefined): ThrottleKeys {
  const source = sourceKey(ip)
  return {
    account: `enrolment:${accountKey(officerId)}`,
    source: source === undefined ? undefined : `enrolment:${source}`,
  }
}

/** "ABCD-EFGH-JKMN": how an enrolment code is shown (typed with or without the dashes). */
export function formatEnrolmentCode(code: string): string {
  return code.match(/.{1,4}/g)?.join('-') ?? code
}

function normalizeEnrolmentCode(code: string): string | undefined {
  const s = code.normalize('NFKC').toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0')
  if (s.length !== enrolmentCodeLength) return undefined
  for (const c of s) if (!alphabet.includes(c)) return undefined
  return s
}

function enrolmentHash(officerId: string, normalized: string): string {
  return createHash('sha256')
    .update(`officer enrolment code v1\u0000${officerId}\u0000${normalized}`)
    .digest('base64url')
}

/**
 * A new enrolment code for the officer, replacing any earlier one; the code is returned
 * (to be shown once) and only its hash kept. Pass the transaction of the change it goes with.
 */
export async function issueEnrolmentCode(
  trx: Kysely<Database>,
  officerId: string,
  context: OfficerFactorContext = {},
): Promise<{ code: string; expiresAt: Date }> {
  const now = context.now ?? new Date()
  let code = ''
  for (let i = 0; i < enrolmentCodeLength; i++) code += alphabet[randomInt(alphabet.length)]
  const expiresAt = new Date(now.getTime() + enrolmentCodeLifetimeSeconds * 1000)
  const row = { code_hash: enrolmentHash(officerId, code), expires_at: expiresAt, used_at: null, created_at: now }
  await trx
    .insertInto('officer_enrolment_codes')
    .values({ officer_id: officerId, ...row })
    .onConflict((oc) => oc.column('officer_id').doUpdateSet(row))
    .execute()
  await recordAudit(trx, {
    event: 'officer.enrolment_code_issued',
    actor: context.actor ?? 'cli',
    ip: context.ip,
    requestId: context.requestId,
    data: { officerId, expiresAt },
  })
  return { code: formatEnrolmentCode(code), expiresAt }
}

async function liveEnrolmentCode(db: Kysely<Database>, officerId: string, now: Date) {
  return db
    .selectFrom('officer_enrolment_codes')
    .selectAll()
    .where('officer_id', '=', officerId)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst()
}

async function throttled(
  db: Kysely<Database>,
  officerId: string,
  keys: ThrottleKeys,
  context: OfficerFactorContext,
  kind: 'totp' | 'enrolment',
): Promise<OfficerCodeCheck | undefined> {
  const decision = await reserveAttempt(db, keys, {
    ...(context.throttlePolicy ? { policy: context.throttlePolicy } : {}),
    ...(context.now ? { now: context.now } : {}),
  })
  if (decision.allowed) return undefined
  await recordAudit(db, {
    event: 'auth.second_factor.throttled',
    actor: `officer:${officerId}`,
    ip: context.ip,
    requestId: context.requestId,
    data: { accountKind: 'officer', officerId, kind, scope: decision.scope },
  })
  return {
    ok: false,
    reason: 'throttled',
    retryAfterSeconds: decision.retryAfterSeconds,
    permanent: decision.permanent,
  }
}

async function failed(
  db: Kysely<Database>,
  officerId: string,
  context: OfficerFactorContext,
  kind: 'totp' | 'enrolment',
): Promise<OfficerCodeCheck> {
  await recordAudit(db, {
    event: 'auth.second_factor.failed',
    actor: `officer:${officerId}`,
    ip: context.ip,
    requestId: context.requestId,
    data: { accountKind: 'officer', officerId, kind },
  })
  return { ok: false, reason: 'wrong' }
}

/**
 * Checks the enrolment code (throttled like passwords). It is not spent here: the
 * enrolment it opens spends it when confirmed (confirmOfficerTotp), so an officer whose
 * session ends half-way can start again with the same code.
 */
export async function checkEnrolmentCode(
  db: Kysely<Database>,
  officerId: string,
  code: string,
  context: OfficerFactorContext = {},
): Promise<OfficerCodeCheck> {
  const now = context.now ?? new Date()
  const keys = enrolmentThrottleKeys(officerId, context.ip)
  const locked = await throttled(db, officerId, keys, context, 'enrolment')
  if (locked) return locked
  const normalized = normalizeEnrolmentCode(code)
  const live = await liveEnrolmentCode(db, officerId, now)
  if (
    normalized === undefined ||
    live === undefined ||
    !timingSafeEqual(Buffer.from(live.code_hash), Buffer.from(enrolmentHash(officerId, normalized)))
  ) {
    return failed(db, officerId, context, 'enrolment')
  }
  await recordSuccess(db, keys)
  return { ok: true }
}

export interface OfficerFactorStatus {
  readonly totp: boolean
  readonly totpSince: Date | null
  /** An unused, unexpired enrolment code exists. */
  readonly enrolmentCodeLive: boolean
}

export async function officerFactorStatus(
  db: Kysely<Database>,
  officerId: string,
  now = new Date(),
): Promise<OfficerFactorStatus> {
  const row = await db
    .selectFrom('officer_second_factors')
    .select('confirmed_at')
    .where('officer_id', '=', officerId)
    .where('kind', '=', 'totp')
    .executeTakeFirst()
  const code = await liveEnrolmentCode(db, officerId, now)
  return {
    totp: row?.confirmed_at != null,
    totpSince: row?.confirmed_at ?? null,
    enrolmentCodeLive: code !== undefined,
  }
}

export async function officerHasFactor(db: Kysely<Database>, officerId: string): Promise<boolean> {
  const row = await db
    .selectFrom('officer_second_factors')
    .select('id')
    .where('officer_id', '=', officerId)
    .where('confirmed_at', 'is not', null)
    .executeTakeFirst()
  return row !== undefined
}

/**
 * The authenticator-app enrolment waiting for confirmation, made now if there is none;
 * undefined when the officer already has one.
 */
export async function pendingOfficerTotp(
  db: Kysely<Database>,
  sealer: SecretSealer,
  officerId: string,
  label: string,
): Promise<{ secret: string; uri: string } | undefined> {
  const select = () =>
    db
      .selectFrom('officer_second_factors')
      .selectAll()
      .where('officer_id', '=', officerId)
      .where('kind', '=', 'totp')
      .executeTakeFirst()
  let row = await select()
  if (row === undefined) {
    await db
      .insertInto('officer_second_factors')
      .values({ officer_id: officerId, kind: 'totp', secret_enc: sealer.encrypt(newTotpSecret(), totpAad(officerId)) })
      .onConflict((oc) => oc.columns(['officer_id', 'kind']).doNothing())
      .execute()
    // Two tabs at once: both show the secret stored first.
    row = await select()
  }
  if (row === undefined || row.confirmed_at !== null) return undefined
  const secret = sealer.decrypt(row.secret_enc, totpAad(officerId))
  return { secret, uri: totpUri(secret, label) }
}

/**
 * Confirms the enrolment with a code from the app, spending the enrolment code in the same
 * transaction: a code that has been used or has expired enrols nothing.
 */
export async function confirmOfficerTotp(
  db: Kysely<Database>,
  sealer: SecretSealer,
  officerId: string,
  code: string,
  context: OfficerFactorContext = {},
): Promise<OfficerCodeCheck | { readonly ok: false; readonly reason: 'no_enrolment_code' }> {
  const now = context.now ?? new Date()
  if ((await liveEnrolmentCode(db, officerId, now)) === undefined) return { ok: false, reason: 'no_enrolment_code' }
  const row = await db
    .selectFrom('officer_second_factors')
    .selectAll()
    .where('officer_id', '=', officerId)
    .where('kind', '=', 'totp')
    .where('confirmed_at', 'is', null)
    .executeTakeFirst()
  if (row === undefined) return { ok: false, reason: 'wrong' }
  const keys = secondFactorThrottleKeys(officerId, context.ip)
  const locked = await throttled(db, officerId, keys, context, 'totp')
  if (locked) return locked
  const digits = normalizeTotpCode(code)
  const secret = sealer.decrypt(row.secret_enc, totpAad(officerId))
  const step = digits === undefined ? undefined : acceptedStep(secret, digits, now, row.last_step)
  if (step === undefined) return failed(db, officerId, context, 'totp')
  const outcome = await db
    .transaction()
    .execute(async (trx) => {
      const spent = await trx
        .updateTable('officer_enrolment_codes')
        .set({ used_at: now })
        .where('officer_id', '=', officerId)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .returning('officer_id')
        .executeTakeFirst()
      if (spent === undefined) return 'no_enrolment_code' as const
      const confirmed = await trx
        .updateTable('officer_second_factors')
        .set({ confirmed_at: now, last_step: step, last_used_at: now })
        .where('id', '=', row.id)
        .where('confirmed_at', 'is', null)
        .returning('id')
        .executeTakeFirst()
      if (confirmed === undefined) throw new ConfirmRace()
      await recordAudit(trx, {
        event: 'account.second_factor_added',
        actor: `officer:${officerId}`,
        ip: context.ip,
        requestId: context.requestId,
        data: { accountKind: 'officer', officerId, factor: 'totp' },
      })
      return 'ok' as const
    })
    .catch((err: unknown) => {
      if (err instanceof ConfirmRace) return 'wrong' as const
      throw err
    })
  if (outcome === 'no_enrolment_code') return { ok: false, reason: 'no_enrolment_code' }
  if (outcome === 'wrong') return { ok: false, reason: 'wrong' }
  await recordSuccess(db, keys)
  return { ok: true }
}

/** Rolls back a confirmation that another request made first (the code stays unspent). */
class ConfirmRace extends Error {}

/** Checks a code from the officer's app at sign-in; each code is taken once. */
export async function verifyOfficerTotp(
  db: Kysely<Database>,
  sealer: SecretSealer,
  officerId: string,
  code: string,
  context: OfficerFactorContext = {},
): Promise<OfficerCodeCheck> {
  const now = context.now ?? new Date()
  const keys = secondFactorThrottleKeys(officerId, context.ip)
  const locked = await throttled(db, officerId, keys, context, 'totp')
  if (locked) return locked
  const digits = normalizeTotpCode(code)
  const row = await db
    .selectFrom('officer_second_factors')
    .selectAll()
    .where('officer_id', '=', officerId)
    .where('kind', '=', 'totp')
    .where('confirmed_at', 'is not', null)
    .executeTakeFirst()
  if (digits === undefined || row === undefined) return failed(db, officerId, context, 'totp')
  const step = acceptedStep(sealer.decrypt(row.secret_enc, totpAad(officerId)), digits, now, row.last_step)
  if (step === undefined) return failed(db, officerId, context, 'totp')
  // Once only: the step moves forward in the same statement that accepts it.
  const taken = await db
    .updateTable('officer_second_factors')
    .set({ last_step: step, last_used_at: now })
    .where('id', '=', row.id)
    .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
    .returning('id')
    .executeTakeFirst()
  if (taken === undefined) return failed(db, officerId, context, 'totp')
  await recordSuccess(db, keys)
  return { ok: true }
}

/**
 * Removes the officer's factors and pending enrolment, so the next sign-in can only
 * enrol again; the caller ends the sessions and issues a new enrolment code in the same
 * transaction. True when a confirmed factor was removed.
 */
export async function removeOfficerFactors(
  trx: Kysely<Database>,
  officerId: string,
  context: OfficerFactorContext = {},
): Promise<boolean> {
  const removed = await trx
    .deleteFrom('officer_second_factors')
    .where('officer_id', '=', officerId)
    .returning('confirmed_at')
    .execute()
  const confirmed = removed.some((r) => r.confirmed_at !== null)
  await recordAudit(trx, {
    event: 'account.second_factor_removed',
    actor: context.actor ?? 'cli',
    ip: context.ip,
    requestId: context.requestId,
    data: { accountKind: 'officer', officerId, factor: 'totp', confirmed },
  })
  return confirmed
}

/**
 * `satupintu officers reset-factors`: the officer's factors go, every session of theirs
 * ends, and a new enrolment code is issued (returned, to be shown once), together.
 */
export async function resetOfficerFactors(
  db: Kysely<Database>,
  officerId: string,
  context: OfficerFactorContext = {},
): Promise<{ code: string; expiresAt: Date; sessionsEnded: number }> {
  const now = context.now ?? new Date()
  return db.transaction().execute(async (trx) => {
    await removeOfficerFactors(trx, officerId, context)
    // Every console session of theirs ends (officer-sessions.ts reads revoked_at).
    const ended = await trx
      .updateTable('officer_sessions')
      .set({ revoked_at: now })
      .where('officer_id', '=', officerId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst()
    const sessionsEnded = Number(ended.numUpdatedRows)
    const issued = await issueEnrolmentCode(trx, officerId, context)
    // The admin's reset lifts the officer's code locks too (throttle.ts, recordSuccess):
    // the new enrolment starts unlocked.
    await trx
      .deleteFrom('login_attempts')
      .where('key', 'in', [
        enrolmentThrottleKeys(officerId, undefined).account,
        secondFactorThrottleKeys(officerId, undefined).account,
      ])
      .execute()
    await recordAudit(trx, {
      event: 'officer.factors_reset',
      actor: context.actor ?? 'cli',
      ip: context.ip,
      requestId: context.requestId,
      data: { officerId, sessionsEnded },
    })
    return { ...issued, sessionsEnded }
  })
}

/**
 * A confirmed authenticator app for an officer from a known secret, without an enrolment
 * code: for the quick start's demo officer only (src/demo.ts), whose secret is printed.
 * Left alone when the officer already has exactly that secret (its last step is kept).
 */
export async function ensureOfficerTotpForDemo(
  db: Kysely<Database>,
  sealer: SecretSealer,
  officerId: string,
  secret: string,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('officer_second_factors')
      .select(['secret_enc', 'confirmed_at'])
      .where('officer_id', '=', officerId)
      .where('kind', '=', 'totp')
      .forUpdate()
      .executeTakeFirst()
    if (current?.confirmed_at != null && sealer.decrypt(current.secret_enc, totpAad(officerId)) === secret) return
    await trx.deleteFrom('officer_second_factors').where('officer_id', '=', officerId).execute()
    await trx
      .insertInto('officer_second_factors')
      .values({
        officer_id: officerId,
        kind: 'totp',
        secret_enc: sealer.encrypt(secret, totpAad(officerId)),
        confirmed_at: new Date(),
      })
      .execute()
    await recordAudit(trx, {
      event: 'account.second_factor_added',
      actor: 'system',
      data: { accountKind: 'officer', officerId, factor: 'totp', demo: true },
    })
  })
}
