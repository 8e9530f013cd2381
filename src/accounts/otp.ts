// One-time codes to verify an email address or a phone number and to reset a password.
//
// The rules, after NIST SP 800-63B-4 sec. 3.1.3 (out-of-band authenticators) and OWASP's
// Forgot Password cheat sheet:
//   * 6 digits from crypto.randomInt (a CSPRNG, uniform: no modulo bias);
//   * stored only as HMAC-SHA256 over the code's own id, its purpose and the code, so a
//     row can neither be read back as a code nor reused for another row or purpose (with
//     a server secret as the HMAC key, a copy of the database alone does not even allow
//     the 10^6 guesses offline);
//   * valid at most 10 minutes, at most 5 guesses, then dead; used once;
//   * a new verification code retires every earlier live code for the same citizen and
//     purpose (the unique index one_time_codes_live makes "at most one live code" a
//     database fact); a reset code is bound to the flow that asked for it instead, and a
//     stranger's request never retires the owner's;
//   * issuing is limited (a short wait between codes, at most 5 an hour per citizen and
//     purpose), which also bounds the SMS bill an attacker can run up. For reset codes,
//     which anyone may ask for, the wait is per flow and per asking address, and the 5 an
//     hour per citizen and address, under a per-citizen ceiling (20 an hour): a stranger
//     cannot use up the owner's allowance from elsewhere;
//   * compared in constant time (crypto.timingSafeEqual).

import { createHmac, randomInt, randomUUID, timingSafeEqual } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import { recordAudit, type AuditActor } from '../audit/audit.ts'
import type { Database } from '../db/database.ts'
import type { OneTimeCodePurpose } from '../db/tables/one-time-codes.ts'
import type { OutboxChannel } from '../db/tables/outbox.ts'
import { AccountError } from './errors.ts'
import { normalizeEmail, normalizePhone } from './identifiers.ts'
import { databaseOutbox, type Outbox, type OutboxLogger } from './outbox.ts'
import { sourceKey } from './throttle.ts'

export type { OneTimeCodePurpose } from '../db/tables/one-time-codes.ts'

export const OTP_DIGITS = 6

export interface OtpPolicy {
  /** How long a code is valid (≤ 10 minutes). */
  readonly lifetimeSeconds: number
  /** Wrong guesses after which a code is dead (≤ 5). */
  readonly maxAttempts: number
  /** Codes per citizen and purpose in any hour. */
  readonly maxPerHour: number
  /** Shortest time between two codes for the same citizen and purpose. */
  readonly resendAfterSeconds: number
  /**
   * Reset codes of one citizen in any hour from all addresses together. `maxPerHour`
   * then counts per citizen and address, `resendAfterSeconds` per flow and per address.
   */
  readonly maxResetsPerCitizenPerHour: number
}

export const defaultOtpPolicy: OtpPolicy = Object.freeze({
  lifetimeSeconds: 10 * 60,
  maxAttempts: 5,
  maxPerHour: 5,
  resendAfterSeconds: 60,
  maxResetsPerCitizenPerHour: 20,
})

export interface OtpOptions {
  readonly policy?: OtpPolicy
  readonly now?: Date
  /** HMAC key for stored codes (a server secret, kept outside the database). */
  readonly secret?: string | Buffer
  /**
   * Makes the Outbox for the transaction that stores the code; by default a row in the
   * `outbox` table in that same transaction.
   */
  readonly outbox?: (trx: Kysely<Database>) => Outbox
  readonly logger?: OutboxLogger
  /** Who asked, for the audit trail (default: the citizen for verification, `anonymous` for a reset). */
  readonly actor?: AuditActor
  readonly ip?: string
  readonly requestId?: string
  /** The language of the message (the page the citizen asked from). */
  readonly locale?: OtpLocale
  /** Reset codes: a refused request still does (and undoes) the work of a sent one. */
  readonly equalWork?: boolean
}

export interface IssueOtpInput {
  readonly citizenId: string
  readonly purpose: OneTimeCodePurpose
  readonly channel: OutboxChannel
  /** Email address (channel email) or mobile number (channel sms); normalised here. */
  readonly destination: string
  /**
   * Reset codes: the code id the asking flow holds already (its cookie), when it has one.
   * A code asked for again from that flow belongs to the same flow.
   */
  readonly flowToken?: string | undefined
  /**
   * Reset codes: the asking browser is a known device of this citizen (its device cookie
   * names a row of known_devices). It has an allowance of its own, outside the per-citizen
   * ceiling that strangers can fill, so the owner's own phone always gets a code.
   */
  readonly knownDevice?: string | undefined
}

