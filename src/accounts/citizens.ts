// Citizens' accounts: registration, look-up, sign-in and the changes a citizen (or an
// officer) makes to an account. Every function takes the database (or a transaction)
// first; whatever writes more than one row does it in one transaction, with its audit
// entry, so that nothing is ever half written.

import { sql, type Kysely } from 'kysely'
import { recordAudit, type AuditActor } from '../audit/audit.ts'
import type { Database } from '../db/database.ts'
import type { CitizenGender, CitizenStatus, NikStatus } from '../db/tables/citizens.ts'
import { AccountError } from './errors.ts'
import {
  classifyIdentifier,
  maskContact,
  normalizeEmail,
  normalizePhone,
  type ClassifiedIdentifier,
} from './identifiers.ts'
import { nikMatchesPerson, parseNik } from './nik.ts'
import { hashDeviceId } from './devices.ts'
import { lockNik } from './identity.ts'
import { queueNotice, type RenderOptions } from './notices.ts'
import { secondFactorThrottleKeys } from './second-factors.ts'
import { checkPassword, type PasswordError } from './password-policy.ts'
import { argon2Hasher, MAX_PASSWORD_BYTES, type PasswordHasher } from './passwords.ts'
import {
  accountKey,
  recordSignInSuccess,
  recordSuccess,
  reserveSignInAttempt,
  defaultSignInPolicy,
  unknownSourceCap,
  sourceKey,
  unknownAccountKey,
  identifierKey,
  type SignInThrottlePolicy,
} from './throttle.ts'

export type { CitizenGender, CitizenStatus, NikStatus } from '../db/tables/citizens.ts'

/** A citizen's account as the application sees it (never the password hash). */
export interface Citizen {
  /** The OIDC `sub`. */
  readonly id: string
  readonly nik: string
  readonly name: string
  /** YYYY-MM-DD. */
  readonly birthDate: string
  readonly gender: CitizenGender
  readonly email: string | null
  readonly emailVerified: boolean
  readonly phone: string | null
  readonly phoneVerified: boolean
  /** Whose NIK it is: only claimed, proven on this account, or withdrawn (src/accounts/identity.ts). */
  readonly nikStatus: NikStatus
  readonly status: CitizenStatus
  readonly hasPassword: boolean
  readonly createdAt: Date
  readonly updatedAt: Date
  readonly passwordChangedAt: Date | null
}

/** Who is acting and from where, for the audit trail. */
import type { RequestContext } from './request-context.ts'

export type { RequestContext }

export interface NewCitizenInput {
  readonly nik: string
  readonly name: string
  /** YYYY-MM-DD. */
  readonly birthDate: string
  readonly gender: string
  readonly email?: string | null | undefined
  readonly phone?: string | null | undefined
  /** Left out only when an officer registers a citizen at a counter (set later with a reset code). */
  readonly password?: string | undefined
  /** The regency's name, refused inside passwords. */
  readonly regencyName: string
}

// ---------------------------------------------------------------------------------------
// Reading

interface CitizenRecord {
  id: string
  nik: string
  name: string
  birth_date: string
  gender: CitizenGender
  email: string | null
  email_verified: boolean
  phone: string | null
  phone_verified: boolean
  password_hash: string | null
  nik_status: NikStatus
  status: CitizenStatus
  created_at: Date
  updated_at: Date
  password_changed_at: Date | null
}

function selectCitizens(db: Kysely<Database>) {
  return db.selectFrom('citizens').select([
    'id',
    'nik',
    'name',
    // As text: the drivers turn a date into a Date at different midnights (see the table type).
    sql<string>`to_char(birth_date, 'YYYY-MM-DD')`.as('birth_date'),
    'gender',
    'email',
    'email_verified',
    'phone',
    'phone_verified',
    'password_hash',
    'nik_status',
    'status',
    'created_at',
    'updated_at',
    'password_changed_at',
  ])
}

