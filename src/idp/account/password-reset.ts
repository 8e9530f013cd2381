import { randomUUID } from 'node:crypto'
import { signerFactory } from '@fastify/cookie'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { findCitizenById, findCitizenByIdentifier, setCitizenPassword, type Citizen } from '../../accounts/citizens.ts'
import { isAccountError } from '../../accounts/errors.ts'
import { noticeOptionsOf } from '../../accounts/notices.ts'
import { hashDeviceId } from '../../accounts/devices.ts'
import { classifyIdentifier, type ClassifiedIdentifier } from '../../accounts/identifiers.ts'
import { defaultOtpPolicy, issueDecoyOtp, issueOtp, verifyOtp, type OtpOptions } from '../../accounts/otp.ts'
import { takeSourceAllowance } from '../../accounts/throttle.ts'
import { AppError } from '../../errors/app-error.ts'
import { checkPassword, passwordErrorMessages } from '../../accounts/password-policy.ts'
import type { Database } from '../../db/database.ts'
import type { OutboxChannel } from '../../db/tables/outbox.ts'
import { pickLocale } from '../../http/locale.ts'
import { safeReturnPath } from './session.ts'
import { hostCookieName } from '../cookie-names.ts'
import { deviceCookieName } from '../sign-in-device.ts'
import { destroyAccountArtifacts } from '../oidc/store.ts'
import {
  accountErrorText,
  accountText,
  codeField,
  csrfField,
  errorSummary,
  findCodeRow,
  flowCookieClearOptions,
  flowCookieOptions,
  formValues,
  invalidFields,
  minutesFrom,
  oneLine,
  passwordField,
  returnField,
  withReturn,
  type AccountPagesDeps,
} from './registration.ts'

/**
 * What a password reset ends: every sign-in session and every token of the account, so
 * that whoever knew the old password is out (OWASP Forgot Password cheat sheet). Consents
 * (grants) stay: they are the citizen's choices, not credentials.
 */
export const credentialArtifacts = ['Session', 'AccessToken', 'RefreshToken', 'AuthorizationCode'] as const

/**
 * The flow's cookie, scoped to /lupa-sandi. Before the code is checked it holds the id of
 * the code row that was sent — or, when no code was sent (no such account, no verified
 * address), a random UUID that looks the same, so that neither the page nor the cookie
 * tells whether an account exists. After a right code whose new password was refused, it
 * holds `ok.<code id>.<expiry>` signed with the provider's cookie keys (the same keys
 * that sign its session cookie, rotated with them), so that the citizen can choose another
 * password without a new code.
 */
const resetCookieBase = 'sp_reset'
const resetPath = '/lupa-sandi'
const codeStepSeconds = 3600
const verifiedStepSeconds = 10 * 60

const identifierBody = {
  type: 'object',
  properties: { _csrf: csrfField, identifier: { type: 'string', maxLength: 320, pattern: oneLine } },
} as const

const codeBody = {
  type: 'object',
  properties: { _csrf: csrfField, code: codeField, password: passwordField, password2: passwordField },
} as const

const returnQuery = { type: 'object', properties: { kembali: returnField } } as const

/**
 * The code page's `lewat` (by which channel): the kind of identifier that was typed, so
 * that the page words its hints for an SMS or an e-mail. It is what the citizen typed, not
 * what the account has: a phone number finds only an account whose phone is verified, and
 * that account's code goes to it; an e-mail likewise; a NIK may go either way. An unknown
 * identifier gets the same wording as a known one of its kind.
 */
type ResetChannel = 'sms' | 'email' | 'any'
const codeQuery = {
  type: 'object',
  properties: { kembali: returnField, lewat: { type: 'string', maxLength: 8 } },
} as const

function channelOfQuery(req: FastifyRequest): ResetChannel {
  const lewat = (req.query as { lewat?: unknown } | undefined)?.lewat
  return lewat === 'sms' || lewat === 'email' ? lewat : 'any'
}

/** The code page's path, keeping the return path and the channel. */
function codePath(kembali: string, channel: ResetChannel): string {
  const path = withReturn(`${resetPath}/kode`, kembali)
  return channel === 'any' ? path : `${path}${path.includes('?') ? '&' : '?'}lewat=${channel}`
}

const codeAnchors = [
  ['code', 'code'],
  ['password', 'password'],
  ['password2', 'password2'],
] as const

type FlowState = { kind: 'code'; token: string } | { kind: 'verified'; codeId: string }

/** The verified address a reset code goes to; the kind the citizen typed comes first. */
function resetDestination(citizen: Citizen, kind: string): { channel: OutboxChannel; destination: string } | undefined {
  const email =
    citizen.email !== null && citizen.emailVerified
      ? { channel: 'email' as const, destination: citizen.email }
      : undefined
  const phone =
    citizen.phone !== null && citizen.phoneVerified
      ? { channel: 'sms' as const, destination: citizen.phone }
      : undefined
  return kind === 'phone' ? (phone ?? email) : (email ?? phone)
}