export type IssueOtpResult =
  | { readonly ok: true; readonly codeId: string; readonly expiresAt: Date; readonly destination: string }
  | { readonly ok: false; readonly reason: 'rate_limited'; readonly retryAfterSeconds: number }

export type VerifyOtpResult =
  | { readonly ok: true; readonly codeId: string; readonly destination: string }
  | { readonly ok: false; readonly reason: 'invalid_code'; readonly attemptsLeft: number }
  | { readonly ok: false; readonly reason: 'expired' | 'too_many_attempts' | 'no_active_code' }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function validateOtpPolicy(policy: OtpPolicy): OtpPolicy {
  const checks: Array<[string, number, number]> = [
    ['lifetimeSeconds', policy.lifetimeSeconds, 600],
    ['maxAttempts', policy.maxAttempts, 5],
    ['maxPerHour', policy.maxPerHour, 100],
    ['resendAfterSeconds', policy.resendAfterSeconds, 3600],
    ['maxResetsPerCitizenPerHour', policy.maxResetsPerCitizenPerHour, 1000],
  ]
  for (const [key, value, max] of checks) {
    if (!Number.isInteger(value) || value < (key === 'resendAfterSeconds' ? 0 : 1) || value > max) {
      throw new Error(`otp policy: ${key} must be an integer of at most ${max}`)
    }
  }
  return policy
}

/** The stored form of a code: hex HMAC-SHA256 over id, purpose and code. */
export function hashOtp(
  codeId: string,
  purpose: OneTimeCodePurpose,
  code: string,
  secret: string | Buffer = '',
): string {
  return createHmac('sha256', secret).update(`${codeId}:${purpose}:${code}`).digest('hex')
}

export type OtpLocale = 'id' | 'en'

export interface OtpMessage {
  readonly subject: string
  /** The e-mail's text part. */
  readonly body: string
  /** The e-mail's HTML part. */
  readonly html: string
  /** The SMS: short, the code first. */
  readonly sms: string
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  )
}

/** The message for a code, in Bahasa Indonesia (or English when the citizen reads English). */
export function otpMessage(
  purpose: OneTimeCodePurpose,
  code: string,
  lifetimeSeconds: number,
  locale: OtpLocale = 'id',
): OtpMessage {
  const minutes = Math.max(1, Math.floor(lifetimeSeconds / 60))
  const id = locale === 'id'
  const warning = id
    ? 'Jangan berikan kode ini kepada siapa pun, termasuk petugas.'
    : 'Do not give this code to anyone, not even to staff.'
  const reset = purpose === 'reset_password'
  const subject = reset
    ? id
      ? 'Kode atur ulang kata sandi Satu Pintu'
      : 'Satu Pintu password reset code'
    : id
      ? 'Kode verifikasi Satu Pintu'
      : 'Satu Pintu verification code'
  const lead = reset
    ? id
      ? 'Kode untuk mengatur ulang kata sandi Satu Pintu Anda:'
      : 'The code to reset your Satu Pintu password:'
    : id
      ? 'Kode verifikasi Satu Pintu Anda:'
      : 'Your Satu Pintu verification code:'
  const valid = id ? `Berlaku ${minutes} menit.` : `Valid for ${minutes} minutes.`
  const ignore = reset
    ? id
      ? 'Bila Anda tidak memintanya, abaikan pesan ini.'
      : 'If you did not ask for it, ignore this message.'
    : ''
  const body = `${lead} ${code}. ${valid} ${warning}${ignore ? ` ${ignore}` : ''}`
  const sms = reset
    ? id
      ? `${code} adalah kode atur ulang kata sandi Satu Pintu. Berlaku ${minutes} menit. Jangan berikan kepada siapa pun.`
      : `${code} is your Satu Pintu password reset code. Valid ${minutes} min. Do not share it.`
    : id
      ? `${code} adalah kode verifikasi Satu Pintu. Berlaku ${minutes} menit. Jangan berikan kepada siapa pun.`
      : `${code} is your Satu Pintu verification code. Valid ${minutes} min. Do not share it.`
  const html = [
    `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(subject)}</title></head>`,
    '<body style="margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#1b1b1b;background:#ffffff"><div style="max-width:36em">',
    `<h1 style="font-size:20px;margin:0 0 1em">${escapeHtml(subject)}</h1>`,
    `<p style="margin:0 0 .5em">${escapeHtml(lead)}</p>`,
    `<p style="margin:0 0 1em;font-size:32px;font-weight:bold;letter-spacing:.2em;font-family:monospace">${escapeHtml(code)}</p>`,
    `<p style="margin:0 0 1em">${escapeHtml(valid)} <strong>${escapeHtml(warning)}</strong></p>`,
    ignore ? `<p style="margin:0 0 1em">${escapeHtml(ignore)}</p>` : '',
    `<p style="margin:2em 0 0;font-size:13px;color:#555">${escapeHtml(id ? 'Pesan ini dikirim otomatis oleh Satu Pintu. Jangan membalas.' : 'This message was sent automatically by Satu Pintu. Do not reply.')}</p>`,
    '</div></body></html>',
  ].join('')
  return { subject, body, html, sms }
}