function toCitizen(r: CitizenRecord): Citizen {
  return {
    id: r.id,
    nik: r.nik,
    name: r.name,
    birthDate: r.birth_date,
    gender: r.gender,
    email: r.email,
    emailVerified: r.email_verified,
    phone: r.phone,
    phoneVerified: r.phone_verified,
    nikStatus: r.nik_status,
    status: r.status,
    hasPassword: r.password_hash !== null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    passwordChangedAt: r.password_changed_at,
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

async function findRecordById(db: Kysely<Database>, id: string): Promise<CitizenRecord | undefined> {
  // A malformed id would be a type error in PostgreSQL (22P02), not "no such citizen".
  if (!UUID.test(id)) return undefined
  return selectCitizens(db).where('id', '=', id).executeTakeFirst()
}

async function findRecordByIdentifier(
  db: Kysely<Database>,
  identifier: ClassifiedIdentifier,
): Promise<CitizenRecord | undefined> {
  switch (identifier.kind) {
    case 'nik':
      return resolveNik(db, identifier.value)
    // Only a verified contact identifies an account (docs/security.md line 37): an unverified
    // one may be claimed by anyone, on any number of accounts.
    case 'email':
      return selectCitizens(db)
        .where('email', '=', identifier.value)
        .where('email_verified', '=', true)
        .executeTakeFirst()
    case 'phone':
      return selectCitizens(db)
        .where('phone', '=', identifier.value)
        .where('phone_verified', '=', true)
        .executeTakeFirst()
    case 'invalid':
      return undefined
  }
}

/**
 * The account a NIK typed at sign-in stands for. Several accounts may claim one NIK
 * (src/accounts/identity.ts), so: the account that holds it proven, when one does; else the
 * one claimant with a verified contact; else, when a single account claims it at all, that
 * one (so that its owner can be told to verify a contact first). Two claimants with
 * verified contacts, or several with none, are ambiguous: the NIK names no account, and the
 * citizen signs in with the e-mail or phone instead. A withdrawn claim, or a disabled
 * account, never counts.
 */
async function resolveNik(db: Kysely<Database>, nik: string): Promise<CitizenRecord | undefined> {
  const claims = await selectCitizens(db)
    .where('nik', '=', nik)
    .where('nik_status', '<>', 'withdrawn')
    // A disabled account never stands for a NIK: not even one holding it proven.
    .where('status', '=', 'active')
    .orderBy('created_at')
    .limit(50)
    .execute()
  const proven = claims.find((c) => c.nik_status === 'proven')
  if (proven !== undefined) return proven
  const verified = claims.filter((c) => c.email_verified || c.phone_verified)
  if (verified.length === 1) return verified[0]
  if (verified.length === 0 && claims.length === 1) return claims[0]
  return undefined
}

export async function findCitizenById(db: Kysely<Database>, id: string): Promise<Citizen | undefined> {
  const r = await findRecordById(db, id)
  return r === undefined ? undefined : toCitizen(r)
}

/**
 * Looks a citizen up by a classified identifier (classifyIdentifier()): a NIK (resolved as
 * resolveNik says: the proven holder, else the one claimant), or a verified e-mail or phone.
 */
export async function findCitizenByIdentifier(
  db: Kysely<Database>,
  identifier: ClassifiedIdentifier,
): Promise<Citizen | undefined> {
  const r = await findRecordByIdentifier(db, identifier)
  return r === undefined ? undefined : toCitizen(r)
}

// ---------------------------------------------------------------------------------------
// Validation

const MAX_NAME_LENGTH = 100
const NAME_CHARACTERS = /^[\p{L}\p{M} .'-]+$/u

/**
 * NFKC, typographic apostrophes to ', trimmed, runs of white space to one space; then
 * 1–100 characters of letters (any script, with their combining marks), spaces, full
 * stops, hyphens and apostrophes, with at least one letter. Undefined when not a name.
 */
export function normalizeName(input: string): string | undefined {
  if (typeof input !== 'string' || input.length > MAX_NAME_LENGTH * 4) return undefined
  const name = input
    .normalize('NFKC')
    .replace(/[\u2018\u2019\u02bc]/g, "'")
    .replace(/\s+/g, ' ')
    .trim()
  const length = [...name].length
  if (length < 1 || length > MAX_NAME_LENGTH) return undefined
  if (!NAME_CHARACTERS.test(name) || !/\p{L}/u.test(name)) return undefined
  return name
}

const ISO_DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/

function validBirthDate(input: string, now: Date): boolean {
  const m = ISO_DATE.exec(input)
  if (m === null) return false
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])))
  // Rejects 2023-02-30 (which Date would roll over), the future, and before 1900.
  return date.toISOString().slice(0, 10) === input && date.getTime() <= now.getTime() && Number(m[1]) >= 1900
}

