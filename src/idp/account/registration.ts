import type { SecondFactorKeys } from '../../accounts/second-factors.ts'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import type { OidcPort } from '../oidc/port.ts'
import type { Config } from '../../config/schema.ts'
import { AppError } from '../../errors/app-error.ts'
import type { Database } from '../../db/database.ts'
import {
  createCitizen,
  findCitizenById,
  markEmailVerified,
  markPhoneVerified,
  registrationProblems,
} from '../../accounts/citizens.ts'
import { isAccountError, type AccountError } from '../../accounts/errors.ts'
import { maskContact, normalizeEmail, normalizePhone } from '../../accounts/identifiers.ts'
import { defaultOtpPolicy, issueOtp, verifyOtp, type OneTimeCodePurpose } from '../../accounts/otp.ts'
import { takeSourceAllowance } from '../../accounts/throttle.ts'
import type { OutboxMessage } from '../../accounts/outbox.ts'
import {
  checkDecoyCode,
  findDecoy,
  resendDecoy,
  startDecoy,
  type DecoyRow,
} from '../../accounts/registration-decoys.ts'
import { errorCodes } from '../../errors/codes.ts'
import { translator, type Translate } from '../../http/i18n.ts'
import { pickLocale } from '../../http/locale.ts'
import { accountMessages, type AccountMessages } from './messages.ts'
import { safeReturnPath } from './session.ts'
import { hostCookieName, idpIsSecure } from '../cookie-names.ts'

// ---------------------------------------------------------------------------------------
// Form helpers shared by the registration, password-reset and account pages. They live
// here, in the first of the three, so that the other two can import them without a cycle
// (account.ts registers this file's routes).

/** What the citizen's own pages need; src/idp/app.ts passes it to accountRoutes. */
export interface AccountPagesDeps {
  config: Config
  db: Kysely<Database>
  /** The OIDC layer: the browser's session, back-channel logout, cookie keys. */
  oidc: OidcPort
  /**
   * Server key of the one-time codes' HMAC, so that a copy of the database alone
   * cannot be used to find live codes (derived from the key-encryption secret).
   */
  otpSecret: Buffer
  /** Sealing of TOTP secrets and the recovery codes' key (src/accounts/second-factors.ts). */
  secondFactors: SecondFactorKeys
}

/** No control characters (NUL included) in what a person types into a one-line field. */
export const oneLine = '^[^\\u0000-\\u001f\\u007f]*$'
/** A password may hold anything printable and spaces, never NUL (docs/security.md line 11). */
export const noNul = '^[^\\u0000]*$'
/** Never `required` in a schema: a missing token must be the CSRF check's 403, not a 400. */
export const csrfField = { type: 'string', maxLength: 200 } as const
/** A return path (`kembali`): checked again with safeReturnPath before any use. */
export const returnField = { type: 'string', maxLength: 512, pattern: oneLine } as const
export const passwordField = { type: 'string', maxLength: 1024, pattern: noNul } as const
export const codeField = { type: 'string', maxLength: 32, pattern: oneLine } as const

export type AccountText = Translate<AccountMessages>

/** The account pages' messages in the request's language (for texts built in a handler). */
export function accountText(req: FastifyRequest): AccountText {
  return translator(accountMessages, pickLocale(req))
}

/** An AccountError's own plain-language message, in the request's language. */
export function accountErrorText(req: FastifyRequest, err: AccountError): string {
  return err.messages[pickLocale(req)]
}

/** The status a refused form is re-rendered with: 400, 409 for "already registered", 413. */
export function accountErrorStatus(err: AccountError): number {
  return errorCodes[err.appCode].status
}

/**
 * Names of the fields whose value failed the route's JSON schema (too long, a control
 * character, a repeated field). Routes use `attachValidation` so that a bad field gives
 * the same form back with a message next to it, instead of a bare 400 page.
 */