/** `token` when it names a live reset code of this citizen (the same flow asking again). */
async function ownLiveResetCodeId(
  db: Kysely<Database>,
  citizenId: string,
  token: string | undefined,
): Promise<string | undefined> {
  if (token === undefined || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(token))
    return undefined
  const row = await db
    .selectFrom('one_time_codes')
    .select('id')
    .where('id', '=', token)
    .where('citizen_id', '=', citizenId)
    .where('purpose', '=', 'reset_password')
    .where('consumed_at', 'is', null)
    .executeTakeFirst()
  return row?.id
}

/**
 * Sends the reset code for what was typed, or does the same work for nobody
 * (issueDecoyOtp): a known and an unknown identifier cost the same statements, the same
 * rendered and queued message and the same audit row (docs/security.md lines 10 and 37),
 * so neither the answer nor its time tells whether an account exists. Returns the flow's
 * cookie value.
 */
export async function sendResetCode(
  db: Kysely<Database>,
  classified: Exclude<ClassifiedIdentifier, { kind: 'invalid' }>,
  context: {
    ip?: string
    requestId?: string
    secret?: Buffer | string
    outbox?: OtpOptions['outbox']
    currentToken?: string | undefined
    /** The browser's device cookie (sign-in-device.ts): a known device of the account has its own allowance. */
    deviceId?: string | undefined
  },
): Promise<string> {
  const options: OtpOptions = {
    ...(context.ip !== undefined ? { ip: context.ip } : {}),
    ...(context.requestId !== undefined ? { requestId: context.requestId } : {}),
    ...(context.secret !== undefined ? { secret: context.secret } : {}),
    ...(context.outbox !== undefined ? { outbox: context.outbox } : {}),
    equalWork: true,
  }
  const citizen = await findCitizenByIdentifier(db, classified)
  const target = citizen?.status === 'active' ? resetDestination(citizen, classified.kind) : undefined
  // The same lookups on every path, for nobody when there is no account: the device, and
  // (below) the flow's own live code.
  const owner = citizen && target ? citizen.id : randomUUID()
  const knownDevice = await knownDeviceOf(db, owner, context.deviceId)
  if (citizen && target) {
    const sent = await issueOtp(
      db,
      {
        citizenId: citizen.id,
        purpose: 'reset_password',
        channel: target.channel,
        destination: target.destination,
        flowToken: context.currentToken,
        knownDevice,
      },
      options,
    )
    // Asked again too soon: nothing new was sent (issueOtp did the work and undid it). Only
    // this browser's own live code, when it already has one: never another flow's (a
    // stranger who asks right after the owner must not get the owner's code to guess at).
    const own = await ownLiveResetCodeId(db, citizen.id, context.currentToken)
    return sent.ok ? sent.codeId : (own ?? randomUUID())
  }
  await issueDecoyOtp(
    db,
    { purpose: 'reset_password', channel: classified.kind === 'phone' ? 'sms' : 'email' },
    options,
  )
  await ownLiveResetCodeId(db, owner, context.currentToken)
  return randomUUID()
}

/** A short key of the device when `deviceId` names a known device of the citizen, else undefined. */
async function knownDeviceOf(
  db: Kysely<Database>,
  citizenId: string,
  deviceId: string | undefined,
): Promise<string | undefined> {
  const valid = deviceId !== undefined && /^[A-Za-z0-9_-]{43}$/.test(deviceId)
  const hash = hashDeviceId(valid ? deviceId : 'x'.repeat(43))
  const row = await db
    .selectFrom('known_devices')
    .select('device_hash')
    .where('citizen_id', '=', citizenId)
    .where('device_hash', '=', hash)
    .executeTakeFirst()
  return valid && row !== undefined ? hash.slice(0, 24) : undefined
}