function optionalContact(value: string | null | undefined): string | undefined {
  return value === null || value === undefined || value.trim() === '' ? undefined : value
}

function validEmail(value: string | undefined): string | null {
  if (value === undefined) return null
  const email = normalizeEmail(value)
  if (email === undefined) throw new AccountError('email_invalid')
  return email
}

function validPhone(value: string | undefined): string | null {
  if (value === undefined) return null
  const phone = normalizePhone(value)
  if (phone === undefined) throw new AccountError('phone_invalid')
  return phone
}

function assertPasswordSize(password: string): void {
  if (typeof password !== 'string' || Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new AccountError('password_too_long')
  }
}

/** A unique violation's constraint name (SQLSTATE 23505), from either driver. */
function uniqueViolation(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const e = err as { code?: unknown; constraint?: unknown }
  return e.code === '23505' && typeof e.constraint === 'string' ? e.constraint : undefined
}

function takenError(err: unknown): AccountError | undefined {
  switch (uniqueViolation(err)) {
    // Only a proof makes a NIK exclusive (migration 20261203T1410): met when proving.
    case 'citizens_nik_proven_unique':
      return new AccountError('nik_proven_elsewhere', { cause: err })
    // Among verified contacts only (migration 20261201T2230): met when verifying.
    case 'citizens_email_verified_unique':
      return new AccountError('email_taken', { cause: err })
    case 'citizens_phone_verified_unique':
      return new AccountError('phone_taken', { cause: err })
    default:
      return undefined
  }
}

// ---------------------------------------------------------------------------------------
// Registration

/**
 * Every problem with a new registration that can be found without the database, in the
 * order a form shows its fields, at most one per field: the NIK's structure, the birth date
 * and the gender each on its own and each against the NIK (a wrong date does not hide a
 * wrong gender), the name, the contacts (at least one; each one's shape) and the password
 * (size, then the policy with the citizen's own data as context, as far as it was typed
 * well enough to be used). Nothing here looks at other accounts, so the answer is the same
 * for a registered NIK, e-mail or phone as for a new one (docs/security.md line 37).
 */
export function registrationProblems(input: NewCitizenInput, now: Date = new Date()): AccountError[] {
  return checkRegistration(input, now).problems
}

interface CheckedRegistration {
  readonly problems: AccountError[]
  readonly nik: string
  readonly name: string
  readonly gender: CitizenGender
  readonly email: string | null
  readonly phone: string | null
}

function checkRegistration(input: NewCitizenInput, now: Date): CheckedRegistration {
  const problems: AccountError[] = []
  const parsed = parseNik(input.nik)
  if (!parsed.ok) problems.push(new AccountError('nik_invalid', { reason: parsed.reason }))
  const birthDateOk = typeof input.birthDate === 'string' && validBirthDate(input.birthDate, now)
  const gender = input.gender === 'female' || input.gender === 'male' ? input.gender : undefined
  if (!birthDateOk) problems.push(new AccountError('birth_date_invalid'))
  // The date against the NIK on its own (with the NIK's own gender, so that only the date
  // is compared): a gender still to fix does not hide it.
  else if (parsed.ok && !nikMatchesPerson(parsed.nik, { birthDate: input.birthDate, gender: parsed.gender }).ok) {
    problems.push(new AccountError('nik_birth_date_mismatch'))
  }
  if (gender === undefined) problems.push(new AccountError('gender_invalid'))
  // The gender against the NIK on its own: a birth date still to fix does not hide it.
  else if (parsed.ok && parsed.gender !== gender) problems.push(new AccountError('nik_gender_mismatch'))
  const name = normalizeName(input.name)
  if (name === undefined) problems.push(new AccountError('name_invalid'))
  const emailInput = optionalContact(input.email)
  const phoneInput = optionalContact(input.phone)
  if (emailInput === undefined && phoneInput === undefined) problems.push(new AccountError('contact_required'))
  const email = emailInput === undefined ? null : (normalizeEmail(emailInput) ?? null)
  if (emailInput !== undefined && email === null) problems.push(new AccountError('email_invalid'))
  const phone = phoneInput === undefined ? null : (normalizePhone(phoneInput) ?? null)
  if (phoneInput !== undefined && phone === null) problems.push(new AccountError('phone_invalid'))

  if (input.password !== undefined) {
    if (typeof input.password !== 'string' || Buffer.byteLength(input.password, 'utf8') > MAX_PASSWORD_BYTES) {
      problems.push(new AccountError('password_too_long'))
    } else {
      // The citizen's own data as far as it can be read: a name with a stray character or
      // a NIK with a mistyped digit still must not be the password.
      const rawName = typeof input.name === 'string' ? input.name.normalize('NFKC').replace(/\s+/g, ' ').trim() : ''
      const rawNik = typeof input.nik === 'string' ? input.nik.normalize('NFKC').replace(/[^0-9]/g, '') : ''
      const verdict = checkPassword(input.password, {
        nik: parsed.ok ? parsed.nik : rawNik.length === 16 ? rawNik : undefined,
        name: name ?? (rawName !== '' && rawName.length <= 400 ? rawName : undefined),
        birthDate: birthDateOk ? input.birthDate : undefined,
        email: email ?? undefined,
        phone: phone ?? undefined,
        regencyName: input.regencyName,
      })
      if (!verdict.ok) problems.push(new AccountError('password_weak', { reason: verdict.reason }))
    }
  }
  return { problems, nik: parsed.ok ? parsed.nik : '', name: name ?? '', gender: gender ?? 'female', email, phone }
}

