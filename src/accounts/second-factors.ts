// Second factors of a citizen's sign-in (issue 14, first slice): an authenticator app
// (TOTP, RFC 6238) and recovery codes.
//
// TOTP: SHA-1, 6 digits, 30-second steps (RFC 6238's defaults, which every authenticator
// app reads from the QR code), a 160-bit secret (RFC 4226 §4 recommends 160 bits). The
// secret is sealed with the deployment's key-encryption secret (AES-256-GCM, with the
// citizen id as associated data, so a sealed secret cannot be moved to another account).
// A code is accepted in its own step or one step either side (clock drift, RFC 6238 §5.2),
// and only once: the step of the last accepted code is stored, and a code for that step
// or an earlier one is refused, by one conditional UPDATE, so two requests racing with
// the same code cannot both pass (docs/security.md line 39).
//
// Wrong codes are throttled like passwords (docs/security.md line 9), with the same
// counters (src/accounts/throttle.ts) under keys of their own (`second-factor:…`): a wrong
// code never locks the password sign-in and a wrong password never the code step. The
// lock is account-wide here, unlike the password's per-source lock (line 38): only
// someone who knows the password reaches this step, so a stranger with the NIK alone
// cannot use it to keep the owner out.
//
// Recovery codes: ten per set, each 10 characters of a 32-letter alphabet (50 bits),
// shown once and stored as HMAC-SHA256 under a key derived from the key-encryption
// secret. Not argon2: a slow hash protects guessable secrets (passwords) against a stolen
// database; these are random, too many to try online (the throttle above), and without
// the server key a stolen table gives nothing to try offline either. Ten argon2 hashes per
// set, and a verify against each on every use, would cost a second of CPU for no gain.

import { createHmac, randomInt } from 'node:crypto'
import type { Kysely } from 'kysely'
import { recordAudit } from '../audit/audit.ts'
import { recordFactorChange } from './factor-changes.ts'
import { acceptedStep, newTotpSecret, normalizeTotpCode, totpUri } from './totp.ts'
import type { Database } from '../db/database.ts'
import { queueNotice, type RenderOptions } from './notices.ts'
import {
  accountKey,
  recordSuccess,
  reserveAttempt,
  sourceKey,
  type ThrottleKeys,
  type ThrottlePolicy,
} from './throttle.ts'

/** What seals TOTP secrets: the deployment's key encryption (src/keys/encryption.ts). */
export interface SecretSealer {
  encrypt(plaintext: string, aad: string): string
  decrypt(sealed: string, aad: string): string
}

export interface SecondFactorKeys {
  readonly sealer: SecretSealer
  /** HMAC key of recovery codes (kek.derive('recovery codes')). */
  readonly recoveryKey: Buffer
}

export interface SecondFactorContext {
  readonly ip?: string | undefined
  readonly requestId?: string | undefined
  readonly noticeOptions?: RenderOptions | undefined
  readonly throttlePolicy?: ThrottlePolicy | undefined
  /** The current time; tests move it. */
  readonly now?: Date | undefined
}

export { totpParameters } from './totp.ts'
export const recoveryCodeCount = 10
/** Crockford's base32 alphabet: no I, L, O or U to misread. */
const recoveryAlphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
const recoveryLength = 10

function totpAad(citizenId: string): string {
  return `second-factor:totp:${citizenId}`
}

/** The throttle keys of second-factor codes for an account (a citizen or an officer: ids are UUIDs) and address. */
export function secondFactorThrottleKeys(citizenId: string, ip: string | undefined): ThrottleKeys {
  const source = sourceKey(ip)
  return {
    account: `second-factor:${accountKey(citizenId)}`,
    source: source === undefined ? undefined : `second-factor:${source}`,
  }
}

export interface SecondFactorStatus {
  /** An authenticator app is confirmed. */
  readonly totp: boolean
  /** An enrolment waits for its confirming code. */
  readonly totpPending: boolean
  readonly totpSince: Date | null
  readonly totpLastUsedAt: Date | null
  /** Unused recovery codes. */
  readonly recoveryCodesLeft: number
}