export async function passwordResetRoutes(app: FastifyInstance, deps: AccountPagesDeps): Promise<void> {
  const { config, db } = deps
  const resetCookie = hostCookieName(config, resetCookieBase)

  function signer() {
    return signerFactory(deps.oidc.cookieKeys())
  }

  function stateOf(req: FastifyRequest): FlowState | undefined {
    const raw = req.cookies[resetCookie]
    if (typeof raw !== 'string' || raw.length > 200) return undefined
    if (/^[0-9a-f-]{36}$/i.test(raw)) return { kind: 'code', token: raw }
    const unsigned = signer().unsign(raw)
    if (!unsigned.valid || unsigned.value === null) return undefined
    const m = /^ok\.([0-9a-f-]{36})\.([0-9]{1,12})$/i.exec(unsigned.value)
    if (!m || Number(m[2]) * 1000 <= Date.now()) return undefined
    return { kind: 'verified', codeId: m[1] as string }
  }

  /**
   * The citizen behind a verified state: the code was used, and the password has not
   * been changed since it was sent (so the state works once).
   */
  async function verifiedCitizen(codeId: string): Promise<{ citizen: Citizen; codeId: string } | undefined> {
    const row = await findCodeRow(db, codeId, ['reset_password'], codeStepSeconds)
    if (!row || row.consumed_at === null) return undefined
    const citizen = await findCitizenById(db, row.citizen_id)
    if (!citizen || citizen.status !== 'active') return undefined
    if (citizen.passwordChangedAt !== null && citizen.passwordChangedAt.getTime() >= row.created_at.getTime())
      return undefined
    return { citizen, codeId }
  }

  function kembaliOf(req: FastifyRequest): string {
    return safeReturnPath((req.query as { kembali?: unknown } | undefined)?.kembali)
  }

  function requestPage(
    req: FastifyRequest,
    reply: FastifyReply,
    kembali: string,
    value: string,
    error = '',
    status = 200,
  ) {
    return reply.page(
      'reset-request',
      {
        action: withReturn(resetPath, kembali),
        csrf: reply.generateCsrf(),
        identifier: value,
        error,
        backHref: kembali,
      },
      { status },
    )
  }

  function codePage(
    req: FastifyRequest,
    reply: FastifyReply,
    kembali: string,
    verified: boolean,
    code: string,
    errors: Record<string, string> = {},
    status = 200,
  ) {
    return reply.page(
      'reset-code',
      {
        action: codePath(kembali, channelOfQuery(req)),
        channel: channelOfQuery(req),
        csrf: reply.generateCsrf(),
        verified,
        code,
        minutes: minutesFrom(defaultOtpPolicy.lifetimeSeconds),
        errors,
        errorList: errorSummary(errors, codeAnchors),
        againHref: withReturn(resetPath, kembali),
      },
      { status },
    )
  }

  app.get(resetPath, { schema: { querystring: returnQuery } }, async (req, reply) =>
    requestPage(req, reply, kembaliOf(req), ''),
  )

  app.post(
    resetPath,
    {
      schema: { body: identifierBody, querystring: returnQuery },
      attachValidation: true,
      preHandler: app.csrfProtection,
    },
    async (req, reply) => {
      const t = accountText(req)
      const kembali = kembaliOf(req)
      const invalid = invalidFields(req)
      const { identifier } = formValues(req, ['identifier'], invalid)
      if (invalid.has('identifier')) return requestPage(req, reply, kembali, '', t('forms.invalidInput'), 400)
      if (identifier.trim() === '') return requestPage(req, reply, kembali, '', t('reset.identifierRequired'), 400)
      // Each request may send an e-mail or SMS: a per-address allowance, the same for
      // every identifier (it says nothing about accounts).
      const allowance = await takeSourceAllowance(db, 'reset', req.ip, {
        maxFailures: config.idp.rateLimits.codeRequestsPerAddressPerHour,
        windowSeconds: 3600,
      })
      if (!allowance.allowed) {
        throw new AppError('too_many_requests', undefined, {
          headers: { 'retry-after': String(allowance.retryAfterSeconds) },
        })
      }
      // Only the shape of what was typed is judged here, never whether it has an account.
      const classified = classifyIdentifier(identifier)
      if (classified.kind === 'invalid')
        return requestPage(req, reply, kembali, identifier, t('reset.identifierInvalid'), 400)

      const token = await sendResetCode(db, classified, {
        ip: req.ip,
        requestId: req.id,
        secret: deps.otpSecret,
        currentToken: req.cookies[resetCookie],
        deviceId: req.cookies[deviceCookieName(config)],
      })
      reply.setCookie(resetCookie, token, flowCookieOptions(config, resetPath, codeStepSeconds))
      return reply.redirect(
        codePath(kembali, classified.kind === 'phone' ? 'sms' : classified.kind === 'email' ? 'email' : 'any'),
        303,
      )
    },
  )

  app.get(`${resetPath}/kode`, { schema: { querystring: codeQuery } }, async (req, reply) => {
    const kembali = kembaliOf(req)
    const state = stateOf(req)
    if (!state) return reply.redirect(withReturn(resetPath, kembali), 303)
    const verified = state.kind === 'verified' && (await verifiedCitizen(state.codeId)) !== undefined
    if (state.kind === 'verified' && !verified) return reply.redirect(withReturn(resetPath, kembali), 303)
    return codePage(req, reply, kembali, verified, '')
  })

  app.post(
    `${resetPath}/kode`,
    { schema: { body: codeBody, querystring: codeQuery }, attachValidation: true, preHandler: app.csrfProtection },
    async (req, reply) => {
      const t = accountText(req)
      const locale = pickLocale(req)
      const kembali = kembaliOf(req)
      const state = stateOf(req)
      if (!state) return reply.redirect(withReturn(resetPath, kembali), 303)
      const already = state.kind === 'verified' ? await verifiedCitizen(state.codeId) : undefined
      if (state.kind === 'verified' && !already) return reply.redirect(withReturn(resetPath, kembali), 303)

      const invalid = invalidFields(req)
      const v = formValues(req, ['code', 'password', 'password2'], invalid)
      const errors: Record<string, string> = {}
      for (const f of invalid)
        if (f === 'code' || f === 'password' || f === 'password2') errors[f] = t('forms.invalidInput')
      if (!already && !errors.code && v.code.trim() === '') errors.code = t('forms.codeRequired')
      if (!errors.password) {
        if (v.password === '') errors.password = t('forms.passwordRequired')
        else {
          // The checks that need nothing of the account come before the code is used up;
          // those against the citizen's own data come after, once the code proved who it is.
          const verdict = checkPassword(v.password, { regencyName: config.regency.name })
          if (!verdict.ok) errors.password = passwordErrorMessages[verdict.reason][locale]
        }
      }
      if (!errors.password2 && !errors.password) {
        if (v.password2 === '') errors.password2 = t('forms.password2Required')
        else if (v.password2 !== v.password) errors.password2 = t('forms.password2Mismatch')
      }
      const code = already ? '' : v.code
      if (Object.keys(errors).length > 0) return codePage(req, reply, kembali, already !== undefined, code, errors, 400)

      let citizenId: string
      let codeId: string
      if (already) {
        citizenId = already.citizen.id
        codeId = already.codeId
      } else {
        const row =
          state.kind === 'code' ? await findCodeRow(db, state.token, ['reset_password'], codeStepSeconds) : undefined
        // No row (no account behind this flow): the same check against nobody, so that the
        // answer — and its cost — is that of a wrong code.
        const result = await verifyOtp(
          db,
          // This flow's own code only: a stranger's flow for the same NIK names another
          // row, and its wrong guesses never reach the owner's code.
          {
            citizenId: row?.citizen_id ?? randomUUID(),
            purpose: 'reset_password',
            code: v.code,
            codeId: row?.id ?? randomUUID(),
          },
          { ip: req.ip, requestId: req.id, secret: deps.otpSecret },
        )
        if (!row || !result.ok) return codePage(req, reply, kembali, false, '', { code: t('reset.code.wrong') }, 400)
        citizenId = row.citizen_id
        codeId = result.codeId
      }

      try {
        await setCitizenPassword(db, citizenId, v.password, {
          regencyName: config.regency.name,
          actor: `citizen:${citizenId}`,
          ip: req.ip,
          requestId: req.id,
          notice: 'password_reset',
          noticeOptions: noticeOptionsOf(config),
        })
      } catch (err) {
        if (!isAccountError(err)) throw err
        if (err.code === 'account_not_found')
          return codePage(req, reply, kembali, false, '', { code: t('reset.code.wrong') }, 400)
        // The code is used; let the citizen pick another password without a new one.
        const expires = Math.floor(Date.now() / 1000) + verifiedStepSeconds
        reply.setCookie(
          resetCookie,
          signer().sign(`ok.${codeId}.${expires}`),
          flowCookieOptions(config, resetPath, verifiedStepSeconds),
        )
        return codePage(req, reply, kembali, true, '', { password: accountErrorText(req, err) }, 400)
      }
      // The other flows' reset codes of this account die with the old password.
      await db
        .updateTable('one_time_codes')
        .set({ consumed_at: new Date() })
        .where('citizen_id', '=', citizenId)
        .where('purpose', '=', 'reset_password')
        .where('consumed_at', 'is', null)
        .execute()
      // Whoever knew the old password is signed out everywhere, agencies included.
      await deps.oidc.notifyBackchannelLogout(db, citizenId, req.log)
      await destroyAccountArtifacts(db, citizenId, credentialArtifacts)
      reply.clearCookie(resetCookie, flowCookieClearOptions(config, resetPath))
      return reply.redirect(withReturn(`${resetPath}/selesai`, kembali), 303)
    },
  )

  app.get(`${resetPath}/selesai`, { schema: { querystring: returnQuery } }, async (req, reply) => {
    const t = accountText(req)
    return reply.page('message', {
      kind: 'success',
      title: t('reset.done.title'),
      lead: t('reset.done.lead'),
      primary: { href: kembaliOf(req), text: t('reset.done.continue') },
    })
  })
}