/**
 * Registers a citizen. Refuses with the first of registrationProblems() (every check that
 * needs no database; a form shows them all with registrationProblems itself). A NIK that is
 * already registered is claimed once more (`nikStatus` claimed; withdrawn when another
 * account holds it proven): a NIK never blocks a registration. An e-mail address or phone number is only claimed
 * here, unverified, so it never collides: another account may claim it too, and whoever
 * verifies it first holds it (markEmailVerified). The citizen row and its audit entry
 * are written together or not at all.
 */
export async function createCitizen(
  db: Kysely<Database>,
  input: NewCitizenInput,
  context: RequestContext & { readonly passwords?: PasswordHasher; readonly now?: Date } = {},
): Promise<Citizen> {
  const now = context.now ?? new Date()
  const checked = checkRegistration(input, now)
  const first = checked.problems[0]
  if (first !== undefined) throw first
  const { nik, name, gender, email, phone } = checked

  let passwordHash: string | null = null
  if (input.password !== undefined) {
    passwordHash = await (context.passwords ?? argon2Hasher).hashPassword(input.password)
  }

  try {
    return await db.transaction().execute(async (trx) => {
      // A NIK typed here is only claimed (src/accounts/identity.ts): any number of accounts
      // may claim one, so that nobody who types another's NIK can lock its owner out. A NIK
      // already proven on another account is still registered, but born withdrawn: this
      // account never carries it, and is told so (Akun Saya, the registration's last page).
      await lockNik(trx, nik)
      const provenElsewhere = await trx
        .selectFrom('citizens')
        .select('id')
        .where('nik', '=', nik)
        .where('nik_status', '=', 'proven')
        .executeTakeFirst()
      const nikStatus: NikStatus = provenElsewhere === undefined ? 'claimed' : 'withdrawn'
      const row = await trx
        .insertInto('citizens')
        .values({
          nik,
          name,
          birth_date: input.birthDate,
          gender,
          email,
          phone,
          password_hash: passwordHash,
          nik_status: nikStatus,
          password_changed_at: passwordHash === null ? null : now,
        })
        .returning('id')
        .executeTakeFirstOrThrow()
      await recordAudit(trx, {
        event: 'account.registered',
        actor: context.actor ?? `citizen:${row.id}`,
        subjectId: row.id,
        ip: context.ip,
        requestId: context.requestId,
        data: {
          nikStatus,
          signInMethod: passwordHash === null ? 'none_yet' : 'password',
        },
      })
      const created = await findRecordById(trx, row.id)
      if (created === undefined) throw new Error('citizen vanished inside its own transaction')
      return toCitizen(created)
    })
  } catch (err) {
    throw takenError(err) ?? err
  }
}

// ---------------------------------------------------------------------------------------
// Sign-in

