// The officers' console at the idp (issue 14, Officers; the counter issue fills it): its
// own sign-in at /petugas/masuk, never the citizens' (an officer's username there is
// refused, interactions.ts), its own session cookie (cookie-names.ts) and sessions
// (accounts/officer-sessions.ts: 12 h absolute, 15 min idle). A second factor is
// mandatory: after the password the session reaches only the code step, or, for an
// officer without a factor, only enrolment (/petugas/pasang-faktor, opened by the
// one-time enrolment code from `satupintu officers add`). Every page works without
// JavaScript; forms carry CSRF tokens bound to the officer's cookie (forms.ts).

import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import { isAccountError } from '../../accounts/errors.ts'
import {
  checkEnrolmentCode,
  confirmOfficerTotp,
  officerHasFactor,
  pendingOfficerTotp,
  verifyOfficerTotp,
  type OfficerCodeCheck,
} from '../../accounts/officer-factors.ts'
import {
  completeOfficerSession,
  createOfficerSession,
  endOfficerSession,
  markEnrolmentCodeGiven,
  officerSessionLimits,
  readOfficerSession,
  seatAtCounter,
  type OfficerSession,
} from '../../accounts/officer-sessions.ts'
import { authenticateOfficer } from '../../accounts/officers.ts'
import { lookupReasons, lookUpCitizens, isLookupReason, type LookupQuery } from '../../accounts/officer-lookup.ts'
import { noticeOptionsOf } from '../../accounts/notices.ts'
import { findCitizenById } from '../../accounts/citizens.ts'
import { proveIdentityInPerson } from '../../accounts/identity.ts'
import { maskedNik } from '../../accounts/officer-lookup.ts'
import { listActiveCounters, type CounterRow } from '../../accounts/counters.ts'
import type { SecretSealer } from '../../accounts/second-factors.ts'
import { recordAudit } from '../../audit/audit.ts'
import type { Config } from '../../config/schema.ts'
import type { Database } from '../../db/database.ts'
import { AppError } from '../../errors/app-error.ts'
import { translator } from '../../http/i18n.ts'
import { pickLocale } from '../../http/locale.ts'
import { codeField, csrfField, formValues, invalidFields, minutesFrom, passwordField } from '../account/registration.ts'
import { idpIsSecure, officerSessionCookieName } from '../cookie-names.ts'
import { registerForms } from '../forms.ts'
import { clockTime, isoDateInWords } from '../times.ts'
import { totpEnrolmentView } from '../totp-qr.ts'
import { consoleMessages } from './messages.ts'

export interface ConsoleDeps {
  config: Config
  db: Kysely<Database>
  /** Seals the officers' TOTP secrets (the key encryption). */
  sealer: SecretSealer
  /** The current time; tests move it. */
  now?: () => Date
}

const signInBody = {
  type: 'object',
  properties: { _csrf: csrfField, username: { type: 'string', maxLength: 256 }, password: passwordField },
} as const
const codeBody = { type: 'object', properties: { _csrf: csrfField, code: codeField } } as const
const enrolmentCodeBody = { type: 'object', properties: { _csrf: csrfField, enrolmentCode: codeField } } as const
const csrfOnlyBody = { type: 'object', properties: { _csrf: csrfField } } as const
const signInQuery = {
  type: 'object',
  properties: { pesan: { type: 'string', enum: ['berakhir', 'keluar'] } },
} as const
const homeQuery = { type: 'object', properties: { pesan: { type: 'string', enum: ['faktor', 'loket'] } } } as const
const searchBody = {
  type: 'object',
  properties: {
    _csrf: csrfField,
    reason: { type: 'string', maxLength: 64 },
    nik: { type: 'string', maxLength: 64 },
    phone: { type: 'string', maxLength: 64 },
    name: { type: 'string', maxLength: 480 },
    birthDate: { type: 'string', maxLength: 32 },
  },
} as const
const proveBody = {
  type: 'object',
  properties: {
    _csrf: csrfField,
    checkName: { type: 'string', maxLength: 8 },
    checkNik: { type: 'string', maxLength: 8 },
    checkBirthDate: { type: 'string', maxLength: 8 },
  },
} as const
const citizenParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' } },
  required: ['id'],
} as const
const counterBody = {
  type: 'object',
  properties: { _csrf: csrfField, counter: { type: 'string', maxLength: 64 } },
} as const