function normalizeDestination(purpose: OneTimeCodePurpose, channel: OutboxChannel, destination: string): string {
  if ((purpose === 'verify_email' && channel !== 'email') || (purpose === 'verify_phone' && channel !== 'sms')) {
    throw new Error(`otp: purpose ${purpose} cannot be sent by ${channel}`)
  }
  if (channel === 'email') {
    const email = normalizeEmail(destination)
    if (email === undefined) throw new AccountError('email_invalid')
    return email
  }
  const phone = normalizePhone(destination)
  if (phone === undefined) throw new AccountError('phone_invalid')
  return phone
}

/**
 * Makes a code, stores its hash, retires earlier codes and queues the message, all in one
 * transaction. The code itself leaves this function only inside the message.
 */
export async function issueOtp(
  db: Kysely<Database>,
  input: IssueOtpInput,
  options: OtpOptions = {},
): Promise<IssueOtpResult> {
  const policy = options.policy ?? defaultOtpPolicy
  const now = options.now ?? new Date()
  if (!UUID.test(input.citizenId)) throw new AccountError('account_not_found')
  const destination = normalizeDestination(input.purpose, input.channel, input.destination)

  return db
    .transaction()
    .execute(async (trx): Promise<IssueOtpResult> => {
      // Serialises issuing per citizen, so that two requests at once cannot both pass the
      // rate limit or both leave a live code.
      const citizen = await trx
        .selectFrom('citizens')
        .select('id')
        .where('id', '=', input.citizenId)
        .forUpdate()
        .executeTakeFirst()
      if (citizen === undefined) throw new AccountError('account_not_found')

      const hourAgo = new Date(now.getTime() - 3600 * 1000)
      const recent = await trx
        .selectFrom('one_time_codes')
        .select(['id', 'created_at', 'source', 'flow_id'])
        .where('citizen_id', '=', input.citizenId)
        .where('purpose', '=', input.purpose)
        .where('created_at', '>', hourAgo)
        .orderBy('created_at', 'asc')
        .execute()
      const reset = input.purpose === 'reset_password'
      const source =
        reset && input.knownDevice !== undefined ? `device:${input.knownDevice}` : resetSourceKey(options.ip)
      const flow = reset ? recent.find((r) => r.id === input.flowToken) : undefined
      const flowId = flow !== undefined ? (flow.flow_id ?? flow.id) : undefined
      const limited = issuingLimit(recent, policy, now, reset ? { source, flowId } : undefined)
      // A refused reset does the work of a sent one and undoes it (equalWork): a known
      // identifier asked again too soon must cost what an unknown one does (issueDecoyOtp).
      if (limited !== undefined && !(reset && options.equalWork === true))
        return { ok: false, reason: 'rate_limited', retryAfterSeconds: limited }

      // A verification code retires the earlier ones. A reset code does not: anyone may ask
      // for a reset of any NIK, and a stranger's request must leave the owner's pending
      // code alone; each reset code is entered only from the flow that asked for it
      // (verifyOtp's codeId). The statement runs either way, so both cost the same.
      let retire = trx
        .updateTable('one_time_codes')
        .set({ consumed_at: now })
        .where('citizen_id', '=', input.citizenId)
        .where('purpose', '=', input.purpose)
        .where('consumed_at', 'is', null)
      if (input.purpose === 'reset_password') retire = retire.where(sql<boolean>`false`)
      await retire.execute()

      const id = randomUUID()
      const code = randomInt(0, 10 ** OTP_DIGITS)
        .toString()
        .padStart(OTP_DIGITS, '0')
      const expiresAt = new Date(now.getTime() + policy.lifetimeSeconds * 1000)
      await trx
        .insertInto('one_time_codes')
        .values({
          id,
          purpose: input.purpose,
          citizen_id: input.citizenId,
          destination,
          code_hash: hashOtp(id, input.purpose, code, options.secret),
          expires_at: expiresAt,
          created_at: now,
          source,
          flow_id: reset ? (flowId ?? id) : null,
        })
        .execute()

      const locale = options.locale ?? 'id'
      const message = otpMessage(input.purpose, code, policy.lifetimeSeconds, locale)
      const outbox = options.outbox?.(trx) ?? databaseOutbox(trx, options.logger)
      await outbox.send({
        channel: input.channel,
        recipient: destination,
        kind: 'code',
        locale,
        citizenId: input.citizenId,
        // Not delivered once the code is dead: a late code only confuses.
        expiresAt,
        params: { code, minutes: Math.max(1, Math.floor(policy.lifetimeSeconds / 60)) },
        ...(input.channel === 'email'
          ? { subject: message.subject, body: message.body, html: message.html }
          : { body: message.sms }),
      })

      await recordAudit(trx, {
        event: 'otp.sent',
        actor: options.actor ?? (input.purpose === 'reset_password' ? 'anonymous' : `citizen:${input.citizenId}`),
        subjectId: input.citizenId,
        ip: options.ip,
        requestId: options.requestId,
        data: { purpose: input.purpose, channel: input.channel },
      })
      if (limited !== undefined) throw new LimitedRollback(limited)
      return { ok: true as const, codeId: id, expiresAt, destination }
    })
    .catch((err: unknown): IssueOtpResult => {
      if (err instanceof LimitedRollback)
        return { ok: false, reason: 'rate_limited', retryAfterSeconds: err.retryAfterSeconds }
      throw err
    })
}