export interface AuthenticateOptions {
  /** The client's address (from the trusted-proxy-aware request.ip). */
  readonly ip?: string | undefined
  /** The regency's name, to tell a citizen when their password no longer meets the policy. */
  readonly regencyName?: string | undefined
  readonly requestId?: string | undefined
  readonly policy?: SignInThrottlePolicy
  /**
   * The browser's device id (its device cookie, src/idp/sign-in-device.ts). When the
   * account signed in from it before (known_devices), the account-wide refusal of unknown
   * sources does not apply to it (throttle.ts, reserveSignInAttempt).
   */
  readonly deviceId?: string | undefined
  readonly noticeOptions?: RenderOptions
  readonly now?: Date
  /** The hashing functions; tests count calls through it. */
  readonly passwords?: PasswordHasher
  /**
   * Re-authentication of a signed-in citizen (Akun Saya): the account by its id, whatever
   * `identifier` says (a NIK may be claimed by several accounts).
   */
  readonly accountId?: string
}

export type CitizenAuthResult =
  | {
      readonly ok: true
      readonly citizen: Citizen
      /** The password would not be accepted today (the blocklist grew, say): ask for a new one. */
      readonly weakPassword: PasswordError | null
    }
  | { readonly ok: false; readonly reason: 'invalid_credentials' }
  /**
   * The password is right, but no e-mail or phone of the account is verified yet: it may
   * not sign in (issue 14). Told only to whoever knows the password, with the citizen, so
   * that the caller can send a code to verify a contact.
   */
  | { readonly ok: false; readonly reason: 'contact_unverified'; readonly citizen: Citizen }
  | {
      readonly ok: false
      readonly reason: 'throttled'
      readonly retryAfterSeconds: number
      readonly permanent: boolean
    }

const INVALID_CREDENTIALS = Object.freeze({ ok: false, reason: 'invalid_credentials' } as const)

/**
 * The throttle key part of a device the account signed in from before (known_devices
 * holds the SHA-256 of each device id), or undefined for any other browser.
 */
async function knownDeviceKey(
  db: Kysely<Database>,
  citizenId: string,
  deviceId: string | undefined,
): Promise<string | undefined> {
  if (deviceId === undefined || !/^[A-Za-z0-9_-]{43}$/.test(deviceId)) return undefined
  const hash = hashDeviceId(deviceId)
  const row = await db
    .selectFrom('known_devices')
    .select('device_hash')
    .where('citizen_id', '=', citizenId)
    .where('device_hash', '=', hash)
    .executeTakeFirst()
  // Not the hash itself: the throttle table should not hold what identifies the device row.
  return row === undefined ? undefined : hash.slice(0, 24)
}

/**
 * Signs a citizen in with a NIK, email or phone number and a password.
 *
 * An unknown identifier, a disabled account, an account without a password and a wrong
 * password all give the same `invalid_credentials` after the same work: one throttle
 * reservation, one argon2id verification (against a dummy hash when there is no real one),
 * one audit entry (docs/security.md line 10). An unknown identifier is throttled under its own
 * key exactly like an account, so being throttled does not reveal an account either.
 * A password over 1024 bytes throws AccountError `password_too_long` (a 413/400 for the
 * HTTP layer) before anything else.
 */