export async function secondFactorStatus(db: Kysely<Database>, citizenId: string): Promise<SecondFactorStatus> {
  const row = await db
    .selectFrom('second_factors')
    .select(['confirmed_at', 'last_used_at'])
    .where('citizen_id', '=', citizenId)
    .where('kind', '=', 'totp')
    .executeTakeFirst()
  const left = await db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('citizen_id', '=', citizenId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow()
  return {
    totp: row?.confirmed_at != null,
    totpPending: row !== undefined && row.confirmed_at === null,
    totpSince: row?.confirmed_at ?? null,
    totpLastUsedAt: row?.last_used_at ?? null,
    recoveryCodesLeft: Number(left.n),
  }
}

/** Whether the account's sign-in asks for a second factor. */
export async function hasSecondFactor(db: Kysely<Database>, citizenId: string): Promise<boolean> {
  const row = await db
    .selectFrom('second_factors')
    .select('id')
    .where('citizen_id', '=', citizenId)
    .where('confirmed_at', 'is not', null)
    .executeTakeFirst()
  return row !== undefined
}

export interface TotpEnrolment {
  /** Base32, as an authenticator app takes it typed. */
  readonly secret: string
  /** The `otpauth://` URI the QR code carries. */
  readonly uri: string
}

/**
 * The enrolment waiting for confirmation, made now if there is none. Undefined when an
 * authenticator app is already confirmed (remove it first).
 */
export async function pendingTotpEnrolment(
  db: Kysely<Database>,
  keys: SecondFactorKeys,
  citizenId: string,
  label: string,
): Promise<TotpEnrolment | undefined> {
  const existing = await db
    .selectFrom('second_factors')
    .selectAll()
    .where('citizen_id', '=', citizenId)
    .where('kind', '=', 'totp')
    .executeTakeFirst()
  if (existing?.confirmed_at != null) return undefined
  let secret: string
  if (existing !== undefined) {
    secret = keys.sealer.decrypt(existing.secret_enc, totpAad(citizenId))
  } else {
    const made = newTotpSecret()
    await db
      .insertInto('second_factors')
      .values({ citizen_id: citizenId, kind: 'totp', secret_enc: keys.sealer.encrypt(made, totpAad(citizenId)) })
      .onConflict((oc) => oc.columns(['citizen_id', 'kind']).doNothing())
      .execute()
    // Two tabs enrolling at once: both show the secret that was stored first.
    const stored = await db
      .selectFrom('second_factors')
      .selectAll()
      .where('citizen_id', '=', citizenId)
      .where('kind', '=', 'totp')
      .executeTakeFirstOrThrow()
    if (stored.confirmed_at !== null) return undefined
    secret = keys.sealer.decrypt(stored.secret_enc, totpAad(citizenId))
  }
  return { secret, uri: totpUri(secret, label) }
}

export type CodeCheck =
  | { readonly ok: true; readonly method: 'totp' }
  | { readonly ok: true; readonly method: 'recovery'; readonly recoveryCodesLeft: number }
  | { readonly ok: false; readonly reason: 'wrong' }
  | {
      readonly ok: false
      readonly reason: 'throttled'
      readonly retryAfterSeconds: number
      readonly permanent: boolean
    }

/** Upper case, without spaces and dashes; confusable letters read as the digits they look like. */
function normalizeRecoveryCode(code: string): string | undefined {
  const s = code.normalize('NFKC').toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0')
  if (s.length !== recoveryLength) return undefined
  for (const c of s) if (!recoveryAlphabet.includes(c)) return undefined
  return s
}

async function reserve(
  db: Kysely<Database>,
  citizenId: string,
  context: SecondFactorContext,
  kind: 'totp' | 'recovery',
): Promise<CodeCheck | undefined> {
  const keys = secondFactorThrottleKeys(citizenId, context.ip)
  const decision = await reserveAttempt(db, keys, {
    ...(context.throttlePolicy ? { policy: context.throttlePolicy } : {}),
    ...(context.now ? { now: context.now } : {}),
  })
  if (decision.allowed) return undefined
  await recordAudit(db, {
    event: 'auth.second_factor.throttled',
    actor: 'anonymous',
    subjectId: citizenId,
    ip: context.ip,
    requestId: context.requestId,
    data: { kind, scope: decision.scope },
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
  citizenId: string,
  context: SecondFactorContext,
  kind: 'totp' | 'recovery',
): Promise<CodeCheck> {
  await recordAudit(db, {
    event: 'auth.second_factor.failed',
    actor: 'anonymous',
    subjectId: citizenId,
    ip: context.ip,
    requestId: context.requestId,
    data: { kind },
  })
  return { ok: false, reason: 'wrong' }
}

/**
 * Confirms the waiting enrolment with a code from the app. On success the app is the
 * account's second factor from now on, a fresh set of recovery codes is made (returned,
 * to be shown once), and the citizen's verified contacts are told.
 */
export async function confirmTotpEnrolment(
  db: Kysely<Database>,
  keys: SecondFactorKeys,
  citizenId: string,
  code: string,
  context: SecondFactorContext = {},
): Promise<{ ok: true; recoveryCodes: string[] } | Exclude<CodeCheck, { ok: true }>> {
  const now = context.now ?? new Date()
  const row = await db
    .selectFrom('second_factors')
    .selectAll()
    .where('citizen_id', '=', citizenId)
    .where('kind', '=', 'totp')
    .executeTakeFirst()
  if (row === undefined || row.confirmed_at !== null) return { ok: false, reason: 'wrong' }
  const throttled = await reserve(db, citizenId, context, 'totp')
  if (throttled && !throttled.ok) return throttled
  const digits = normalizeTotpCode(code)
  const secret = keys.sealer.decrypt(row.secret_enc, totpAad(citizenId))
  const step = digits === undefined ? undefined : acceptedStep(secret, digits, now, row.last_step)
  if (step === undefined) return failed(db, citizenId, context, 'totp') as Promise<Exclude<CodeCheck, { ok: true }>>
  const recoveryCodes = makeRecoveryCodes()
  const confirmed = await db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('second_factors')
      .set({ confirmed_at: now, last_step: step, last_used_at: now })
      .where('id', '=', row.id)
      .where('confirmed_at', 'is', null)
      .returning('id')
      .executeTakeFirst()
    if (updated === undefined) return false
    await replaceRecoveryCodes(trx, keys, citizenId, recoveryCodes)
    await recordFactorChange(trx, citizenId, 'added', 'totp', context, now)
    return true
  })
  if (!confirmed) return { ok: false, reason: 'wrong' }
  await recordSuccess(db, secondFactorThrottleKeys(citizenId, context.ip))
  return { ok: true, recoveryCodes }
}

/**
 * Checks a second-factor code at sign-in: a code from the authenticator app (six digits)
 * or a recovery code. Each is accepted once. A recovery code used tells the citizen.
 */
export async function verifySecondFactor(
  db: Kysely<Database>,
  keys: SecondFactorKeys,
  citizenId: string,
  code: string,
  context: SecondFactorContext = {},
): Promise<CodeCheck> {
  const now = context.now ?? new Date()
  const digits = normalizeTotpCode(code)
  const kind = digits !== undefined ? 'totp' : 'recovery'
  const throttled = await reserve(db, citizenId, context, kind)
  if (throttled) return throttled
  if (digits !== undefined) {
    const row = await db
      .selectFrom('second_factors')
      .selectAll()
      .where('citizen_id', '=', citizenId)
      .where('kind', '=', 'totp')
      .where('confirmed_at', 'is not', null)
      .executeTakeFirst()
    if (row === undefined) return failed(db, citizenId, context, kind)
    const secret = keys.sealer.decrypt(row.secret_enc, totpAad(citizenId))
    const step = acceptedStep(secret, digits, now, row.last_step)
    if (step === undefined) return failed(db, citizenId, context, kind)
    // Once only: the step moves forward in the same statement that accepts it.
    const taken = await db
      .updateTable('second_factors')
      .set({ last_step: step, last_used_at: now })
      .where('id', '=', row.id)
      .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
      .returning('id')
      .executeTakeFirst()
    if (taken === undefined) return failed(db, citizenId, context, kind)
    await recordSuccess(db, secondFactorThrottleKeys(citizenId, context.ip))
    return { ok: true, method: 'totp' }
  }
  const normalized = normalizeRecoveryCode(code)
  if (normalized === undefined) return failed(db, citizenId, context, kind)
  const left = await db.transaction().execute(async (trx) => {
    const used = await trx
      .updateTable('recovery_codes')
      .set({ used_at: now })
      .where('citizen_id', '=', citizenId)
      .where('code_hash', '=', recoveryHash(keys, citizenId, normalized))
      .where('used_at', 'is', null)
      .returning('id')
      .executeTakeFirst()
    if (used === undefined) return undefined
    const remaining = await trx
      .selectFrom('recovery_codes')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('citizen_id', '=', citizenId)
      .where('used_at', 'is', null)
      .executeTakeFirstOrThrow()
    const n = Number(remaining.n)
    await recordAudit(trx, {
      event: 'account.recovery_code_used',
      actor: `citizen:${citizenId}`,
      subjectId: citizenId,
      ip: context.ip,
      requestId: context.requestId,
      data: { left: n },
    })
    await queueNotice(
      trx,
      { citizenId, kind: 'recovery_code_used', data: { at: now, left: n } },
      context.noticeOptions ?? {},
    )
    return n
  })
  if (left === undefined) return failed(db, citizenId, context, kind)
  await recordSuccess(db, secondFactorThrottleKeys(citizenId, context.ip))
  return { ok: true, method: 'recovery', recoveryCodesLeft: left }
}

/** Removes the authenticator app and the recovery codes; the citizen is told. */
export async function removeTotp(
  db: Kysely<Database>,
  citizenId: string,
  context: SecondFactorContext = {},
): Promise<boolean> {
  const now = context.now ?? new Date()
  return db.transaction().execute(async (trx) => {
    const removed = await trx
      .deleteFrom('second_factors')
      .where('citizen_id', '=', citizenId)
      .where('kind', '=', 'totp')
      .returning('confirmed_at')
      .executeTakeFirst()
    await trx.deleteFrom('recovery_codes').where('citizen_id', '=', citizenId).execute()
    // An enrolment never confirmed was never a factor: nothing to tell.
    if (removed === undefined || removed.confirmed_at === null) return false
    await recordFactorChange(trx, citizenId, 'removed', 'totp', context, now)
    return true
  })
}

/**
 * A new set of recovery codes in place of the old (every old code stops working). Only
 * for an account with a second factor: the codes are a way past it, not a factor alone.
 */
export async function renewRecoveryCodes(
  db: Kysely<Database>,
  keys: SecondFactorKeys,
  citizenId: string,
  context: SecondFactorContext = {},
): Promise<string[] | undefined> {
  const now = context.now ?? new Date()
  const codes = makeRecoveryCodes()
  return db.transaction().execute(async (trx) => {
    // Serialises two renewals at once on the factor's row.
    const factor = await trx
      .selectFrom('second_factors')
      .select('id')
      .where('citizen_id', '=', citizenId)
      .where('confirmed_at', 'is not', null)
      .forUpdate()
      .executeTakeFirst()
    if (factor === undefined) return undefined
    await replaceRecoveryCodes(trx, keys, citizenId, codes)
    await recordAudit(trx, {
      event: 'account.recovery_codes_renewed',
      actor: `citizen:${citizenId}`,
      subjectId: citizenId,
      ip: context.ip,
      requestId: context.requestId,
    })
    await queueNotice(
      trx,
      { citizenId, kind: 'recovery_codes_renewed', data: { at: now } },
      context.noticeOptions ?? {},
    )
    return codes
  })
}

/** "ABCDE-FGHJK": how a recovery code is shown (typed with or without the dash). */
export function formatRecoveryCode(code: string): string {
  return `${code.slice(0, 5)}-${code.slice(5)}`
}

function makeRecoveryCodes(): string[] {
  const codes = new Set<string>()
  while (codes.size < recoveryCodeCount) {
    let s = ''
    for (let i = 0; i < recoveryLength; i++) s += recoveryAlphabet[randomInt(recoveryAlphabet.length)]
    codes.add(s)
  }
  return [...codes]
}

function recoveryHash(keys: SecondFactorKeys, citizenId: string, normalized: string): string {
  // Bound to the account: the same code on two accounts hashes differently.
  return createHmac('sha256', keys.recoveryKey)
    .update(`recovery code v1\u0000${citizenId}\u0000${normalized}`, 'utf8')
    .digest('base64url')
}

async function replaceRecoveryCodes(
  trx: Kysely<Database>,
  keys: SecondFactorKeys,
  citizenId: string,
  codes: readonly string[],
): Promise<void> {
  await trx.deleteFrom('recovery_codes').where('citizen_id', '=', citizenId).execute()
  await trx
    .insertInto('recovery_codes')
    .values(codes.map((c) => ({ citizen_id: citizenId, code_hash: recoveryHash(keys, citizenId, c) })))
    .execute()
}