/** Thrown inside issueOtp's transaction to undo the work of a refused reset code. */
class LimitedRollback extends Error {
  readonly retryAfterSeconds: number
  constructor(retryAfterSeconds: number) {
    super('rate limited')
    this.retryAfterSeconds = retryAfterSeconds
  }
}

/**
 * The address key that the limits of reset codes count by: an IPv4 address, or an IPv6
 * /56 (a home or office is often given a /56 or a /48; a /64 each would let one household
 * ask as 256 addresses). `device:…` keys of known devices stand apart.
 */
export function resetSourceKey(ip: string | undefined): string {
  const key = sourceKey(ip)
  if (key === undefined) return 'ip:unknown'
  const m = /^ip:([0-9a-f]+):([0-9a-f]+):([0-9a-f]+):([0-9a-f]+)::\/64$/.exec(key)
  if (m === null) return key
  const fourth = parseInt(m[4] as string, 16) & 0xff00
  return `ip:${m[1]}:${m[2]}:${m[3]}:${fourth.toString(16)}::/56`
}

/**
 * Seconds to wait before another code may be issued, or undefined when one may be now.
 * Verification codes (asked for by the citizen's own flow): one wait and one hourly cap
 * per citizen and purpose. Reset codes (`asker` given): the wait per flow and per
 * address, the hourly cap per address, and a per-citizen ceiling over all addresses.
 */
function issuingLimit(
  recent: readonly { id: string; created_at: Date; source: string | null; flow_id: string | null }[],
  policy: OtpPolicy,
  now: Date,
  asker: { source: string; flowId: string | undefined } | undefined,
): number | undefined {
  const waitAfter = (rows: readonly { created_at: Date }[]) => {
    const newest = rows[rows.length - 1]
    const until = newest === undefined ? 0 : newest.created_at.getTime() + policy.resendAfterSeconds * 1000
    return until > now.getTime() ? secondsUntil(until, now) : undefined
  }
  const capOf = (rows: readonly { created_at: Date }[], cap: number) => {
    const oldest = rows[0]
    return rows.length >= cap && oldest !== undefined
      ? secondsUntil(oldest.created_at.getTime() + 3600 * 1000, now)
      : undefined
  }
  if (asker === undefined) return waitAfter(recent) ?? capOf(recent, policy.maxPerHour)
  const fromSource = recent.filter((r) => r.source === asker.source)
  const inFlow = asker.flowId === undefined ? [] : recent.filter((r) => (r.flow_id ?? r.id) === asker.flowId)
  // The ceiling counts what addresses asked for; the owner's known devices are outside it.
  const ceiling = asker.source.startsWith('device:')
    ? undefined
    : capOf(
        recent.filter((r) => !(r.source ?? '').startsWith('device:')),
        policy.maxResetsPerCitizenPerHour,
      )
  const waits = [waitAfter(inFlow), waitAfter(fromSource), capOf(fromSource, policy.maxPerHour), ceiling]
  const due = waits.filter((w): w is number => w !== undefined)
  return due.length === 0 ? undefined : Math.max(...due)
}