export function invalidFields(req: FastifyRequest): Set<string> {
  const out = new Set<string>()
  const list: unknown = req.validationError?.validation
  if (!Array.isArray(list)) return out
  for (const item of list as { instancePath?: unknown; params?: Record<string, unknown> }[]) {
    const path = typeof item.instancePath === 'string' ? item.instancePath.replace(/^\//, '').split('/')[0] : ''
    const missing = item.params?.missingProperty
    const name = path !== '' && path !== undefined ? path : typeof missing === 'string' ? missing : ''
    if (name !== '') out.add(name)
  }
  return out
}

/** The string value of each named form field; '' for a missing or schema-refused one. */
export function formValues<K extends string>(
  req: FastifyRequest,
  names: readonly K[],
  invalid: ReadonlySet<string>,
): Record<K, string> {
  const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>
  const out = {} as Record<K, string>
  for (const name of names) {
    const v = body[name]
    out[name] = typeof v === 'string' && !invalid.has(name) ? v : ''
  }
  return out
}

/** Field errors in form order, as links for the error summary at the top of the page. */
export function errorSummary(
  errors: Readonly<Record<string, string>>,
  anchors: readonly (readonly [string, string])[],
): { text: string; href: string }[] {
  const items: { text: string; href: string }[] = []
  for (const [field, anchor] of anchors) {
    const text = errors[field]
    if (text !== undefined) items.push({ text, href: `#${anchor}` })
  }
  return items
}

/**
 * A short-lived, HttpOnly cookie for one step of a flow (its value is an opaque random id).
 * Over https it is a `__Host-` cookie (cookie-names.ts), which must have Path=/; over
 * plain http it stays scoped to its flow's path.
 */
export function flowCookieOptions(config: Config, path: string, maxAgeSeconds: number) {
  return {
    path: idpIsSecure(config) ? '/' : path,
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: config.idp.issuer.startsWith('https://'),
    maxAge: maxAgeSeconds,
  }
}

/** What clears a flow cookie set with flowCookieOptions. */
export function flowCookieClearOptions(config: Config, path: string) {
  return { path: idpIsSecure(config) ? '/' : path }
}

export function withReturn(path: string, kembali: string): string {
  return kembali === '/akun' ? path : `${path}?kembali=${encodeURIComponent(kembali)}`
}

export function minutesFrom(seconds: number): number {
  return Math.max(1, Math.ceil(seconds / 60))
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A one-time code's row by its id (the opaque handle a flow keeps in its cookie). */
export async function findCodeRow(
  db: Kysely<Database>,
  id: unknown,
  purposes: readonly OneTimeCodePurpose[],
  maxAgeSeconds: number,
): Promise<
  | {
      id: string
      citizen_id: string
      purpose: OneTimeCodePurpose
      destination: string
      consumed_at: Date | null
      created_at: Date
    }
  | undefined
> {
  if (typeof id !== 'string' || !UUID.test(id)) return undefined
  return db
    .selectFrom('one_time_codes')
    .select(['id', 'citizen_id', 'purpose', 'destination', 'consumed_at', 'created_at'])
    .where('id', '=', id)
    .where('purpose', 'in', [...purposes])
    .where('created_at', '>', new Date(Date.now() - maxAgeSeconds * 1000))
    .executeTakeFirst()
}

/** The message for a failed code check, by verifyOtp's reason. */
export function codeFailureText(t: AccountText, result: { reason: string; attemptsLeft?: number }): string {
  if (result.reason === 'invalid_code') {
    return (result.attemptsLeft ?? 0) > 0
      ? t('verify.invalid', { left: result.attemptsLeft ?? 0 })
      : t('verify.tooMany')
  }
  return result.reason === 'too_many_attempts' ? t('verify.tooMany') : t('verify.expired')
}

// ---------------------------------------------------------------------------------------
// Registration: /daftar → /daftar/verifikasi → /daftar/selesai

/**
 * The verification step knows the new citizen by the id of the code row it sent: a random
 * UUID in an HttpOnly cookie scoped to /daftar, never personal data and never in the URL.
 * It is only good for entering the code sent to that citizen's own address, for one day.
 */
const pendingCookieBase = 'sp_daftar'
const pendingMaxAgeSeconds = 24 * 3600
const verifyPurposes = ['verify_email', 'verify_phone'] as const

const registerFields = [
  'nik',
  'name',
  'day',
  'month',
  'year',
  'gender',
  'email',
  'phone',
  'password',
  'password2',
] as const
type RegisterValues = Record<(typeof registerFields)[number], string>

const registerAnchors = [
  ['nik', 'nik'],
  ['name', 'name'],
  ['birthDate', 'birth-day'],
  ['gender', 'gender-female'],
  ['email', 'email'],
  ['phone', 'phone'],
  ['password', 'password'],
  ['password2', 'password2'],
  ['general', 'nik'],
] as const

const registerBody = {
  type: 'object',
  properties: {
    _csrf: csrfField,
    kembali: returnField,
    nik: { type: 'string', maxLength: 64, pattern: oneLine },
    name: { type: 'string', maxLength: 400, pattern: oneLine },
    day: { type: 'string', maxLength: 8, pattern: oneLine },
    month: { type: 'string', maxLength: 8, pattern: oneLine },
    year: { type: 'string', maxLength: 8, pattern: oneLine },
    gender: { type: 'string', maxLength: 16, pattern: oneLine },
    email: { type: 'string', maxLength: 320, pattern: oneLine },
    phone: { type: 'string', maxLength: 64, pattern: oneLine },
    password: passwordField,
    password2: passwordField,
  },
} as const

const returnQuery = {
  type: 'object',
  properties: { kembali: returnField },
} as const

const verifyBody = {
  type: 'object',
  properties: { _csrf: csrfField, kembali: returnField, code: codeField },
} as const

const resendBody = {
  type: 'object',
  properties: { _csrf: csrfField, kembali: returnField },
} as const

const verifyQuery = {
  type: 'object',
  properties: {
    kembali: returnField,
    terkirim: { type: 'string', maxLength: 1, pattern: '^1?$' },
    masuk: { type: 'string', maxLength: 1, pattern: '^1?$' },
  },
} as const

function returnPathOf(req: FastifyRequest): string {
  const q = req.query as { kembali?: unknown } | undefined
  const b = req.body as { kembali?: unknown } | undefined
  return safeReturnPath(b?.kembali ?? q?.kembali)
}

/** Day, month and year as YYYY-MM-DD; digits typed with any keyboard (NFKC) are accepted. */
function birthDateOf(v: RegisterValues): { ok: true; value: string } | { ok: false; reason: 'missing' | 'invalid' } {
  const [day, month, year] = [v.day, v.month, v.year].map((s) => s.normalize('NFKC').trim())
  if (!day || !month || !year) return { ok: false, reason: 'missing' }
  if (
    !/^[0-9]{1,2}$/.test(day as string) ||
    !/^[0-9]{1,2}$/.test(month as string) ||
    !/^[0-9]{4}$/.test(year as string)
  ) {
    return { ok: false, reason: 'invalid' }
  }
  return { ok: true, value: `${year}-${(month as string).padStart(2, '0')}-${(day as string).padStart(2, '0')}` }
}

/**
 * Sends a citizen whose password was right but who has no verified contact (they may not
 * sign in yet, issue 14) to the registration's code step: a new code to the e-mail (else
 * the phone) the account has, and the step's cookie, as right after registering. Returns
 * the code page's path (with `masuk=1`: the page says why), or undefined when no code could
 * be sent now (asked for too often: the caller says to try later).
 */
export async function startContactVerification(
  reply: FastifyReply,
  deps: { config: Config; db: Kysely<Database>; otpSecret: Buffer },
  citizen: { id: string; email: string | null; phone: string | null },
  kembali: string,
  context: { ip: string; requestId: string },
): Promise<string | undefined> {
  const channel = citizen.email !== null ? 'email' : 'sms'
  const destination = channel === 'email' ? citizen.email : citizen.phone
  if (destination === null) return undefined
  const sent = await issueOtp(
    deps.db,
    { citizenId: citizen.id, purpose: channel === 'email' ? 'verify_email' : 'verify_phone', channel, destination },
    { ...context, secret: deps.otpSecret },
  )
  if (!sent.ok) return undefined
  reply.setCookie(
    hostCookieName(deps.config, pendingCookieBase),
    sent.codeId,
    flowCookieOptions(deps.config, '/daftar', pendingMaxAgeSeconds),
  )
  const target = withReturn('/daftar/verifikasi', safeReturnPath(kembali))
  return `${target}${target.includes('?') ? '&' : '?'}masuk=1`
}

export async function registrationRoutes(app: FastifyInstance, deps: AccountPagesDeps): Promise<void> {
  const { config, db } = deps
  const pendingCookie = hostCookieName(config, pendingCookieBase)

  /**
   * A registration that cannot go on (the NIK has an account already) goes on exactly like
   * one that does (docs/security.md line 37; src/accounts/registration-decoys.ts): the same
   * redirect to the code page naming the contact that was typed, a flow cookie of the same
   * shape, wrong codes counted and resends limited the same way. That contact is told, by
   * message, that the NIK has an account and how to recover it; the pages say nothing.
   */
  type Pending =
    | { decoy: false; row: NonNullable<Awaited<ReturnType<typeof findCodeRow>>> }
    | { decoy: true; row: DecoyRow }

  async function pendingRow(req: FastifyRequest): Promise<Pending | undefined> {
    const row = await findCodeRow(db, req.cookies[pendingCookie], verifyPurposes, pendingMaxAgeSeconds)
    if (row) return { decoy: false, row }
    const decoy = await findDecoy(db, req.cookies[pendingCookie], pendingMaxAgeSeconds)
    return decoy === undefined ? undefined : { decoy: true, row: decoy }
  }

  /** The message to the typed contact of a registration for a NIK that has an account. */
  function knownNikMessage(req: FastifyRequest, channel: 'email' | 'sms', destination: string): OutboxMessage {
    const t = accountText(req)
    return {
      channel,
      recipient: destination,
      kind: 'registration_known_nik',
      locale: pickLocale(req),
      ...(channel === 'email'
        ? {
            subject: t('register.knownNik.subject'),
            body: t('register.knownNik.body', { url: `${config.idp.issuer.replace(/\/+$/, '')}/lupa-sandi` }),
          }
        : { body: t('register.knownNik.sms') }),
    }
  }

  function registerPage(
    req: FastifyRequest,
    reply: FastifyReply,
    kembali: string,
    values: Partial<RegisterValues>,
    errors: Record<string, string> = {},
    status = 200,
    nikTaken = false,
  ) {
    return reply.page(
      'register',
      {
        action: withReturn('/daftar', kembali),
        csrf: reply.generateCsrf(),
        values: { ...values, password: '', password2: '' },
        errors,
        errorList: errorSummary(errors, registerAnchors),
        nikTaken,
        forgotHref: withReturn('/lupa-sandi', kembali),
        signInHref: kembali,
      },
      { status },
    )
  }

  function messagePage(reply: FastifyReply, data: Record<string, unknown>, status = 200) {
    return reply.page('message', data, { status })
  }

  function missingPage(req: FastifyRequest, reply: FastifyReply) {
    const t = accountText(req)
    return messagePage(
      reply,
      {
        title: t('verify.missing.title'),
        lead: t('verify.missing.lead'),
        primary: { href: '/akun', text: t('verify.done.continue') },
      },
      400,
    )
  }

  /**
   * How this flow's code went out: the row's purpose, or for a registration of a known NIK
   * (no row) the shape of the contact typed, which is how a new registration chooses too.
   */
  function channelOf(pending: Pending): 'email' | 'sms' {
    if (!pending.decoy) return pending.row.purpose === 'verify_email' ? 'email' : 'sms'
    return normalizeEmail(pending.row.destination) !== undefined ? 'email' : 'sms'
  }

  async function verifyPage(
    req: FastifyRequest,
    reply: FastifyReply,
    pending: Pending,
    kembali: string,
    extra: { error?: string; notice?: string; status?: number } = {},
  ) {
    return reply.page(
      'verify',
      {
        action: withReturn('/daftar/verifikasi', kembali),
        resendAction: withReturn('/daftar/verifikasi/kirim-ulang', kembali),
        csrf: reply.generateCsrf(),
        destination: maskContact(pending.row.destination),
        minutes: minutesFrom(defaultOtpPolicy.lifetimeSeconds),
        error: extra.error ?? '',
        notice: extra.notice ?? '',
        laterNote: true,
        channel: channelOf(pending),
      },
      { status: extra.status ?? 200 },
    )
  }

  /** Is the address a code row was sent to verified on the citizen's account now? */
  async function alreadyVerified(row: {
    citizen_id: string
    purpose: OneTimeCodePurpose
    destination: string
  }): Promise<boolean> {
    const citizen = await findCitizenById(db, row.citizen_id)
    if (!citizen) return false
    return row.purpose === 'verify_email'
      ? citizen.email === row.destination && citizen.emailVerified
      : citizen.phone === row.destination && citizen.phoneVerified
  }

  app.get('/daftar', { schema: { querystring: returnQuery } }, async (req, reply) => {
    return registerPage(req, reply, returnPathOf(req), {})
  })

  app.post(
    '/daftar',
    {
      schema: { body: registerBody, querystring: returnQuery },
      attachValidation: true,
      preHandler: app.csrfProtection,
    },
    async (req, reply) => {
      const t = accountText(req)
      const locale = pickLocale(req)
      const kembali = returnPathOf(req)
      const invalid = invalidFields(req)
      const v = formValues(req, registerFields, invalid)
      const errors: Record<string, string> = {}
      for (const f of invalid) {
        const field = f === 'day' || f === 'month' || f === 'year' ? 'birthDate' : f
        if (field !== '_csrf' && field !== 'kembali') errors[field] = t('forms.invalidInput')
      }
      const keep: Partial<RegisterValues> = { ...v }
      // Registrations cost codes and rows: a per-address allowance (docs/security.md line 9's spirit).
      const allowance = await takeSourceAllowance(db, 'register', req.ip, {
        maxFailures: config.idp.rateLimits.registrationsPerAddressPerHour,
        windowSeconds: 3600,
      })
      if (!allowance.allowed) {
        throw new AppError('too_many_requests', undefined, {
          headers: { 'retry-after': String(allowance.retryAfterSeconds) },
        })
      }

      // Everything that can be checked without the database, so that one submission shows
      // every field that needs fixing: first what is missing, in this form's words, then every
      // problem the account rules find (registrationProblems: the NIK, the birth date and the
      // gender each against the NIK, the name, the contacts' shapes and the password policy
      // with the citizen's own data), one message per field. None of it looks at other
      // accounts, so a registered NIK, e-mail or phone gets the same page as a new one.
      const nik = v.nik.trim()
      if (!errors.nik && nik === '') errors.nik = t('register.nikRequired')
      if (!errors.name && v.name.trim() === '') errors.name = t('register.nameRequired')
      const birth = birthDateOf(v)
      if (!errors.birthDate && !birth.ok && birth.reason === 'missing')
        errors.birthDate = t('register.birthDateRequired')
      const gender = v.gender === 'female' || v.gender === 'male' ? v.gender : undefined
      if (!errors.gender && gender === undefined) errors.gender = t('register.genderRequired')
      const email = v.email.trim()
      const phone = v.phone.trim()
      if (!errors.password && v.password === '') errors.password = t('forms.passwordRequired')
      if (!errors.password2 && !errors.password) {
        if (v.password2 === '') errors.password2 = t('forms.password2Required')
        else if (v.password2 !== v.password) errors.password2 = t('forms.password2Mismatch')
      }
      const input = {
        nik,
        name: v.name,
        birthDate: birth.ok ? birth.value : '',
        gender: v.gender,
        email,
        phone,
        password: v.password,
        regencyName: config.regency.name,
      }
      let status = 400
      for (const problem of registrationProblems(input)) {
        // The contact rule is about both fields; a phone typed wrongly has its own message.
        if (problem.code === 'contact_required' && errors.phone !== undefined) continue
        if (errors[problem.field] !== undefined) continue
        errors[problem.field] = accountErrorText(req, problem)
        if (accountErrorStatus(problem) === 413) status = 413
      }
      if (Object.keys(errors).length > 0 || !birth.ok || gender === undefined) {
        return registerPage(req, reply, kembali, keep, errors, status)
      }

      let citizen: Awaited<ReturnType<typeof createCitizen>>
      try {
        citizen = await createCitizen(
          db,
          { ...input, birthDate: birth.value, gender },
          { ip: req.ip, requestId: req.id },
        )
      } catch (err) {
        if (!isAccountError(err)) throw err
        // The same answer for a registered NIK whatever else was typed: it says that the NIK
        // has an account (unavoidable on a sign-up form; a NIK is not a secret) and nothing
        // about that account.
        if (err.code === 'nik_taken') {
          const channel = normalizeEmail(email) !== undefined ? 'email' : 'sms'
          const destination = (channel === 'email' ? normalizeEmail(email) : normalizePhone(phone)) as string
          const id = await startDecoy(db, destination, knownNikMessage(req, channel, destination), {
            ip: req.ip,
            requestId: req.id,
            logger: req.log,
          })
          reply.setCookie(pendingCookie, id, flowCookieOptions(config, '/daftar', pendingMaxAgeSeconds))
          return reply.redirect(withReturn('/daftar/verifikasi', kembali), 303)
        }
        const field = registerAnchors.some(([f]) => f === err.field) ? err.field : 'general'
        return registerPage(req, reply, kembali, keep, { [field]: accountErrorText(req, err) }, accountErrorStatus(err))
      }

      // The code goes to the email when there is one (cheaper, and it can be read on any
      // device); a phone given as well is verified later from Akun Saya.
      const channel = citizen.email !== null ? 'email' : 'sms'
      const sent = await issueOtp(
        db,
        {
          citizenId: citizen.id,
          purpose: channel === 'email' ? 'verify_email' : 'verify_phone',
          channel,
          destination: (channel === 'email' ? citizen.email : citizen.phone) ?? '',
        },
        { ip: req.ip, requestId: req.id, secret: deps.otpSecret },
      )
      if (sent.ok)
        reply.setCookie(pendingCookie, sent.codeId, flowCookieOptions(config, '/daftar', pendingMaxAgeSeconds))
      return reply.redirect(withReturn('/daftar/verifikasi', kembali), 303)
    },
  )

  app.get('/daftar/verifikasi', { schema: { querystring: verifyQuery } }, async (req, reply) => {
    const kembali = returnPathOf(req)
    const pending = await pendingRow(req)
    if (!pending) return missingPage(req, reply)
    if (pending.decoy) {
      const resent = (req.query as { terkirim?: string }).terkirim === '1'
      return verifyPage(req, reply, pending, kembali, resent ? { notice: accountText(req)('verify.resent') } : {})
    }
    const row = pending.row
    if (row.consumed_at !== null && (await alreadyVerified(row)))
      return reply.redirect(withReturn('/daftar/selesai', kembali), 303)
    const query = req.query as { terkirim?: string; masuk?: string }
    const notice =
      query.terkirim === '1'
        ? accountText(req)('verify.resent')
        : query.masuk === '1'
          ? accountText(req)('verify.beforeSignIn')
          : undefined
    return verifyPage(req, reply, pending, kembali, notice !== undefined ? { notice } : {})
  })

  app.post(
    '/daftar/verifikasi',
    { schema: { body: verifyBody, querystring: returnQuery }, attachValidation: true, preHandler: app.csrfProtection },
    async (req, reply) => {
      const t = accountText(req)
      const kembali = returnPathOf(req)
      const pending = await pendingRow(req)
      if (!pending) return missingPage(req, reply)
      const { code } = formValues(req, ['code'], invalidFields(req))
      if (code.trim() === '')
        return verifyPage(req, reply, pending, kembali, { error: t('forms.codeRequired'), status: 400 })
      // No code was sent in this flow: every code is a wrong one, counted like one.
      if (pending.decoy) {
        const result = await checkDecoyCode(db, pending.row.chain)
        return verifyPage(req, reply, pending, kembali, { error: codeFailureText(t, result), status: 400 })
      }
      const row = pending.row
      const result = await verifyOtp(
        db,
        { citizenId: row.citizen_id, purpose: row.purpose, code },
        { ip: req.ip, requestId: req.id, secret: deps.otpSecret },
      )
      if (!result.ok)
        return verifyPage(req, reply, pending, kembali, { error: codeFailureText(t, result), status: 400 })
      const context = { ip: req.ip, requestId: req.id }
      let marked: boolean
      try {
        marked =
          row.purpose === 'verify_email'
            ? await markEmailVerified(db, row.citizen_id, result.destination, context)
            : await markPhoneVerified(db, row.citizen_id, result.destination, context)
      } catch (err) {
        // Verified on another account first: said only to whoever holds the code.
        if (!isAccountError(err)) throw err
        return verifyPage(req, reply, pending, kembali, {
          error: accountErrorText(req, err),
          status: accountErrorStatus(err),
        })
      }
      // The address changed after the code was sent (from Akun Saya): nothing to mark here.
      if (!marked) return missingPage(req, reply)
      reply.clearCookie(pendingCookie, flowCookieClearOptions(config, '/daftar'))
      // A NIK verified on another account: this account was born without it, and its owner
      // learns it now that they proved the contact (never on the form, to anyone typing a NIK).
      const done = withReturn('/daftar/selesai', kembali)
      const citizen = await findCitizenById(db, row.citizen_id)
      if (citizen?.nikStatus === 'withdrawn')
        return reply.redirect(`${done}${done.includes('?') ? '&' : '?'}nik=lain`, 303)
      return reply.redirect(done, 303)
    },
  )

  app.post(
    '/daftar/verifikasi/kirim-ulang',
    {
      schema: { body: resendBody, querystring: returnQuery },
      attachValidation: true,
      preHandler: app.csrfProtection,
      config: { pageOnGet: (req) => withReturn('/daftar/verifikasi', returnPathOf(req)) },
    },
    async (req, reply) => {
      const t = accountText(req)
      const kembali = returnPathOf(req)
      const pending = await pendingRow(req)
      if (!pending) return missingPage(req, reply)
      if (pending.decoy) {
        const channel = normalizeEmail(pending.row.destination) !== undefined ? 'email' : 'sms'
        const sent = await resendDecoy(db, pending.row, knownNikMessage(req, channel, pending.row.destination), {
          ip: req.ip,
          requestId: req.id,
          logger: req.log,
        })
        if (!sent.ok) {
          reply.header('retry-after', String(sent.retryAfterSeconds))
          return verifyPage(req, reply, pending, kembali, {
            error: t('verify.wait', { minutes: minutesFrom(sent.retryAfterSeconds) }),
            status: 429,
          })
        }
        reply.setCookie(pendingCookie, sent.id, flowCookieOptions(config, '/daftar', pendingMaxAgeSeconds))
        const target = withReturn('/daftar/verifikasi', kembali)
        return reply.redirect(`${target}${target.includes('?') ? '&' : '?'}terkirim=1`, 303)
      }
      const row = pending.row
      if (await alreadyVerified(row)) return reply.redirect(withReturn('/daftar/selesai', kembali), 303)
      const citizen = await findCitizenById(db, row.citizen_id)
      const current = row.purpose === 'verify_email' ? citizen?.email : citizen?.phone
      // Only to the address this flow started with, and only while it is still the account's.
      if (!citizen || current !== row.destination) return missingPage(req, reply)
      const sent = await issueOtp(
        db,
        {
          citizenId: citizen.id,
          purpose: row.purpose,
          channel: row.purpose === 'verify_email' ? 'email' : 'sms',
          destination: row.destination,
        },
        { ip: req.ip, requestId: req.id, secret: deps.otpSecret },
      )
      if (!sent.ok) {
        reply.header('retry-after', String(sent.retryAfterSeconds))
        return verifyPage(req, reply, pending, kembali, {
          error: t('verify.wait', { minutes: minutesFrom(sent.retryAfterSeconds) }),
          status: 429,
        })
      }
      reply.setCookie(pendingCookie, sent.codeId, flowCookieOptions(config, '/daftar', pendingMaxAgeSeconds))
      const target = withReturn('/daftar/verifikasi', kembali)
      return reply.redirect(`${target}${target.includes('?') ? '&' : '?'}terkirim=1`, 303)
    },
  )

  const doneQuery = {
    type: 'object',
    properties: { kembali: returnField, nik: { type: 'string', maxLength: 8, pattern: '^(lain)?$' } },
  } as const

  app.get('/daftar/selesai', { schema: { querystring: doneQuery } }, async (req, reply) => {
    const t = accountText(req)
    const otherAccount = (req.query as { nik?: string }).nik === 'lain'
    return messagePage(reply, {
      kind: 'success',
      title: t('verify.done.title'),
      lead: t('verify.done.lead'),
      // Only wording: the flag says nothing about any account that the citizen did not see.
      ...(otherAccount ? { text: t('verify.done.nikElsewhere') } : {}),
      primary: { href: returnPathOf(req), text: t('verify.done.continue') },
    })
  })
}