export async function authenticateCitizen(
  db: Kysely<Database>,
  identifier: string,
  password: string,
  options: AuthenticateOptions = {},
): Promise<CitizenAuthResult> {
  assertPasswordSize(password)
  const hasher = options.passwords ?? argon2Hasher
  const now = options.now ?? new Date()
  const classified = classifyIdentifier(identifier)
  const record =
    options.accountId !== undefined
      ? await findRecordById(db, options.accountId)
      : await findRecordByIdentifier(db, classified)
  const keys = {
    account:
      record !== undefined
        ? accountKey(record.id)
        : classified.kind === 'invalid'
          ? unknownAccountKey('invalid', String(identifier).slice(0, 320))
          : unknownAccountKey(classified.kind, classified.value),
    source: sourceKey(options.ip),
    device: record !== undefined ? await knownDeviceKey(db, record.id, options.deviceId) : undefined,
    identifier:
      classified.kind === 'invalid'
        ? identifierKey('invalid', String(identifier).slice(0, 320))
        : identifierKey(classified.kind, classified.value),
  }
  const audit = { ip: options.ip, requestId: options.requestId, subjectId: record?.id }
  const actor: AuditActor = record === undefined ? 'anonymous' : `citizen:${record.id}`

  // Locks per address (and per known device) first, so that a stranger with the NIK locks
  // out only themselves (docs/security.md line 38; throttle.ts, reserveSignInAttempt).
  const decision = await reserveSignInAttempt(db, keys, { ...(options.policy ? { policy: options.policy } : {}), now })
  if (!decision.allowed) {
    await recordAudit(db, {
      ...audit,
      event: 'auth.login.throttled',
      actor,
      data: {
        scope: decision.accountWide === true ? 'account_wide' : decision.scope,
        identifierKind: classified.kind,
        knownDevice: keys.device !== undefined,
      },
    })
    if (decision.accountWide === true) {
      // The account-wide refusal of unknown sources is shared by the NIK, the e-mail and the
      // phone: told apart from a wrong password, it would say that they belong together. So
      // it answers as a wrong password does, after the same work, and the password is not
      // checked. The owner was told by message when it began (the notices below), with the
      // way back: a known device, or a password reset.
      await hasher.verifyAgainstDummy(password)
      return INVALID_CREDENTIALS
    }
    return {
      ok: false,
      reason: 'throttled',
      retryAfterSeconds: decision.retryAfterSeconds,
      permanent: decision.permanent,
    }
  }

  if (record !== undefined && record.status === 'active' && record.password_hash !== null) {
    const check = await hasher.verifyPassword(record.password_hash, password)
    if (check.ok) {
      // The parameters changed since this hash was made: upgrade it now (OWASP Password
      // Storage cheat sheet, "Upgrading legacy hashes").
      const rehashed = check.needsRehash ? await hasher.hashPassword(password) : undefined
      if (!record.email_verified && !record.phone_verified) {
        await db.transaction().execute(async (trx) => {
          if (rehashed !== undefined) {
            await trx.updateTable('citizens').set({ password_hash: rehashed }).where('id', '=', record.id).execute()
          }
          await recordSignInSuccess(trx, keys)
          await recordAudit(trx, {
            ...audit,
            event: 'auth.login.failed',
            actor,
            data: { reason: 'contact_unverified', identifierKind: classified.kind },
          })
        })
        return { ok: false, reason: 'contact_unverified', citizen: toCitizen(record) }
      }
      await db.transaction().execute(async (trx) => {
        if (rehashed !== undefined) {
          await trx.updateTable('citizens').set({ password_hash: rehashed }).where('id', '=', record.id).execute()
        }
        await recordSignInSuccess(trx, keys)
        await recordAudit(trx, {
          ...audit,
          event: 'auth.login.succeeded',
          actor,
          data: { method: 'password', identifierKind: classified.kind },
        })
      })
      const verdict = checkPassword(password, {
        nik: record.nik,
        name: record.name,
        birthDate: record.birth_date,
        email: record.email ?? undefined,
        phone: record.phone ?? undefined,
        regencyName: options.regencyName,
      })
      return { ok: true, citizen: toCitizen(record), weakPassword: verdict.ok ? null : verdict.reason }
    }
  } else {
    await hasher.verifyAgainstDummy(password)
  }
  const policy = options.policy
  const signInPolicy = policy ?? defaultSignInPolicy
  // Told at the first threshold, when unknown sources start being refused, and at the bar.
  const noticeAt = new Set([
    signInPolicy.noticeAfterFailures,
    unknownSourceCap(signInPolicy),
    signInPolicy.maxConsecutiveFailures,
  ])
  await db.transaction().execute(async (trx) => {
    await recordAudit(trx, { ...audit, event: 'auth.login.failed', actor, data: { identifierKind: classified.kind } })
    // The owner hears of a run of failures, with this entry (docs/security.md line 38).
    if (record !== undefined && noticeAt.has(decision.accountFailures)) {
      const cap = unknownSourceCap(signInPolicy)
      await queueNotice(
        trx,
        {
          citizenId: record.id,
          kind: 'sign_in_attempts',
          data: {
            since: decision.firstFailureAt,
            failures: decision.accountFailures,
            locked: decision.accountFailures >= cap,
          },
        },
        options.noticeOptions,
      )
    }
  })
  return INVALID_CREDENTIALS
}

// ---------------------------------------------------------------------------------------
// Changes

/**
 * Sets a new password (after a reset code, or from the account page after re-entering the
 * old one: the caller checks that). Checks it against the policy with the citizen's own
 * data, and lifts a throttling lock on the account: this is how a citizen locked out
 * after too many failures gets back in.
 */