/** Thrown inside issueDecoyOtp's transaction to undo it. */
class DecoyRollback extends Error {}

/**
 * The work of issueOtp for nobody, undone at the end: when a password reset is asked for
 * an identifier with no account (or no verified contact), the request does what a real
 * one does — the same transaction, the same statements, a message rendered and queued,
 * an audit row — and then rolls it all back, so that its time tells nothing about whether
 * the account exists (docs/security.md lines 10 and 37). Nothing is stored or sent.
 */
export async function issueDecoyOtp(
  db: Kysely<Database>,
  input: { readonly purpose: OneTimeCodePurpose; readonly channel: OutboxChannel },
  options: OtpOptions = {},
): Promise<void> {
  const policy = options.policy ?? defaultOtpPolicy
  const now = options.now ?? new Date()
  const nobody = randomUUID()
  const destination = input.channel === 'email' ? 'tidak-ada@satupintu.invalid' : '+620000000000'
  try {
    await db.transaction().execute(async (trx) => {
      await trx.selectFrom('citizens').select('id').where('id', '=', nobody).forUpdate().executeTakeFirst()
      await trx
        .selectFrom('one_time_codes')
        .select(['id', 'created_at', 'source', 'flow_id'])
        .where('citizen_id', '=', nobody)
        .where('purpose', '=', input.purpose)
        .where('created_at', '>', new Date(now.getTime() - 3600 * 1000))
        .orderBy('created_at', 'asc')
        .execute()
      await trx
        .updateTable('one_time_codes')
        .set({ consumed_at: now })
        .where('citizen_id', '=', nobody)
        .where('purpose', '=', input.purpose)
        .where('consumed_at', 'is', null)
        .execute()
      const id = randomUUID()
      const code = randomInt(0, 10 ** OTP_DIGITS)
        .toString()
        .padStart(OTP_DIGITS, '0')
      const expiresAt = new Date(now.getTime() + policy.lifetimeSeconds * 1000)
      // Where the real one inserts its code row: the same insert, of no row (there is no citizen).
      await trx
        .insertInto('one_time_codes')
        .columns([
          'id',
          'purpose',
          'citizen_id',
          'destination',
          'code_hash',
          'expires_at',
          'created_at',
          'source',
          'flow_id',
        ])
        .expression(
          trx
            .selectFrom('citizens')
            .select((eb) => [
              eb.val(id).as('id'),
              eb.val(input.purpose).as('purpose'),
              'citizens.id as citizen_id',
              eb.val(destination).as('destination'),
              eb.val(hashOtp(id, input.purpose, code, options.secret)).as('code_hash'),
              eb.val(expiresAt).as('expires_at'),
              eb.val(now).as('created_at'),
              eb.val(resetSourceKey(options.ip)).as('source'),
              eb.val(id).as('flow_id'),
            ])
            .where('citizens.id', '=', nobody),
        )
        .execute()
      const locale = options.locale ?? 'id'
      const message = otpMessage(input.purpose, code, policy.lifetimeSeconds, locale)
      const outbox = options.outbox?.(trx) ?? databaseOutbox(trx)
      await outbox.send({
        channel: input.channel,
        recipient: destination,
        kind: 'code',
        locale,
        expiresAt,
        params: { code, minutes: Math.max(1, Math.floor(policy.lifetimeSeconds / 60)) },
        ...(input.channel === 'email'
          ? { subject: message.subject, body: message.body, html: message.html }
          : { body: message.sms }),
      })
      await recordAudit(trx, {
        event: 'otp.sent',
        actor: options.actor ?? 'anonymous',
        ip: options.ip,
        requestId: options.requestId,
        data: { purpose: input.purpose, channel: input.channel },
      })
      throw new DecoyRollback()
    })
  } catch (err) {
    if (!(err instanceof DecoyRollback)) throw err
  }
}