export async function consoleRoutes(app: FastifyInstance, deps: ConsoleDeps): Promise<void> {
  const { config, db, sealer } = deps
  const now = deps.now ?? (() => new Date())
  const cookieName = officerSessionCookieName(config)
  const cookiePath = idpIsSecure(config) ? '/' : '/petugas'
  const text = (req: FastifyRequest) => translator(consoleMessages, pickLocale(req))

  const tokenOf = (req: FastifyRequest): string | undefined =>
    (req.cookies as Record<string, string | undefined> | undefined)?.[cookieName]

  // CSRF tokens bound to the officer's cookie (forms.ts, CsrfBinding); before sign-in, "anonymous".
  await registerForms(app, config, {
    binding: (req) => {
      const token = tokenOf(req)
      return token ? `officer:${createHash('sha256').update(token).digest('base64url')}` : 'anonymous'
    },
  })

  function setSessionCookie(reply: FastifyReply, token: string): void {
    reply.setCookie(cookieName, token, {
      path: cookiePath,
      httpOnly: true,
      sameSite: 'strict',
      secure: idpIsSecure(config),
      // The browser forgets it with the absolute limit; the server's limits are what count.
      maxAge: officerSessionLimits.absoluteSeconds,
    })
  }

  function clearSessionCookie(reply: FastifyReply): void {
    reply.clearCookie(cookieName, { path: cookiePath, httpOnly: true, sameSite: 'strict', secure: idpIsSecure(config) })
  }

  function context(req: FastifyRequest) {
    return { ip: req.ip, requestId: req.id, now: now() }
  }

  type Stage = 'complete' | 'code' | 'enrol'

  /**
   * The session of this request when it is at `want`; otherwise the reply is sent (a
   * redirect to where this officer's session may go) and undefined is returned. The
   * one gate of every console page: an officer without a second factor reaches
   * enrolment and nothing else.
   */
  async function gate(
    req: FastifyRequest,
    reply: FastifyReply,
    want: Stage,
  ): Promise<{ session: OfficerSession; token: string } | undefined> {
    const token = tokenOf(req)
    const session = await readOfficerSession(db, token, now())
    if (session === undefined || token === undefined) {
      if (token !== undefined) clearSessionCookie(reply)
      reply.redirect(token !== undefined ? '/petugas/masuk?pesan=berakhir' : '/petugas/masuk', 303)
      return undefined
    }
    const stage: Stage = session.complete
      ? 'complete'
      : (await officerHasFactor(db, session.officer.id))
        ? 'code'
        : 'enrol'
    if (stage === want) return { session, token }
    reply.redirect(
      stage === 'complete' ? '/petugas' : stage === 'code' ? '/petugas/masuk/kode' : '/petugas/pasang-faktor',
      303,
    )
    return undefined
  }

  function noStore(reply: FastifyReply): FastifyReply {
    return reply.header('cache-control', 'no-store')
  }

  // -------------------------------------------------------------------------------------
  // Sign-in: username and password.

  function signInPage(
    reply: FastifyReply,
    extra: { errorText?: string; notice?: string; username?: string; status?: number } = {},
  ) {
    return noStore(reply).page(
      'petugas-masuk',
      {
        csrf: reply.generateCsrf(),
        errorText: extra.errorText ?? '',
        notice: extra.notice ?? '',
        username: extra.username ?? '',
      },
      { status: extra.status ?? 200 },
    )
  }

  app.get('/petugas/masuk', { schema: { querystring: signInQuery } }, async (req, reply) => {
    const t = text(req)
    const session = await readOfficerSession(db, tokenOf(req), now())
    if (session?.complete) return reply.redirect('/petugas', 303)
    const pesan = (req.query as { pesan?: 'berakhir' | 'keluar' }).pesan
    const notice =
      pesan === 'berakhir' ? t('petugas.signIn.ended') : pesan === 'keluar' ? t('petugas.signIn.signedOut') : ''
    return signInPage(reply, { notice })
  })

  app.post(
    '/petugas/masuk',
    { schema: { body: signInBody }, attachValidation: true, preHandler: app.csrfProtection },
    async (req, reply) => {
      const t = text(req)
      const { username, password } = formValues(req, ['username', 'password'], invalidFields(req))
      if (username.trim() === '' || password === '')
        return signInPage(reply, { errorText: t('petugas.signIn.missing'), username, status: 400 })
      let result: Awaited<ReturnType<typeof authenticateOfficer>>
      try {
        result = await authenticateOfficer(db, username, password, context(req))
      } catch (err) {
        if (isAccountError(err)) throw new AppError('payload_too_large', 'The password is too long.', { cause: err })
        throw err
      }
      if (!result.ok) {
        if (result.reason === 'throttled') {
          reply.header('retry-after', String(result.retryAfterSeconds))
          const errorText = result.permanent
            ? t('petugas.signIn.locked')
            : t('petugas.signIn.throttled', { minutes: minutesFrom(result.retryAfterSeconds) })
          return signInPage(reply, { errorText, username, status: 429 })
        }
        return signInPage(reply, { errorText: t('petugas.signIn.failed'), username, status: 401 })
      }
      // A session this browser had before ends: the new sign-in starts from nothing.
      const previous = tokenOf(req)
      if (previous !== undefined) await endOfficerSession(db, previous, now())
      const session = await createOfficerSession(db, result.officer.id, now())
      setSessionCookie(reply, session.token)
      const next = (await officerHasFactor(db, result.officer.id)) ? '/petugas/masuk/kode' : '/petugas/pasang-faktor'
      return reply.redirect(next, 303)
    },
  )

  // -------------------------------------------------------------------------------------
  // The second factor at sign-in.

  function codePage(reply: FastifyReply, extra: { errorText?: string; status?: number } = {}) {
    return noStore(reply).page(
      'petugas-kode',
      { csrf: reply.generateCsrf(), errorText: extra.errorText ?? '' },
      { status: extra.status ?? 200 },
    )
  }

  function codeFailure(req: FastifyRequest, reply: FastifyReply, check: Exclude<OfficerCodeCheck, { ok: true }>) {
    const t = text(req)
    if (check.reason === 'throttled') {
      reply.header('retry-after', String(check.retryAfterSeconds))
      return { errorText: t('petugas.throttled', { minutes: minutesFrom(check.retryAfterSeconds) }), status: 429 }
    }
    return { errorText: t('petugas.code.wrong'), status: 400 }
  }

  /** The second factor was given: the session is complete under a new id, and audited. */
  async function signedIn(req: FastifyRequest, reply: FastifyReply, token: string, officerId: string, how: string) {
    const fresh = await completeOfficerSession(db, token, now())
    if (fresh === undefined) {
      clearSessionCookie(reply)
      return reply.redirect('/petugas/masuk?pesan=berakhir', 303)
    }
    await recordAudit(db, {
      event: 'officer.signed_in',
      actor: `officer:${officerId}`,
      ip: req.ip,
      requestId: req.id,
      data: { officerId, method: how },
    })
    setSessionCookie(reply, fresh)
    return reply.redirect(how === 'enrolment' ? '/petugas?pesan=faktor' : '/petugas', 303)
  }

  app.get('/petugas/masuk/kode', async (req, reply) => {
    const at = await gate(req, reply, 'code')
    if (!at) return reply
    return codePage(reply)
  })

  app.post(
    '/petugas/masuk/kode',
    { schema: { body: codeBody }, attachValidation: true, preHandler: app.csrfProtection },
    async (req, reply) => {
      const at = await gate(req, reply, 'code')
      if (!at) return reply
      const { code } = formValues(req, ['code'], invalidFields(req))
      if (code.trim() === '') return codePage(reply, { errorText: text(req)('petugas.code.required'), status: 400 })
      const check = await verifyOfficerTotp(db, sealer, at.session.officer.id, code, context(req))
      if (!check.ok) return codePage(reply, codeFailure(req, reply, check))
      return signedIn(req, reply, at.token, at.session.officer.id, 'totp')
    },
  )

  // -------------------------------------------------------------------------------------
  // Enrolment: the enrolment code, then the authenticator app's QR code and a code from it.

  async function enrolPage(
    reply: FastifyReply,
    session: OfficerSession,
    extra: { errorText?: string; status?: number } = {},
  ) {
    const qr = session.enrolmentCodeGiven
      ? await pendingOfficerTotp(db, sealer, session.officer.id, session.officer.username)
      : undefined
    return noStore(reply).page(
      'petugas-pasang-faktor',
      {
        csrf: reply.generateCsrf(),
        errorText: extra.errorText ?? '',
        ...(qr ? await totpEnrolmentView(qr) : { qrSvg: '', secretGroups: [] }),
      },
      { status: extra.status ?? 200 },
    )
  }

  app.get('/petugas/pasang-faktor', async (req, reply) => {
    const at = await gate(req, reply, 'enrol')
    if (!at) return reply
    return enrolPage(reply, at.session)
  })

  app.post(
    '/petugas/pasang-faktor/kode-pendaftaran',
    {
      schema: { body: enrolmentCodeBody },
      attachValidation: true,
      preHandler: app.csrfProtection,
      config: { pageOnGet: () => '/petugas/pasang-faktor' },
    },
    async (req, reply) => {
      const at = await gate(req, reply, 'enrol')
      if (!at) return reply
      const t = text(req)
      const { enrolmentCode } = formValues(req, ['enrolmentCode'], invalidFields(req))
      if (enrolmentCode.trim() === '')
        return enrolPage(reply, at.session, { errorText: t('petugas.enrol.codeRequired'), status: 400 })
      const check = await checkEnrolmentCode(db, at.session.officer.id, enrolmentCode, context(req))
      if (!check.ok) {
        const failure = codeFailure(req, reply, check)
        const errorText = check.reason === 'throttled' ? failure.errorText : t('petugas.enrol.codeWrong')
        return enrolPage(reply, at.session, { errorText, status: failure.status })
      }
      await markEnrolmentCodeGiven(db, at.token, now())
      return reply.redirect('/petugas/pasang-faktor', 303)
    },
  )

  app.post(
    '/petugas/pasang-faktor',
    { schema: { body: codeBody }, attachValidation: true, preHandler: app.csrfProtection },
    async (req, reply) => {
      const at = await gate(req, reply, 'enrol')
      if (!at) return reply
      const t = text(req)
      if (!at.session.enrolmentCodeGiven) return reply.redirect('/petugas/pasang-faktor', 303)
      const { code } = formValues(req, ['code'], invalidFields(req))
      if (code.trim() === '')
        return enrolPage(reply, at.session, { errorText: t('petugas.code.required'), status: 400 })
      const check = await confirmOfficerTotp(db, sealer, at.session.officer.id, code, context(req))
      if (!check.ok) {
        if (check.reason === 'no_enrolment_code') {
          // Spent or expired since it was given: only a new code from an admin helps.
          return enrolPage(
            reply,
            { ...at.session, enrolmentCodeGiven: false },
            {
              errorText: t('petugas.enrol.codeWrong'),
              status: 400,
            },
          )
        }
        return enrolPage(reply, at.session, codeFailure(req, reply, check))
      }
      return signedIn(req, reply, at.token, at.session.officer.id, 'enrolment')
    },
  )

  // -------------------------------------------------------------------------------------
  // Home and sign-out.

  app.get('/petugas', { schema: { querystring: homeQuery } }, async (req, reply) => {
    const at = await gate(req, reply, 'complete')
    if (!at) return reply
    const t = text(req)
    const { officer, counter } = at.session
    const pesan = (req.query as { pesan?: 'faktor' | 'loket' }).pesan
    const active = counter?.status === 'active' ? counter : null
    return noStore(reply).page('petugas-beranda', {
      csrf: reply.generateCsrf(),
      name: officer.name,
      username: officer.username,
      roles: officer.roles.map((r) => t(`petugas.role.${r}`)),
      until: clockTime(at.session.expiresAt, pickLocale(req), config.regency.timeZone),
      notice:
        pesan === 'faktor'
          ? t('petugas.home.enrolled')
          : pesan === 'loket' && active
            ? t('petugas.counter.chosen', { name: active.name, location: active.location })
            : '',
      counterOfficer: officer.roles.includes('counter_officer'),
      counter: active,
      counterWarning:
        counter !== null && counter.status !== 'active' ? t('petugas.counter.disabled', { name: counter.name }) : '',
    })
  })

  // -------------------------------------------------------------------------------------
  // The counter the officer sits at (issue 15). The officer picks it here, after the
  // sign-in with both factors, from the counters an administrator registered and keeps
  // active; it is recorded on the session. Why not a cookie an administrator pins on the
  // counter's PC: it would need a device credential and an administrator at every PC, and
  // protect nothing more today (the officer is signed in with a second factor, and every
  // action names the officer and the counter in the trail the citizen reads). A counter
  // device bound like a kiosk (its own key) can take this place later.

  function deniedPage(
    req: FastifyRequest,
    reply: FastifyReply,
    why: 'role' | 'noCounter' | 'counterDisabled',
    name = '',
  ) {
    const t = text(req)
    const reason =
      why === 'role'
        ? t('petugas.denied.role')
        : why === 'noCounter'
          ? t('petugas.denied.noCounter')
          : t('petugas.denied.counterDisabled', { name })
    return noStore(reply).page('petugas-ditolak', { reason, toCounter: why !== 'role' }, { status: 403 })
  }

  /**
   * The gate of every counter function: a complete session of an officer with the
   * counter role, seated at a counter that is active now. Otherwise the reply is sent (a
   * clear page, 403) and undefined is returned.
   */
  async function counterGate(
    req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<{ session: OfficerSession; token: string; counter: CounterRow } | undefined> {
    const at = await gate(req, reply, 'complete')
    if (!at) return undefined
    if (!at.session.officer.roles.includes('counter_officer')) {
      deniedPage(req, reply, 'role')
      return undefined
    }
    const counter = at.session.counter
    if (counter === null) {
      deniedPage(req, reply, 'noCounter')
      return undefined
    }
    if (counter.status !== 'active') {
      deniedPage(req, reply, 'counterDisabled', counter.name)
      return undefined
    }
    return { ...at, counter }
  }

  async function counterPage(
    reply: FastifyReply,
    session: OfficerSession,
    extra: { errorText?: string; status?: number } = {},
  ) {
    const counters = await listActiveCounters(db)
    return noStore(reply).page(
      'petugas-loket',
      {
        csrf: reply.generateCsrf(),
        errorText: extra.errorText ?? '',
        counters: counters.map((c) => ({
          id: c.id,
          name: c.name,
          location: c.location,
          unit: c.unit,
          current: c.id === session.counter?.id,
        })),
      },
      { status: extra.status ?? 200 },
    )
  }

  app.get('/petugas/loket', async (req, reply) => {
    const at = await gate(req, reply, 'complete')
    if (!at) return reply
    if (!at.session.officer.roles.includes('counter_officer')) return deniedPage(req, reply, 'role')
    return counterPage(reply, at.session)
  })

  app.post(
    '/petugas/loket',
    { schema: { body: counterBody }, attachValidation: true, preHandler: app.csrfProtection },
    async (req, reply) => {
      const at = await gate(req, reply, 'complete')
      if (!at) return reply
      const t = text(req)
      if (!at.session.officer.roles.includes('counter_officer')) return deniedPage(req, reply, 'role')
      const { counter } = formValues(req, ['counter'], invalidFields(req))
      if (counter.trim() === '')
        return counterPage(reply, at.session, { errorText: t('petugas.counter.required'), status: 400 })
      const seated = await seatAtCounter(db, at.token, counter.trim(), now())
      if (!seated) return counterPage(reply, at.session, { errorText: t('petugas.counter.gone'), status: 400 })
      await recordAudit(db, {
        event: 'officer.counter_chosen',
        actor: `officer:${at.session.officer.id}`,
        ip: req.ip,
        requestId: req.id,
        data: { officerId: at.session.officer.id, counterId: counter.trim() },
      })
      return reply.redirect('/petugas?pesan=loket', 303)
    },
  )

  // -------------------------------------------------------------------------------------
  // Find a citizen (issue 15): only with a reason from the list (accounts/officer-lookup.ts),
  // by NIK, phone, or name and birth date; a POST, so that what is searched for stays out
  // of addresses and logs. The results are the minimum that confirms the person.

  type SearchValues = { reason: string; nik: string; phone: string; name: string; birthDate: string }

  function searchPage(
    req: FastifyRequest,
    reply: FastifyReply,
    counter: CounterRow,
    extra: {
      values?: SearchValues
      errorText?: string
      errorHref?: string
      reasonError?: boolean
      results?: readonly unknown[]
      status?: number
    } = {},
  ) {
    const locale = pickLocale(req)
    const values = extra.values ?? { reason: '', nik: '', phone: '', name: '', birthDate: '' }
    return noStore(reply).page(
      'petugas-cari',
      {
        csrf: reply.generateCsrf(),
        counter,
        values,
        reasons: Object.entries(lookupReasons).map(([id, label]) => ({
          id,
          text: label[locale],
          selected: id === values.reason,
        })),
        errorText: extra.errorText ?? '',
        errorHref: extra.errorHref ?? '#reason',
        reasonError: extra.reasonError ?? false,
        searched: extra.results !== undefined,
        results: extra.results ?? [],
      },
      { status: extra.status ?? 200 },
    )
  }

  app.get('/petugas/cari', async (req, reply) => {
    const at = await counterGate(req, reply)
    if (!at) return reply
    return searchPage(req, reply, at.counter)
  })

  app.post(
    '/petugas/cari',
    { schema: { body: searchBody }, attachValidation: true, preHandler: app.csrfProtection },
    async (req, reply) => {
      const at = await counterGate(req, reply)
      if (!at) return reply
      const t = text(req)
      const values = formValues(
        req,
        ['reason', 'nik', 'phone', 'name', 'birthDate'],
        invalidFields(req),
      ) as SearchValues
      if (!isLookupReason(values.reason))
        return searchPage(req, reply, at.counter, {
          values,
          errorText: t('petugas.search.reasonRequired'),
          reasonError: true,
          status: 400,
        })
      const query: LookupQuery | undefined =
        values.nik.trim() !== ''
          ? { by: 'nik', nik: values.nik }
          : values.phone.trim() !== ''
            ? { by: 'phone', phone: values.phone }
            : values.name.trim() !== '' && values.birthDate.trim() !== ''
              ? { by: 'name_birth', name: values.name, birthDate: values.birthDate.trim() }
              : undefined
      const queryError = { values, errorText: t('petugas.search.queryRequired'), errorHref: '#nik', status: 400 }
      if (query === undefined) return searchPage(req, reply, at.counter, queryError)
      const outcome = await lookUpCitizens(db, {
        officer: at.session.officer,
        counter: at.counter,
        reason: values.reason,
        query,
        ip: req.ip,
        requestId: req.id,
        now: now(),
        notices: noticeOptionsOf(config),
      })
      if (!outcome.ok) {
        if (outcome.reason === 'throttled') {
          reply.header('retry-after', String(outcome.retryAfterSeconds))
          return searchPage(req, reply, at.counter, {
            values,
            errorText: t('petugas.search.throttled', { minutes: minutesFrom(outcome.retryAfterSeconds) }),
            status: 429,
          })
        }
        return searchPage(req, reply, at.counter, queryError)
      }
      // The form starts empty again: the page with the results never repeats the full NIK or number.
      const cleared = { reason: values.reason, nik: '', phone: '', name: '', birthDate: '' }
      return searchPage(req, reply, at.counter, { values: cleared, results: outcome.results })
    },
  )

  // -------------------------------------------------------------------------------------
  // Prove identity in person (issue 15, on accounts/identity.ts): the officer ticks that the
  // KTP-el shows the account's name, NIK and birth date; the proof names the officer and
  // the counter's location, with the KTP-el as evidence. A NIK proven on another account is
  // refused (moving a proof is not a counter's decision).

  async function provePage(
    req: FastifyRequest,
    reply: FastifyReply,
    counter: CounterRow,
    citizenId: string,
    extra: { errorText?: string; notice?: string; status?: number } = {},
  ) {
    const c = await findCitizenById(db, citizenId)
    if (c === undefined || c.status !== 'active') throw new AppError('not_found', 'No such citizen.')
    return noStore(reply).page(
      'petugas-verifikasi',
      {
        csrf: reply.generateCsrf(),
        counter,
        id: c.id,
        name: c.name,
        last4: maskedNik(c.nik).slice(-4),
        birthDate: isoDateInWords(c.birthDate, pickLocale(req)),
        proven: c.nikStatus === 'proven',
        errorText: extra.errorText ?? '',
        notice: extra.notice ?? '',
      },
      { status: extra.status ?? 200 },
    )
  }

  app.get('/petugas/warga/:id/verifikasi', { schema: { params: citizenParams } }, async (req, reply) => {
    const at = await counterGate(req, reply)
    if (!at) return reply
    return provePage(req, reply, at.counter, (req.params as { id: string }).id)
  })

  app.post(
    '/petugas/warga/:id/verifikasi',
    { schema: { params: citizenParams, body: proveBody }, attachValidation: true, preHandler: app.csrfProtection },
    async (req, reply) => {
      const at = await counterGate(req, reply)
      if (!at) return reply
      const t = text(req)
      const id = (req.params as { id: string }).id
      const v = formValues(req, ['checkName', 'checkNik', 'checkBirthDate'], invalidFields(req))
      if (v.checkName !== 'ya' || v.checkNik !== 'ya' || v.checkBirthDate !== 'ya')
        return provePage(req, reply, at.counter, id, { errorText: t('petugas.prove.allRequired'), status: 400 })
      try {
        await proveIdentityInPerson(
          db,
          {
            citizenId: id,
            officerId: at.session.officer.id,
            location: `${at.counter.name}, ${at.counter.location}`,
            evidence: 'ktp_el',
          },
          { ip: req.ip, requestId: req.id, now: now(), noticeOptions: noticeOptionsOf(config) },
        )
      } catch (err) {
        if (isAccountError(err) && err.code === 'nik_proven_elsewhere')
          return provePage(req, reply, at.counter, id, { errorText: t('petugas.prove.elsewhere'), status: 409 })
        throw err
      }
      const c = await findCitizenById(db, id)
      return provePage(req, reply, at.counter, id, { notice: t('petugas.prove.done', { name: c?.name ?? '' }) })
    },
  )

  app.post(
    '/petugas/keluar',
    { schema: { body: csrfOnlyBody }, preHandler: app.csrfProtection, config: { pageOnGet: () => '/petugas' } },
    async (req, reply) => {
      const token = tokenOf(req)
      const session = await readOfficerSession(db, token, now())
      if (token !== undefined) await endOfficerSession(db, token, now())
      if (session !== undefined) {
        await recordAudit(db, {
          event: 'auth.logout',
          actor: `officer:${session.officer.id}`,
          ip: req.ip,
          requestId: req.id,
          data: { accountKind: 'officer', officerId: session.officer.id },
        })
      }
      clearSessionCookie(reply)
      return reply.redirect('/petugas/masuk?pesan=keluar', 303)
    },
  )
}