export async function setCitizenPassword(
  db: Kysely<Database>,
  citizenId: string,
  password: string,
  context: RequestContext & {
    readonly regencyName: string
    readonly passwords?: PasswordHasher
    readonly now?: Date
    /** Which notice the citizen gets (in the same transaction): changed on Akun Saya (default) or reset with a code. */
    readonly notice?: 'password_changed' | 'password_reset'
    readonly noticeOptions?: RenderOptions
  },
): Promise<void> {
  assertPasswordSize(password)
  const record = await findRecordById(db, citizenId)
  if (record === undefined) throw new AccountError('account_not_found')
  const verdict = checkPassword(password, {
    nik: record.nik,
    name: record.name,
    birthDate: record.birth_date,
    email: record.email ?? undefined,
    phone: record.phone ?? undefined,
    regencyName: context.regencyName,
  })
  if (!verdict.ok) throw new AccountError('password_weak', { reason: verdict.reason })
  const hash = await (context.passwords ?? argon2Hasher).hashPassword(password)
  const now = context.now ?? new Date()
  await db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('citizens')
      .set({ password_hash: hash, password_changed_at: now, updated_at: now })
      .where('id', '=', citizenId)
      .executeTakeFirst()
    if (updated.numUpdatedRows === 0n) throw new AccountError('account_not_found')
    await recordSignInSuccess(trx, { account: accountKey(citizenId) })
    // Whoever ran up the second-factor counter knew the old password; with a new one they
    // are back at the first step, and the owner's codes must work again.
    await recordSuccess(trx, { account: secondFactorThrottleKeys(citizenId, undefined).account })
    await recordAudit(trx, {
      event: 'account.password_changed',
      actor: context.actor ?? `citizen:${citizenId}`,
      subjectId: citizenId,
      ip: context.ip,
      requestId: context.requestId,
    })
    await queueNotice(
      trx,
      { citizenId, kind: context.notice ?? 'password_changed', data: { at: now } },
      context.noticeOptions,
    )
  })
}

async function markVerified(
  db: Kysely<Database>,
  citizenId: string,
  kind: 'email' | 'phone',
  value: string,
  context: RequestContext,
): Promise<boolean> {
  if (!UUID.test(citizenId)) return false
  const normalized = kind === 'email' ? normalizeEmail(value) : normalizePhone(value)
  if (normalized === undefined) return false
  try {
    return await markVerifiedOnce(db, citizenId, kind, normalized, context)
  } catch (err) {
    // Another account verified this address first: only the address's holder (who had
    // the code) learns it, and the other account keeps it.
    throw takenError(err) ?? err
  }
}

async function markVerifiedOnce(
  db: Kysely<Database>,
  citizenId: string,
  kind: 'email' | 'phone',
  normalized: string,
  context: RequestContext,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    // Only if the address is still the one the code was sent to.
    const query =
      kind === 'email'
        ? trx
            .updateTable('citizens')
            .set({ email_verified: true, updated_at: new Date() })
            .where('email', '=', normalized)
        : trx
            .updateTable('citizens')
            .set({ phone_verified: true, updated_at: new Date() })
            .where('phone', '=', normalized)
    const result = await query.where('id', '=', citizenId).executeTakeFirst()
    if (result.numUpdatedRows === 0n) return false
    await recordAudit(trx, {
      event: kind === 'email' ? 'account.email_verified' : 'account.phone_verified',
      actor: context.actor ?? `citizen:${citizenId}`,
      subjectId: citizenId,
      ip: context.ip,
      requestId: context.requestId,
    })
    return true
  })
}

/** Marks the email verified if it is still `email` (the destination of the verified code). */
export async function markEmailVerified(
  db: Kysely<Database>,
  citizenId: string,
  email: string,
  context: RequestContext = {},
): Promise<boolean> {
  return markVerified(db, citizenId, 'email', email, context)
}

/** Marks the phone verified if it is still `phone` (the destination of the verified code). */
export async function markPhoneVerified(
  db: Kysely<Database>,
  citizenId: string,
  phone: string,
  context: RequestContext = {},
): Promise<boolean> {
  return markVerified(db, citizenId, 'phone', phone, context)
}