/**
 * Checks a code against the citizen's live code for `purpose`. Every check, right or
 * wrong, uses one of the code's attempts; a right code is used up. The caller acts on
 * `destination` (mark that address verified, or allow the password to be set).
 */
export async function verifyOtp(
  db: Kysely<Database>,
  input: {
    readonly citizenId: string
    readonly purpose: OneTimeCodePurpose
    readonly code: string
    /** Only this code (the one the flow's cookie names): another flow's code is never touched. */
    readonly codeId?: string | undefined
  },
  options: OtpOptions = {},
): Promise<VerifyOtpResult> {
  const policy = options.policy ?? defaultOtpPolicy
  const now = options.now ?? new Date()
  if (!UUID.test(input.citizenId)) return { ok: false, reason: 'no_active_code' }
  if (input.codeId !== undefined && !UUID.test(input.codeId)) return { ok: false, reason: 'no_active_code' }

  return db.transaction().execute(async (trx): Promise<VerifyOtpResult> => {
    // The row lock makes concurrent checks of one code take turns, so that the attempt
    // limit holds and a right code is used once.
    const row = await trx
      .selectFrom('one_time_codes')
      .select(['id', 'destination', 'code_hash', 'attempts', 'expires_at'])
      .where('citizen_id', '=', input.citizenId)
      .where('purpose', '=', input.purpose)
      .where('consumed_at', 'is', null)
      .$if(input.codeId !== undefined, (q) => q.where('id', '=', input.codeId as string))
      .forUpdate()
      .executeTakeFirst()
    if (row === undefined) return { ok: false, reason: 'no_active_code' }
    if (row.expires_at.getTime() <= now.getTime()) return { ok: false, reason: 'expired' }
    if (row.attempts >= policy.maxAttempts) return { ok: false, reason: 'too_many_attempts' }

    const attempts = row.attempts + 1
    await trx.updateTable('one_time_codes').set({ attempts }).where('id', '=', row.id).execute()

    const candidate = normalizeCode(input.code)
    const matches =
      candidate !== undefined && safeEqualHex(row.code_hash, hashOtp(row.id, input.purpose, candidate, options.secret))
    const actor: AuditActor =
      options.actor ?? (input.purpose === 'reset_password' ? 'anonymous' : `citizen:${input.citizenId}`)
    if (!matches) {
      await recordAudit(trx, {
        event: 'otp.failed',
        actor,
        subjectId: input.citizenId,
        ip: options.ip,
        requestId: options.requestId,
        data: { purpose: input.purpose, attempt: attempts },
      })
      return { ok: false, reason: 'invalid_code', attemptsLeft: Math.max(0, policy.maxAttempts - attempts) }
    }
    await trx.updateTable('one_time_codes').set({ consumed_at: now }).where('id', '=', row.id).execute()
    await recordAudit(trx, {
      event: 'otp.verified',
      actor,
      subjectId: input.citizenId,
      ip: options.ip,
      requestId: options.requestId,
      data: { purpose: input.purpose },
    })
    return { ok: true, codeId: row.id, destination: row.destination }
  })
}

/** Digits only, after NFKC and without the spaces people type ("123 456"). */
function normalizeCode(input: string): string | undefined {
  if (typeof input !== 'string' || input.length > 32) return undefined
  const code = input.normalize('NFKC').replace(/[\s-]/g, '')
  return new RegExp(`^[0-9]{${OTP_DIGITS}}$`).test(code) ? code : undefined
}

function safeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex')
  const y = Buffer.from(b, 'hex')
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y)
}

function secondsUntil(whenMs: number, now: Date): number {
  return Math.max(1, Math.ceil((whenMs - now.getTime()) / 1000))
}

/**
 * One-time codes older than `maxAgeSeconds` (2 days: every flow that names a code lasts a
 * day at most, and the hourly limits look back an hour); the count removed. What happened
 * stays in the audit trail.
 */
export async function pruneOneTimeCodes(
  db: Kysely<Database>,
  maxAgeSeconds = 2 * 24 * 3600,
  now = new Date(),
): Promise<number> {
  const result = await db
    .deleteFrom('one_time_codes')
    .where('created_at', '<', new Date(now.getTime() - maxAgeSeconds * 1000))
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