/** Disables or re-enables an account; true when the status changed. */
export async function setCitizenStatus(
  db: Kysely<Database>,
  citizenId: string,
  status: CitizenStatus,
  context: RequestContext = {},
): Promise<boolean> {
  if (status !== 'active' && status !== 'disabled') throw new Error(`unknown citizen status ${String(status)}`)
  if (!UUID.test(citizenId)) throw new AccountError('account_not_found')
  return db.transaction().execute(async (trx) => {
    const exists = await trx
      .selectFrom('citizens')
      .select('status')
      .where('id', '=', citizenId)
      .forUpdate()
      .executeTakeFirst()
    if (exists === undefined) throw new AccountError('account_not_found')
    if (exists.status === status) return false
    await trx.updateTable('citizens').set({ status, updated_at: new Date() }).where('id', '=', citizenId).execute()
    await recordAudit(trx, {
      event: status === 'disabled' ? 'account.disabled' : 'account.enabled',
      actor: context.actor ?? 'system',
      subjectId: citizenId,
      ip: context.ip,
      requestId: context.requestId,
    })
    return true
  })
}

export interface ProfileChanges {
  readonly name?: string
  /** null removes it (a phone number must then remain). */
  readonly email?: string | null
  readonly phone?: string | null
}

/**
 * Changes the name, email or phone. A changed email or phone is unverified until a code
 * sent to it is entered. NIK, birth date and gender are not changed here: those follow
 * Dukcapil's records, through an officer.
 */
export async function updateProfile(
  db: Kysely<Database>,
  citizenId: string,
  changes: ProfileChanges,
  context: RequestContext & { readonly noticeOptions?: RenderOptions } = {},
): Promise<Citizen> {
  if (!UUID.test(citizenId)) throw new AccountError('account_not_found')
  const name = changes.name === undefined ? undefined : normalizeName(changes.name)
  if (changes.name !== undefined && name === undefined) throw new AccountError('name_invalid')
  const email = changes.email === undefined ? undefined : validEmail(optionalContact(changes.email))
  const phone = changes.phone === undefined ? undefined : validPhone(optionalContact(changes.phone))

  try {
    return await db.transaction().execute(async (trx) => {
      const current = await trx
        .selectFrom('citizens')
        .select(['name', 'email', 'email_verified', 'phone', 'phone_verified'])
        .where('id', '=', citizenId)
        .forUpdate()
        .executeTakeFirst()
      if (current === undefined) throw new AccountError('account_not_found')
      const nextEmail = email === undefined ? current.email : email
      const nextPhone = phone === undefined ? current.phone : phone
      if (nextEmail === null && nextPhone === null) throw new AccountError('contact_required')

      const fields: string[] = []
      const set: {
        name?: string
        email?: string | null
        email_verified?: boolean
        phone?: string | null
        phone_verified?: boolean
        updated_at: Date
      } = { updated_at: new Date() }
      if (name !== undefined && name !== current.name) {
        set.name = name
        fields.push('name')
      }
      if (email !== undefined && email !== current.email) {
        set.email = email
        set.email_verified = false
        fields.push('email')
      }
      if (phone !== undefined && phone !== current.phone) {
        set.phone = phone
        set.phone_verified = false
        fields.push('phone')
      }
      if (fields.length > 0) {
        await trx.updateTable('citizens').set(set).where('id', '=', citizenId).execute()
        // Every contact verified before the change hears of it — the old address and the
        // other verified contact (e-mail and phone) — in this transaction (docs/security.md
        // line 35): whoever took over a session and changed one contact cannot silence the
        // other. The new value only masked: the old address may no longer be the citizen's.
        const at = new Date()
        const verifiedBefore: { channel: 'email' | 'sms'; address: string }[] = []
        if (current.email !== null && current.email_verified)
          verifiedBefore.push({ channel: 'email', address: current.email })
        if (current.phone !== null && current.phone_verified)
          verifiedBefore.push({ channel: 'sms', address: current.phone })
        for (const field of ['email', 'phone'] as const) {
          const value = set[field]
          if (value === undefined || verifiedBefore.length === 0) continue
          // Told even when the changed contact itself was never verified: the other one was.
          const data = { at, field, newContact: value === null ? null : maskContact(value) }
          await queueNotice(
            trx,
            { citizenId, kind: 'contact_changed', data, to: verifiedBefore },
            context.noticeOptions,
          )
        }
        await recordAudit(trx, {
          event: 'account.profile_changed',
          actor: context.actor ?? `citizen:${citizenId}`,
          subjectId: citizenId,
          ip: context.ip,
          requestId: context.requestId,
          data: { fields },
        })
      }
      const updated = await findRecordById(trx, citizenId)
      if (updated === undefined) throw new AccountError('account_not_found')
      return toCitizen(updated)
    })
  } catch (err) {
    throw takenError(err) ?? err
  }
}
