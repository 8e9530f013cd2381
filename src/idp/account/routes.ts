import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import {
  authenticateCitizen,
  findCitizenById,
  markEmailVerified,
  markPhoneVerified,
  setCitizenPassword,
  updateProfile,
  type Citizen,
} from '../../accounts/citizens.ts'
import { formatPhone, maskContact } from '../../accounts/identifiers.ts'
import { isAccountError } from '../../accounts/errors.ts'
import { accountIdentity, type AccountIdentity } from '../../accounts/identity.ts'
import { maskNik } from '../../audit/redact.ts'
import { isLookupReason, lookupReasons } from '../../accounts/officer-lookup.ts'
import { defaultOtpPolicy, issueOtp, verifyOtp, type OneTimeCodePurpose } from '../../accounts/otp.ts'
import { listAuditForSubject, recordAudit } from '../../audit/audit.ts'
import type { Database } from '../../db/database.ts'
import { exportDocumentsData } from '../../documents/export.ts'
import { listGrants } from '../../documents/grants.ts'
import { listDocuments } from '../../documents/vault.ts'
import type { AuditEvent } from '../../db/tables/audit-events.ts'
import { AppError } from '../../errors/app-error.ts'
import { pickLocale, type Locale } from '../../http/locale.ts'
import { accountClientId, accountSignInUrl, maxLocalReturnPath, safeReturnPath } from './session.ts'
import { loadDisplayNames, type DisplayNames } from '../display-names.ts'
import { scopeItems, scopeOrder } from '../oidc/scopes.ts'
import { clockTime, dateTime, groupByDay, isoDateInWords } from '../times.ts'
import { registerForms } from '../forms.ts'
import { freshSignIn } from './fresh-sign-in.ts'
import {
  destroyAccountArtifacts,
  destroyPayload,
  listPayloadsForAccount,
  revokePayloadsByGrantId,
} from '../oidc/store.ts'
import { endedSessionOf, recordRevokedSessions } from '../oidc/session-revocation.ts'
import { credentialArtifacts, passwordResetRoutes } from './password-reset.ts'
import { noticeOptionsOf } from '../../accounts/notices.ts'
import {
  confirmTotpEnrolment,
  formatRecoveryCode,
  hasSecondFactor,
  pendingTotpEnrolment,
  removeTotp,
  renewRecoveryCodes,
  secondFactorStatus,
} from '../../accounts/second-factors.ts'
import {
  finishRegistration,
  findPasskey,
  hasPasskey,
  listPasskeys,
  maxPasskeysPerAccount,
  registrationOptions,
  removePasskey,
  renamePasskey,
  type PasskeyView,
} from '../../accounts/passkeys.ts'
import { passkeyScripts, relyingPartyOf } from '../passkey-party.ts'
import { totpEnrolmentView } from '../totp-qr.ts'
import {
  accountErrorStatus,
  accountErrorText,
  accountText,
  codeFailureText,
  codeField,
  csrfField,
  errorSummary,
  formValues,
  invalidFields,
  minutesFrom,
  oneLine,
  passwordField,
  registrationRoutes,
  type AccountPagesDeps,
  type AccountText,
} from './registration.ts'

export type { AccountPagesDeps } from './registration.ts'

/** The models that hold what a grant allowed; revoking access removes them with the grant. */
const grantArtifacts = [
  'AccessToken',
  'RefreshToken',
  'AuthorizationCode',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
] as const

const notices = { disimpan: 'akun.saved', terverifikasi: 'akun.verifiedNow', sandi: 'akun.password.done' } as const
const noticeQuery = {
  type: 'object',
  properties: { pesan: { type: 'string', enum: Object.keys(notices) } },
} as const

const callbackQuery = {
  type: 'object',
  properties: {
    code: { type: 'string', maxLength: 512, pattern: oneLine },
    // The return path (account-session.ts), as long as safeReturnPath keeps.
    state: { type: 'string', maxLength: maxLocalReturnPath, pattern: oneLine },
    iss: { type: 'string', maxLength: 512, pattern: oneLine },
    error: { type: 'string', maxLength: 128, pattern: oneLine },
    error_description: { type: 'string', maxLength: 1024, pattern: oneLine },
  },
} as const

const kindQuery = {
  type: 'object',
  properties: {
    jenis: { type: 'string', enum: ['email', 'hp'] },
    terkirim: { type: 'string', maxLength: 1, pattern: '^1?$' },
  },
  required: ['jenis'],
} as const

const csrfOnlyBody = { type: 'object', properties: { _csrf: csrfField } } as const

const contactBody = {
  type: 'object',
  properties: {
    _csrf: csrfField,
    email: { type: 'string', maxLength: 320, pattern: oneLine },
    phone: { type: 'string', maxLength: 64, pattern: oneLine },
  },
} as const

const codeBody = { type: 'object', properties: { _csrf: csrfField, code: codeField } } as const

const passwordBody = {
  type: 'object',
  properties: { _csrf: csrfField, current: passwordField, password: passwordField, password2: passwordField },
} as const

const sessionBody = {
  type: 'object',
  properties: { _csrf: csrfField, perangkat: { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$' } },
  required: ['perangkat'],
} as const

/** `pesan` on Keamanan: what was just done there. */
const securityNotices = {
  dihapus: 'akun.security.removed',
  'passkey-ditambah': 'akun.security.passkeyAdded',
  'passkey-diganti': 'akun.security.passkeyRenamed',
  'passkey-dihapus': 'akun.security.passkeyRemoved',
} as const
const securityQuery = {
  type: 'object',
  properties: { pesan: { type: 'string', enum: Object.keys(securityNotices) } },
} as const

const passkeyParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' } },
  required: ['id'],
} as const
/** The authenticator's answer as JSON: a few hundred bytes, a few KB at most. */
const passkeyResponseField = { type: 'string', maxLength: 12000, pattern: oneLine } as const
const passkeyNameField = { type: 'string', maxLength: 240, pattern: oneLine } as const
const passkeyAddBody = {
  type: 'object',
  properties: { _csrf: csrfField, name: passkeyNameField, response: passkeyResponseField },
} as const
const passkeyNameBody = { type: 'object', properties: { _csrf: csrfField, name: passkeyNameField } } as const

/** "ABCD EFGH …": a base32 secret in groups of four, as people type it into an app. */
const clientIdPattern = '^[a-z0-9][a-z0-9.-]{1,63}$'
const revokeBody = {
  type: 'object',
  properties: { _csrf: csrfField, instansi: { type: 'string', pattern: clientIdPattern } },
  required: ['instansi'],
} as const
const agenciesQuery = { type: 'object', properties: { dicabut: { type: 'string', pattern: clientIdPattern } } } as const
const sessionsQuery = { type: 'object', properties: { pesan: { type: 'string', enum: ['keluar'] } } } as const
/** The activity filter (`oleh`): who accessed, by the kind of audit actor (AuditActor). */
const activityFilters = { instansi: 'client', petugas: 'officer' } as const
const activityQuery = {
  type: 'object',
  properties: {
    sebelum: { type: 'string', maxLength: 40, pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' },
    oleh: { type: 'string', enum: Object.keys(activityFilters) },
  },
} as const

const passwordAnchors = [
  ['current', 'current'],
  ['password', 'password'],
  ['password2', 'password2'],
] as const
const contactAnchors = [
  ['email', 'email'],
  ['phone', 'phone'],
] as const

interface SignedIn {
  citizen: Citizen
  /** The provider session of this browser (its id is the session cookie's value). */
  sessionId: string
}

/** What the account pages show of a provider session. */
interface SessionView {
  /** A digest of the session id: the id itself is a cookie value and never goes in a page. */
  handle: string
  thisDevice: boolean
  signedInAt: Date | undefined
  lastUsedAt: Date | undefined
  expiresAt: Date | undefined
  clientIds: string[]
}

interface AgencyView {
  clientId: string
  name: string
  agencyId: string
  scopes: string[]
  since: Date | undefined
  grantIds: string[]
}

function sessionHandle(id: string): string {
  return createHash('sha256').update(id).digest('base64url').slice(0, 22)
}

function epochDate(v: unknown): Date | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? new Date(v * 1000) : undefined
}

/** A moment on an account page, in the regency's zone; "unknown" when there is none. */
function when(t: AccountText, d: Date | undefined, locale: Locale, timeZone: string): string {
  return d === undefined ? t('akun.sessions.unknown') : dateTime(d, locale, timeZone)
}

function scopesOf(payload: Record<string, unknown>): string[] {
  const found = new Set<string>()
  const openid = payload.openid as { scope?: unknown } | undefined
  if (typeof openid?.scope === 'string') for (const s of openid.scope.split(' ')) found.add(s)
  const resources = payload.resources as Record<string, unknown> | undefined
  for (const scope of Object.values(resources ?? {}))
    if (typeof scope === 'string') for (const s of scope.split(' ')) found.add(s)
  return scopeOrder.filter((s) => found.has(s))
}

async function clientNames(
  db: Kysely<Database>,
  ids: Iterable<string>,
): Promise<Map<string, { name: string; agencyId: string }>> {
  const list = [...new Set(ids)]
  const out = new Map<string, { name: string; agencyId: string }>()
  if (list.length === 0) return out
  const rows = await db
    .selectFrom('oidc_clients')
    .select(['client_id', 'name', 'agency_id'])
    .where('client_id', 'in', list)
    .execute()
  for (const r of rows) out.set(r.client_id, { name: r.name, agencyId: r.agency_id })
  return out
}

/**
 * "Akun Saya": the citizen's own pages, plus registration and password reset. One plugin
 * scope with form parsing and CSRF protection, like the sign-in pages (interactions.ts).
 * Who is signed in comes from the provider's own session (account-session.ts): a browser
 * without one is sent through the authorization endpoint as the account client.
 */
export async function accountRoutes(app: FastifyInstance, deps: AccountPagesDeps): Promise<void> {
  const { config, db } = deps

  /** The signed-in citizen's identity level and NIK status (src/accounts/identity.ts). */
  async function identityOrThrow(citizenId: string): Promise<AccountIdentity> {
    const identity = await accountIdentity(db, citizenId)
    if (identity === undefined) throw new Error('the signed-in citizen has no account')
    return identity
  }
  const zone = config.regency.timeZone
  await registerForms(app, config)
  // Changing a contact and downloading the data export need a recent sign-in (fresh-sign-in.ts).
  const fresh = freshSignIn(deps)
  // Changing the factors themselves needs a fresh sign-in with one, once there is one.
  const freshFactor = freshSignIn(deps, {
    atFactorLevel: async (id) => (await hasSecondFactor(db, id)) || (await hasPasskey(db, id)),
  })

  await registrationRoutes(app, deps)
  await passwordResetRoutes(app, deps)

  // -------------------------------------------------------------------------------------
  // Who is signed in

  async function signedIn(req: FastifyRequest, reply: FastifyReply): Promise<SignedIn | undefined> {
    const session = await deps.oidc.browserSession(req, reply)
    if (session === undefined) return undefined
    const citizen = await findCitizenById(db, session.accountId)
    if (!citizen || citizen.status !== 'active') return undefined
    return { citizen, sessionId: session.id }
  }

  /** The signed-in citizen, or undefined after answering with a redirect to sign in. */
  async function requireCitizen(
    req: FastifyRequest,
    reply: FastifyReply,
    returnTo: string,
  ): Promise<SignedIn | undefined> {
    const who = await signedIn(req, reply)
    if (!who) void reply.redirect(accountSignInUrl(config, returnTo), 303)
    return who
  }

  /**
   * After a credential changes (a new password, a factor removed): every other device is
   * signed out, and every token issued until now is withdrawn, refresh tokens too, so
   * nothing signed in with the old credential lives on; this browser keeps its session.
   * Agencies hear of it (back-channel logout), and the gateways refuse the access tokens
   * issued so far in every session, this one's too; this session's new ones pass.
   */
  async function endOtherSessions(req: FastifyRequest, who: SignedIn): Promise<void> {
    await deps.oidc.notifyBackchannelLogout(db, who.citizen.id, req.log, { exceptSessionId: who.sessionId })
    await db.transaction().execute(async (trx) => {
      const sessions = await listPayloadsForAccount(trx, 'Session', who.citizen.id)
      await recordRevokedSessions(
        trx,
        sessions.flatMap((s) => endedSessionOf(s.payload) ?? []),
      )
      for (const s of sessions) if (s.id !== who.sessionId) await destroyPayload(trx, 'Session', s.id)
      await destroyAccountArtifacts(
        trx,
        who.citizen.id,
        credentialArtifacts.filter((m) => m !== 'Session'),
      )
    })
  }

  function context(req: FastifyRequest, who: SignedIn) {
    return { actor: `citizen:${who.citizen.id}` as const, ip: req.ip, requestId: req.id }
  }

  async function sessionsOf(who: SignedIn): Promise<SessionView[]> {
    const rows = await listPayloadsForAccount(db, 'Session', who.citizen.id)
    const { sessionIdleSeconds, sessionAbsoluteSeconds } = config.idp.ttl
    const views = rows.map((r): SessionView => {
      const p = r.payload
      const iat = typeof p.iat === 'number' ? p.iat : undefined
      const exp = typeof p.exp === 'number' ? p.exp : undefined
      // The provider re-saves a session on use with the idle lifetime, capped by the
      // absolute one (provider.ts, ttl.Session): when the idle limit decided the expiry,
      // the last use was exactly that long before it.
      const lastUsed =
        iat !== undefined && exp !== undefined && exp < iat + sessionAbsoluteSeconds
          ? exp - sessionIdleSeconds
          : undefined
      const authorizations = (p.authorizations ?? {}) as Record<string, unknown>
      return {
        handle: sessionHandle(r.id),
        thisDevice: r.id === who.sessionId,
        signedInAt: epochDate(p.loginTs),
        lastUsedAt: lastUsed !== undefined && iat !== undefined && lastUsed >= iat ? epochDate(lastUsed) : undefined,
        expiresAt: r.expiresAt ?? undefined,
        clientIds: Object.keys(authorizations),
      }
    })
    return views.sort(
      (a, b) =>
        Number(b.thisDevice) - Number(a.thisDevice) || (b.signedInAt?.getTime() ?? 0) - (a.signedInAt?.getTime() ?? 0),
    )
  }

  async function agenciesOf(who: SignedIn): Promise<AgencyView[]> {
    const grants = (await listPayloadsForAccount(db, 'Grant', who.citizen.id)).filter(
      (g) => typeof g.payload.clientId === 'string' && g.payload.clientId !== accountClientId,
    )
    const names = await clientNames(
      db,
      grants.map((g) => g.payload.clientId as string),
    )
    const byClient = new Map<string, AgencyView>()
    for (const g of grants) {
      const clientId = g.payload.clientId as string
      const info = names.get(clientId)
      // A grant of a client that has since been removed gives access to nothing.
      if (!info) continue
      const view = byClient.get(clientId) ?? {
        clientId,
        name: info.name,
        agencyId: info.agencyId,
        scopes: [],
        since: undefined,
        grantIds: [],
      }
      view.grantIds.push(g.id)
      view.scopes = scopeOrder.filter((s) => view.scopes.includes(s) || scopesOf(g.payload).includes(s))
      const iat = epochDate(g.payload.iat)
      if (iat && (!view.since || iat < view.since)) view.since = iat
      byClient.set(clientId, view)
    }
    return [...byClient.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  async function activityOf(who: SignedIn, before: Date | undefined, limit: number): Promise<AuditEvent[]> {
    return listAuditForSubject(db, who.citizen.id, { limit, ...(before ? { before } : {}) })
  }

  function purposeOf(jenis: 'email' | 'hp'): { purpose: OneTimeCodePurpose; channel: 'email' | 'sms' } {
    return jenis === 'email'
      ? { purpose: 'verify_email', channel: 'email' }
      : { purpose: 'verify_phone', channel: 'sms' }
  }

  // -------------------------------------------------------------------------------------
  // The callback of the account client, and the overview

  app.get('/akun/kembali', { schema: { querystring: callbackQuery } }, async (req, reply) => {
    const q = req.query as { state?: string; error?: string }
    const target = safeReturnPath(q.state)
    if (q.error !== undefined) {
      const t = accountText(req)
      return reply.page('message', {
        title: t('akun.callback.title'),
        lead: t('akun.callback.lead'),
        primary: { href: accountSignInUrl(config, target), text: t('akun.callback.retry') },
        secondary: { href: '/', text: req.server.idpText(req, 'home.title') },
      })
    }
    return reply.redirect(target, 303)
  })

  app.get('/akun', { schema: { querystring: noticeQuery } }, async (req, reply) => {
    const who = await requireCitizen(req, reply, req.url)
    if (!who) return reply
    const t = accountText(req)
    const locale = pickLocale(req)
    const c = who.citizen
    const identity = await identityOrThrow(c.id)
    const pesan = (req.query as { pesan?: keyof typeof notices }).pesan
    return reply.page('akun-profil', {
      notice: pesan ? t(notices[pesan]) : '',
      name: c.name,
      nik: maskNik(c.nik),
      birthDate: isoDateInWords(c.birthDate, locale),
      gender: c.gender === 'female' ? t('akun.female') : t('akun.male'),
      level: t(`akun.identity.${identity.level}`),
      identity: {
        nikStatus: identity.nikStatus,
        where: identity.proof?.location ?? '',
        when:
          identity.proof === null
            ? ''
            : new Intl.DateTimeFormat(locale === 'en' ? 'en-GB' : 'id-ID', {
                timeZone: config.regency.timeZone,
                dateStyle: 'long',
              }).format(identity.proof.verifiedAt),
      },
      email: c.email,
      emailVerified: c.emailVerified,
      phone: c.phone === null ? null : formatPhone(c.phone),
      phoneVerified: c.phoneVerified,
      csrf: reply.generateCsrf(),
    })
  })

  // -------------------------------------------------------------------------------------
  // Email and phone

  function contactPage(
    reply: FastifyReply,
    values: { email: string; phone: string },
    errors: Record<string, string> = {},
    status = 200,
  ) {
    return reply.page(
      'akun-kontak',
      { csrf: reply.generateCsrf(), values, errors, errorList: errorSummary(errors, contactAnchors) },
      { status },
    )
  }

  app.get('/akun/kontak', { preHandler: fresh }, async (req, reply) => {
    const who = await requireCitizen(req, reply, '/akun/kontak')
    if (!who) return reply
    return contactPage(reply, {
      email: who.citizen.email ?? '',
      phone: who.citizen.phone === null ? '' : formatPhone(who.citizen.phone),
    })
  })

  app.post(
    '/akun/kontak',
    { schema: { body: contactBody }, attachValidation: true, preHandler: [app.csrfProtection, fresh] },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, '/akun/kontak')
      if (!who) return reply
      const t = accountText(req)
      const invalid = invalidFields(req)
      const v = formValues(req, ['email', 'phone'], invalid)
      const errors: Record<string, string> = {}
      for (const f of invalid) if (f === 'email' || f === 'phone') errors[f] = t('forms.invalidInput')
      if (Object.keys(errors).length > 0) return contactPage(reply, v, errors, 400)
      let updated: Citizen
      try {
        updated = await updateProfile(
          db,
          who.citizen.id,
          { email: v.email.trim() === '' ? null : v.email, phone: v.phone.trim() === '' ? null : v.phone },
          { ...context(req, who), noticeOptions: noticeOptionsOf(config) },
        )
      } catch (err) {
        if (!isAccountError(err)) throw err
        const field = err.field === 'phone' ? 'phone' : 'email'
        return contactPage(reply, v, { [field]: accountErrorText(req, err) }, accountErrorStatus(err))
      }
      // A new address is unverified until the code sent to it comes back.
      const emailChanged = updated.email !== null && updated.email !== who.citizen.email
      const phoneChanged = updated.phone !== null && updated.phone !== who.citizen.phone
      const jenis = emailChanged ? 'email' : phoneChanged ? 'hp' : undefined
      if (jenis === undefined) return reply.redirect('/akun?pesan=disimpan', 303)
      const { purpose, channel } = purposeOf(jenis)
      const destination = (jenis === 'email' ? updated.email : updated.phone) ?? ''
      await issueOtp(
        db,
        { citizenId: updated.id, purpose, channel, destination },
        { ip: req.ip, requestId: req.id, secret: deps.otpSecret },
      )
      return reply.redirect(`/akun/verifikasi?jenis=${jenis}`, 303)
    },
  )

  function accountVerifyPage(
    reply: FastifyReply,
    jenis: 'email' | 'hp',
    destination: string,
    extra: { error?: string; notice?: string; status?: number } = {},
  ) {
    return reply.page(
      'verify',
      {
        action: `/akun/verifikasi?jenis=${jenis}`,
        resendAction: `/akun/verifikasi/kirim?jenis=${jenis}`,
        csrf: reply.generateCsrf(),
        destination: maskContact(destination),
        minutes: minutesFrom(defaultOtpPolicy.lifetimeSeconds),
        error: extra.error ?? '',
        notice: extra.notice ?? '',
        laterNote: false,
        backHref: '/akun',
        // The hint for a late code is worded for the way it was sent.
        channel: purposeOf(jenis).channel,
      },
      { status: extra.status ?? 200 },
    )
  }

  /** The unverified address of that kind, if the account has one. */
  function unverified(c: Citizen, jenis: 'email' | 'hp'): string | undefined {
    if (jenis === 'email') return c.email !== null && !c.emailVerified ? c.email : undefined
    return c.phone !== null && !c.phoneVerified ? c.phone : undefined
  }

  app.get('/akun/verifikasi', { schema: { querystring: kindQuery } }, async (req, reply) => {
    const who = await requireCitizen(req, reply, req.url)
    if (!who) return reply
    const q = req.query as { jenis: 'email' | 'hp'; terkirim?: string }
    const destination = unverified(who.citizen, q.jenis)
    if (destination === undefined) return reply.redirect('/akun', 303)
    return accountVerifyPage(
      reply,
      q.jenis,
      destination,
      q.terkirim === '1' ? { notice: accountText(req)('verify.resent') } : {},
    )
  })

  app.post(
    '/akun/verifikasi',
    { schema: { querystring: kindQuery, body: codeBody }, attachValidation: true, preHandler: app.csrfProtection },
    async (req, reply) => {
      const jenis = (req.query as { jenis?: 'email' | 'hp' }).jenis
      const who = await requireCitizen(req, reply, jenis ? `/akun/verifikasi?jenis=${jenis}` : '/akun')
      if (!who) return reply
      if (jenis === undefined) throw new AppError('bad_request')
      const t = accountText(req)
      const destination = unverified(who.citizen, jenis)
      if (destination === undefined) return reply.redirect('/akun', 303)
      const { code } = formValues(req, ['code'], invalidFields(req))
      if (code.trim() === '')
        return accountVerifyPage(reply, jenis, destination, { error: t('forms.codeRequired'), status: 400 })
      const { purpose } = purposeOf(jenis)
      const result = await verifyOtp(
        db,
        { citizenId: who.citizen.id, purpose, code },
        { ip: req.ip, requestId: req.id, secret: deps.otpSecret },
      )
      if (!result.ok)
        return accountVerifyPage(reply, jenis, destination, { error: codeFailureText(t, result), status: 400 })
      const mark = jenis === 'email' ? markEmailVerified : markPhoneVerified
      try {
        await mark(db, who.citizen.id, result.destination, context(req, who))
      } catch (err) {
        // Verified on another account first: said only to whoever holds the code.
        if (!isAccountError(err)) throw err
        return accountVerifyPage(reply, jenis, destination, {
          error: accountErrorText(req, err),
          status: accountErrorStatus(err),
        })
      }
      return reply.redirect('/akun?pesan=terverifikasi', 303)
    },
  )

  app.post(
    '/akun/verifikasi/kirim',
    {
      schema: { querystring: kindQuery, body: csrfOnlyBody },
      preHandler: app.csrfProtection,
      config: { pageOnGet: (req) => `/akun/verifikasi?jenis=${(req.query as { jenis: string }).jenis}` },
    },
    async (req, reply) => {
      const jenis = (req.query as { jenis: 'email' | 'hp' }).jenis
      const who = await requireCitizen(req, reply, `/akun/verifikasi?jenis=${jenis}`)
      if (!who) return reply
      const destination = unverified(who.citizen, jenis)
      if (destination === undefined) return reply.redirect('/akun', 303)
      const { purpose, channel } = purposeOf(jenis)
      const sent = await issueOtp(
        db,
        { citizenId: who.citizen.id, purpose, channel, destination },
        { ip: req.ip, requestId: req.id, secret: deps.otpSecret },
      )
      if (!sent.ok) {
        reply.header('retry-after', String(sent.retryAfterSeconds))
        const t = accountText(req)
        return accountVerifyPage(reply, jenis, destination, {
          error: t('verify.wait', { minutes: minutesFrom(sent.retryAfterSeconds) }),
          status: 429,
        })
      }
      return reply.redirect(`/akun/verifikasi?jenis=${jenis}&terkirim=1`, 303)
    },
  )

  // -------------------------------------------------------------------------------------
  // Password

  function passwordPage(reply: FastifyReply, errors: Record<string, string> = {}, status = 200) {
    return reply.page(
      'akun-sandi',
      { csrf: reply.generateCsrf(), errors, errorList: errorSummary(errors, passwordAnchors), username: '' },
      { status },
    )
  }

  app.get('/akun/sandi', async (req, reply) => {
    const who = await requireCitizen(req, reply, '/akun/sandi')
    if (!who) return reply
    return passwordPage(reply)
  })

  app.post(
    '/akun/sandi',
    { schema: { body: passwordBody }, attachValidation: true, preHandler: app.csrfProtection },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, '/akun/sandi')
      if (!who) return reply
      const t = accountText(req)
      const invalid = invalidFields(req)
      const v = formValues(req, ['current', 'password', 'password2'], invalid)
      const errors: Record<string, string> = {}
      for (const f of invalid)
        if (f === 'current' || f === 'password' || f === 'password2') errors[f] = t('forms.invalidInput')
      if (!errors.current && v.current === '') errors.current = t('akun.password.currentRequired')
      if (!errors.password && v.password === '') errors.password = t('forms.passwordRequired')
      if (!errors.password2 && !errors.password) {
        if (v.password2 === '') errors.password2 = t('forms.password2Required')
        else if (v.password2 !== v.password) errors.password2 = t('forms.password2Mismatch')
      }
      if (Object.keys(errors).length > 0) return passwordPage(reply, errors, 400)

      // Re-authentication through the ordinary sign-in check: the same throttling, the same
      // audit trail, so the current password cannot be guessed here faster than at sign-in.
      let check: Awaited<ReturnType<typeof authenticateCitizen>>
      try {
        check = await authenticateCitizen(db, who.citizen.nik, v.current, {
          accountId: who.citizen.id,
          ip: req.ip,
          regencyName: config.regency.name,
          requestId: req.id,
        })
      } catch (err) {
        if (isAccountError(err))
          return passwordPage(reply, { current: accountErrorText(req, err) }, accountErrorStatus(err))
        throw err
      }
      if (!check.ok && check.reason === 'throttled') {
        reply.header('retry-after', String(check.retryAfterSeconds))
        return passwordPage(
          reply,
          { current: t('akun.password.throttled', { minutes: minutesFrom(check.retryAfterSeconds) }) },
          429,
        )
      }
      if (!check.ok || check.citizen.id !== who.citizen.id)
        return passwordPage(reply, { current: t('akun.password.currentWrong') }, 400)
      try {
        await setCitizenPassword(db, who.citizen.id, v.password, {
          ...context(req, who),
          regencyName: config.regency.name,
          noticeOptions: noticeOptionsOf(config),
        })
      } catch (err) {
        if (!isAccountError(err)) throw err
        return passwordPage(reply, { password: accountErrorText(req, err) }, accountErrorStatus(err))
      }
      await endOtherSessions(req, who)
      return reply.redirect('/akun?pesan=sandi', 303)
    },
  )

  // -------------------------------------------------------------------------------------
  // Security: two-step sign-in (an authenticator app, TOTP) and recovery codes. Looking
  // is open to the signed-in citizen; every change needs a fresh sign-in (fresh-sign-in.ts,
  // docs/security.md line 35) and is told to the citizen's verified contacts.

  function factorContext(req: FastifyRequest) {
    return { ip: req.ip, requestId: req.id, noticeOptions: noticeOptionsOf(config) }
  }

  /** The recovery codes, once: never cached, never shown again. */
  function recoveryCodesPage(reply: FastifyReply, codes: readonly string[], renewed: boolean) {
    reply.header('cache-control', 'no-store')
    return reply.page('akun-kode-pemulihan', { codes: codes.map(formatRecoveryCode), renewed })
  }

  async function totpPage(
    req: FastifyRequest,
    reply: FastifyReply,
    who: SignedIn,
    extra: { error?: string; status?: number } = {},
  ) {
    const enrolment = await pendingTotpEnrolment(db, deps.secondFactors, who.citizen.id, who.citizen.name)
    if (!enrolment) return reply.redirect('/akun/keamanan', 303)
    reply.header('cache-control', 'no-store')
    return reply.page(
      'akun-totp',
      { csrf: reply.generateCsrf(), ...(await totpEnrolmentView(enrolment)), error: extra.error ?? '' },
      { status: extra.status ?? 200 },
    )
  }

  app.get('/akun/keamanan', { schema: { querystring: securityQuery } }, async (req, reply) => {
    const who = await requireCitizen(req, reply, '/akun/keamanan')
    if (!who) return reply
    const t = accountText(req)
    const status = await secondFactorStatus(db, who.citizen.id)
    const pesan = (req.query as { pesan?: keyof typeof securityNotices }).pesan
    return reply.page('akun-keamanan', {
      csrf: reply.generateCsrf(),
      notice: pesan ? t(securityNotices[pesan]) : '',
      passkeys: (await listPasskeys(db, who.citizen.id)).map((p) => passkeyView(t, pickLocale(req), p)),
      totp: status.totp,
      since: when(t, status.totpSince ?? undefined, pickLocale(req), zone),
      codesLeft: status.recoveryCodesLeft,
      // Prompt to set up again after a recovery code was used (the phone may be lost).
      codesLow: status.totp && status.recoveryCodesLeft < 10,
    })
  })

  app.get('/akun/keamanan/aplikasi', { preHandler: freshFactor }, async (req, reply) => {
    const who = await requireCitizen(req, reply, '/akun/keamanan/aplikasi')
    if (!who) return reply
    return totpPage(req, reply, who)
  })

  app.post(
    '/akun/keamanan/aplikasi',
    { schema: { body: codeBody }, attachValidation: true, preHandler: [app.csrfProtection, freshFactor] },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, '/akun/keamanan/aplikasi')
      if (!who) return reply
      const t = accountText(req)
      const { code } = formValues(req, ['code'], invalidFields(req))
      if (code.trim() === '') return totpPage(req, reply, who, { error: t('akun.totp.codeRequired'), status: 400 })
      const result = await confirmTotpEnrolment(db, deps.secondFactors, who.citizen.id, code, factorContext(req))
      if (!result.ok) {
        if (result.reason === 'throttled') {
          reply.header('retry-after', String(result.retryAfterSeconds))
          return totpPage(req, reply, who, {
            error: t('akun.totp.throttled', { minutes: minutesFrom(result.retryAfterSeconds) }),
            status: 429,
          })
        }
        return totpPage(req, reply, who, { error: t('akun.totp.wrong'), status: 400 })
      }
      return recoveryCodesPage(reply, result.recoveryCodes, false)
    },
  )

  app.get('/akun/keamanan/aplikasi/hapus', { preHandler: freshFactor }, async (req, reply) => {
    const who = await requireCitizen(req, reply, '/akun/keamanan/aplikasi/hapus')
    if (!who) return reply
    if (!(await secondFactorStatus(db, who.citizen.id)).totp) return reply.redirect('/akun/keamanan', 303)
    return reply.page('akun-totp-hapus', { csrf: reply.generateCsrf() })
  })

  app.post(
    '/akun/keamanan/aplikasi/hapus',
    { schema: { body: csrfOnlyBody }, preHandler: [app.csrfProtection, freshFactor] },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, '/akun/keamanan/aplikasi/hapus')
      if (!who) return reply
      const removed = await removeTotp(db, who.citizen.id, factorContext(req))
      // What the app signed in elsewhere (a lost phone's sessions, their refresh tokens) ends.
      if (removed) await endOtherSessions(req, who)
      return reply.redirect(removed ? '/akun/keamanan?pesan=dihapus' : '/akun/keamanan', 303)
    },
  )

  app.post(
    '/akun/keamanan/pemulihan',
    {
      schema: { body: csrfOnlyBody },
      preHandler: [app.csrfProtection, freshFactor],
      config: { pageOnGet: () => '/akun/keamanan' },
    },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, '/akun/keamanan')
      if (!who) return reply
      const codes = await renewRecoveryCodes(db, deps.secondFactors, who.citizen.id, factorContext(req))
      if (codes === undefined) return reply.redirect('/akun/keamanan', 303)
      return recoveryCodesPage(reply, codes, true)
    },
  )

  // -------------------------------------------------------------------------------------
  // Passkeys (src/accounts/passkeys.ts): listed on Keamanan; adding, renaming and removing
  // one need a fresh sign-in, like the authenticator app, and each is told to the citizen.
  // Adding needs JavaScript (WebAuthn has no HTML form): that page alone loads our script,
  // under a CSP that allows script-src 'self' on it only (views.ts, PageOptions.scripts).
  // A challenge for adding is bound to this browser's session and to the account.

  const rp = relyingPartyOf(config)
  const registrationBinding = (who: SignedIn) => `session:${who.sessionId}`

  function passkeyView(t: AccountText, locale: Locale, p: PasskeyView) {
    return {
      name: p.name,
      kind: p.synced ? t('akun.passkeys.synced') : t('akun.passkeys.deviceBound'),
      created: t('akun.passkeys.created', { time: when(t, p.createdAt, locale, zone) }),
      lastUsed: p.lastUsedAt
        ? t('akun.passkeys.lastUsed', { time: when(t, p.lastUsedAt, locale, zone) })
        : t('akun.passkeys.neverUsed'),
      href: `/akun/keamanan/passkey/${p.id}`,
    }
  }

  function addPasskeyPage(reply: FastifyReply, extra: { error?: string; name?: string; status?: number } = {}) {
    reply.header('cache-control', 'no-store')
    return reply.page(
      'akun-passkey-tambah',
      { csrf: reply.generateCsrf(), error: extra.error ?? '', name: extra.name ?? '', scripts: passkeyScripts },
      { status: extra.status ?? 200, scripts: true },
    )
  }

  app.get('/akun/keamanan/passkey', { preHandler: freshFactor }, async (req, reply) => {
    const who = await requireCitizen(req, reply, '/akun/keamanan/passkey')
    if (!who) return reply
    return addPasskeyPage(reply)
  })

  app.post(
    '/akun/keamanan/passkey/opsi',
    {
      schema: { body: csrfOnlyBody },
      preHandler: [app.csrfProtection, freshFactor],
      config: { pageOnGet: () => '/akun/keamanan/passkey' },
    },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, '/akun/keamanan/passkey')
      if (!who) return reply
      const c = who.citizen
      // What the authenticator shows in its account list: a contact the citizen knows,
      // never the NIK.
      const userName = c.email ?? (c.phone ? formatPhone(c.phone) : c.name)
      const options = await registrationOptions(
        db,
        rp,
        { id: c.id, userName, displayName: c.name },
        registrationBinding(who),
      )
      return reply.header('cache-control', 'no-store').send(options)
    },
  )

  app.post(
    '/akun/keamanan/passkey',
    { schema: { body: passkeyAddBody }, attachValidation: true, preHandler: [app.csrfProtection, freshFactor] },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, '/akun/keamanan/passkey')
      if (!who) return reply
      const t = accountText(req)
      const { name, response } = formValues(req, ['name', 'response'], invalidFields(req))
      const result = await finishRegistration(
        db,
        rp,
        who.citizen.id,
        registrationBinding(who),
        response,
        name,
        factorContext(req),
      )
      if (!result.ok) {
        req.log.info({ reason: result.reason }, 'passkey registration refused')
        const error =
          result.reason === 'duplicate'
            ? t('akun.passkey.duplicate')
            : result.reason === 'too_many'
              ? t('akun.passkey.tooMany', { n: maxPasskeysPerAccount })
              : t('akun.passkey.failed')
        return addPasskeyPage(reply, { error, name, status: 400 })
      }
      return reply.redirect('/akun/keamanan?pesan=passkey-ditambah', 303)
    },
  )

  async function passkeyOf(req: FastifyRequest, reply: FastifyReply, returnTo: string) {
    const who = await requireCitizen(req, reply, returnTo)
    if (!who) return undefined
    const passkey = await findPasskey(db, who.citizen.id, (req.params as { id: string }).id)
    // Another account's passkey, or one gone: the same as no such page.
    if (!passkey) {
      void reply.redirect('/akun/keamanan', 303)
      return undefined
    }
    return { who, passkey }
  }

  function editPasskeyPage(
    req: FastifyRequest,
    reply: FastifyReply,
    passkey: PasskeyView,
    extra: { error?: string; status?: number } = {},
  ) {
    const t = accountText(req)
    return reply.page(
      'akun-passkey',
      { csrf: reply.generateCsrf(), passkey: passkeyView(t, pickLocale(req), passkey), error: extra.error ?? '' },
      { status: extra.status ?? 200 },
    )
  }

  app.get(
    '/akun/keamanan/passkey/:id',
    { schema: { params: passkeyParams }, preHandler: freshFactor },
    async (req, reply) => {
      const found = await passkeyOf(req, reply, req.url)
      if (!found) return reply
      return editPasskeyPage(req, reply, found.passkey)
    },
  )

  app.post(
    '/akun/keamanan/passkey/:id/nama',
    {
      schema: { params: passkeyParams, body: passkeyNameBody },
      attachValidation: true,
      preHandler: [app.csrfProtection, freshFactor],
      config: { pageOnGet: (req) => `/akun/keamanan/passkey/${(req.params as { id: string }).id}` },
    },
    async (req, reply) => {
      const found = await passkeyOf(req, reply, '/akun/keamanan')
      if (!found) return reply
      const t = accountText(req)
      const { name } = formValues(req, ['name'], invalidFields(req))
      const renamed = await renamePasskey(db, found.who.citizen.id, found.passkey.id, name, factorContext(req))
      if (!renamed)
        return editPasskeyPage(req, reply, found.passkey, { error: t('akun.passkey.nameRequired'), status: 400 })
      return reply.redirect('/akun/keamanan?pesan=passkey-diganti', 303)
    },
  )

  app.get(
    '/akun/keamanan/passkey/:id/hapus',
    { schema: { params: passkeyParams }, preHandler: freshFactor },
    async (req, reply) => {
      const found = await passkeyOf(req, reply, req.url)
      if (!found) return reply
      return reply.page('akun-passkey-hapus', {
        csrf: reply.generateCsrf(),
        name: found.passkey.name,
        action: `/akun/keamanan/passkey/${found.passkey.id}/hapus`,
      })
    },
  )

  app.post(
    '/akun/keamanan/passkey/:id/hapus',
    { schema: { params: passkeyParams, body: csrfOnlyBody }, preHandler: [app.csrfProtection, freshFactor] },
    async (req, reply) => {
      const found = await passkeyOf(req, reply, '/akun/keamanan')
      if (!found) return reply
      await removePasskey(db, found.who.citizen.id, found.passkey.id, factorContext(req))
      // What the passkey signed in elsewhere (sessions, their refresh tokens) ends with it.
      await endOtherSessions(req, found.who)
      return reply.redirect('/akun/keamanan?pesan=passkey-dihapus', 303)
    },
  )

  // -------------------------------------------------------------------------------------
  // Devices (provider sessions)

  app.get('/akun/perangkat', { schema: { querystring: sessionsQuery } }, async (req, reply) => {
    const who = await requireCitizen(req, reply, '/akun/perangkat')
    if (!who) return reply
    const t = accountText(req)
    const locale = pickLocale(req)
    const sessions = await sessionsOf(who)
    const names = await clientNames(
      db,
      sessions.flatMap((s) => s.clientIds),
    )
    return reply.page('akun-perangkat', {
      csrf: reply.generateCsrf(),
      notice: (req.query as { pesan?: string }).pesan === 'keluar' ? t('akun.sessions.signedOutOne') : '',
      sessions: sessions.map((s, i) => ({
        handle: s.handle,
        title: s.thisDevice
          ? t('akun.sessions.thisDevice')
          : t('akun.sessions.item', { n: sessions[0]?.thisDevice ? i : i + 1 }),
        thisDevice: s.thisDevice,
        signedInAt: when(t, s.signedInAt, locale, zone),
        lastUsedAt: s.lastUsedAt ? when(t, s.lastUsedAt, locale, zone) : '',
        usedFor: s.clientIds.map((id) => names.get(id)?.name ?? id).join(', '),
      })),
    })
  })

  app.post(
    '/akun/perangkat/keluar',
    { schema: { body: sessionBody }, preHandler: app.csrfProtection, config: { pageOnGet: () => '/akun/perangkat' } },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, '/akun/perangkat')
      if (!who) return reply
      const handle = (req.body as { perangkat: string }).perangkat
      const rows = await listPayloadsForAccount(db, 'Session', who.citizen.id)
      const target = rows.find((r) => sessionHandle(r.id) === handle && r.id !== who.sessionId)
      if (target) {
        await deps.oidc.notifyBackchannelLogout(db, who.citizen.id, req.log, { onlySessionId: target.id })
        await db.transaction().execute(async (trx) => {
          await destroyPayload(trx, 'Session', target.id)
          await recordRevokedSessions(
            trx,
            [target].flatMap((s) => endedSessionOf(s.payload) ?? []),
          )
          await recordAudit(trx, {
            event: 'auth.logout',
            ...context(req, who),
            subjectId: who.citizen.id,
            data: { scope: 'other_device' },
          })
        })
      }
      return reply.redirect('/akun/perangkat?pesan=keluar', 303)
    },
  )

  app.post(
    '/akun/perangkat/keluar-semua',
    { schema: { body: csrfOnlyBody }, preHandler: app.csrfProtection, config: { pageOnGet: () => '/akun/perangkat' } },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, '/akun/perangkat')
      if (!who) return reply
      await deps.oidc.notifyBackchannelLogout(db, who.citizen.id, req.log)
      await db.transaction().execute(async (trx) => {
        await destroyAccountArtifacts(trx, who.citizen.id, credentialArtifacts)
        await recordAudit(trx, {
          event: 'auth.logout',
          ...context(req, who),
          subjectId: who.citizen.id,
          data: { scope: 'all_devices' },
        })
      })
      return reply.redirect('/akun/keluar-semua', 303)
    },
  )

  app.get('/akun/keluar-semua', async (req, reply) => {
    const t = accountText(req)
    return reply.page('message', {
      kind: 'success',
      title: t('akun.sessions.allDone.title'),
      lead: t('akun.sessions.allDone.lead'),
      primary: { href: '/akun', text: t('akun.sessions.allDone.continue') },
    })
  })

  // -------------------------------------------------------------------------------------
  // Agencies with access (grants)

  app.get('/akun/instansi', { schema: { querystring: agenciesQuery } }, async (req, reply) => {
    const who = await requireCitizen(req, reply, '/akun/instansi')
    if (!who) return reply
    const t = accountText(req)
    const locale = pickLocale(req)
    const agencies = await agenciesOf(who)
    const revoked = (req.query as { dicabut?: string }).dicabut
    const revokedName = revoked ? ((await clientNames(db, [revoked])).get(revoked)?.name ?? revoked) : undefined
    return reply.page('akun-instansi', {
      csrf: reply.generateCsrf(),
      notice: revokedName ? t('akun.agencies.revoked', { client: revokedName }) : '',
      agencies: agencies.map((a) => ({
        clientId: a.clientId,
        name: a.name,
        since: when(t, a.since, locale, zone),
        items: a.scopes.map((s) => scopeItems[s]).filter((x): x is string => x !== undefined),
      })),
    })
  })

  app.post(
    '/akun/instansi/cabut',
    { schema: { body: revokeBody }, preHandler: app.csrfProtection, config: { pageOnGet: () => '/akun/instansi' } },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, '/akun/instansi')
      if (!who) return reply
      const clientId = (req.body as { instansi: string }).instansi
      const grants = (await listPayloadsForAccount(db, 'Grant', who.citizen.id)).filter(
        (g) => g.payload.clientId === clientId,
      )
      if (grants.length === 0 || clientId === accountClientId) return reply.redirect('/akun/instansi', 303)
      // Every session of the citizen at that client, for the gateways: the app's JWT access
      // tokens are checked there, not here (session-revocation.ts).
      const sessions = (await listPayloadsForAccount(db, 'Session', who.citizen.id)).flatMap((s) => {
        const ended = endedSessionOf(s.payload)
        return ended !== undefined && ended.clientIds.includes(clientId)
          ? [{ uid: ended.uid, clientIds: [clientId] }]
          : []
      })
      // The grant and everything issued under it go together, with the audit entry.
      await db.transaction().execute(async (trx) => {
        await recordRevokedSessions(trx, sessions)
        for (const g of grants) {
          for (const model of grantArtifacts) await revokePayloadsByGrantId(trx, model, g.id)
          await destroyPayload(trx, 'Grant', g.id)
        }
        await recordAudit(trx, { event: 'consent.revoked', ...context(req, who), subjectId: who.citizen.id, clientId })
      })
      return reply.redirect(`/akun/instansi?dicabut=${encodeURIComponent(clientId)}`, 303)
    },
  )

  // -------------------------------------------------------------------------------------
  // Activity (audit trail)

  /** One entry of the trail in the citizen's words: what happened, to what, by whom (display-names.ts). */
  function describeEvent(
    t: AccountText,
    names: DisplayNames,
    who: SignedIn,
    e: AuditEvent,
    locale: Locale,
  ): { what: string; by: string | undefined } {
    const data = (e.data ?? {}) as Record<string, unknown>
    const text = (k: string): string | undefined => (typeof data[k] === 'string' ? (data[k] as string) : undefined)
    const document = names.documentType(text('type') ?? '')
    // Document events name the agency by its id (links are per agency); the others name an OIDC client.
    const agencyId = text('agencyId') ?? e.client_id ?? ''
    const agency = names.agency(agencyId)
    const service = names.service(agencyId, text('serviceId'))
    const client = e.client_id ? names.client(e.client_id) : undefined
    let by: string | undefined
    // A failed or held-back sign-in names the account it tried, not who tried it.
    if (e.event === 'auth.login.failed' || e.event === 'auth.login.throttled') by = t('akun.activity.byAnonymous')
    else if (e.actor === `citizen:${who.citizen.id}`) by = t('akun.activity.byYou')
    else if (e.actor.startsWith('officer:')) by = t('akun.activity.byOfficer')
    else if (e.actor.startsWith('client:')) by = names.actor(e.actor.slice(7))
    else if (e.actor === 'cli') by = t('akun.activity.byCli')
    else if (e.actor === 'anonymous') by = t('akun.activity.byAnonymous')
    else by = t('akun.activity.bySystem')
    const byAgency = e.actor.startsWith('client:')
    switch (e.event) {
      case 'document.fetched':
        return {
          what: service ? t('act.fetchedFor', { document, agency, service }) : t('act.fetched', { document, agency }),
          by: undefined,
        }
      case 'document.fetch_refused': {
        const reason = text('reason')
        const why =
          reason === 'revoked'
            ? t('act.refused.revoked')
            : reason === 'deleted'
              ? t('act.refused.deleted')
              : t('act.refused.other')
        return { what: t('act.refused', { document, agency, why }), by: undefined }
      }
      case 'document.grant_created': {
        const types = Array.isArray(data.documentTypes)
          ? data.documentTypes.filter((x): x is string => typeof x === 'string')
          : []
        const documents = types.map((x) => names.documentType(x)).join(', ') || document
        return {
          what: service ? t('act.grantedFor', { documents, agency, service }) : t('act.granted', { documents, agency }),
          by,
        }
      }
      case 'document.grant_revoked':
        return { what: service ? t('act.grantRevokedFor', { agency, service }) : t('act.grantRevoked', { agency }), by }
      case 'document.uploaded':
        return { what: t('act.uploaded', { document }), by }
      case 'document.deleted':
        return { what: t('act.deleted', { document }), by }
      case 'document.verified':
        return { what: t('act.verified', { document }), by }
      case 'document.purged':
        return { what: t('act.purged', { document }), by }
      case 'citizen.looked_up': {
        // A look-up at the counter (issue 15) names the officer, the counter and the reason.
        const officer = text('officerName')
        const counter = text('counterName')
        const location = text('location')
        const reason = text('reason')
        if (officer && counter && location && reason && isLookupReason(reason))
          return {
            what: t('act.lookedUp', { officer, counter, location, reason: lookupReasons[reason][locale] }),
            by: undefined,
          }
        break
      }
      default:
        break
    }
    if (client !== undefined) {
      if (e.event === 'consent.granted') return { what: t('act.consentGranted', { client }), by }
      if (e.event === 'consent.revoked') return { what: t('act.consentRevoked', { client }), by }
      if (e.event === 'token.issued') return { what: t('act.tokenIssued', { client }), by: byAgency ? undefined : by }
      if (e.event === 'token.revoked') return { what: t('act.tokenRevoked', { client }), by }
    }
    // A passkey added or removed is told as such, not as two-step sign-in turned on or off.
    const passkeyEvent =
      data.factor === 'passkey' &&
      (e.event === 'account.second_factor_added' || e.event === 'account.second_factor_removed')
    const key = passkeyEvent
      ? e.event === 'account.second_factor_added'
        ? 'event.account.passkey_added'
        : 'event.account.passkey_removed'
      : `event.${e.event}`
    const base = t.has(key) ? (t as unknown as (k: string) => string)(key) : t('event.other', { event: e.event })
    return { what: client ? t('event.withClient', { label: base, client }) : base, by }
  }

  /** The trail grouped by day, in the regency's time zone. */
  async function activityView(req: FastifyRequest, who: SignedIn, events: AuditEvent[]) {
    const t = accountText(req)
    const locale = pickLocale(req)
    const timeZone = config.regency.timeZone
    const names = await loadDisplayNames(db, config, locale, await listGrants(db, who.citizen.id))
    const items = events.map((e) => {
      const { what, by } = describeEvent(t, names, who, e, locale)
      const when = clockTime(e.at, locale, timeZone)
      const parts = [
        when,
        ...(by !== undefined ? [t('akun.activity.by', { by })] : []),
        ...(e.ip ? [t('akun.activity.ip', { ip: e.ip })] : []),
      ]
      return { at: e.at, what, meta: parts.join(' · ') }
    })
    return groupByDay(items, (i) => i.at, locale, timeZone)
  }

  app.get('/akun/aktivitas', { schema: { querystring: activityQuery } }, async (req, reply) => {
    const who = await requireCitizen(req, reply, req.url)
    if (!who) return reply
    const t = accountText(req)
    const pageSize = 30
    const q = req.query as { sebelum?: string; oleh?: keyof typeof activityFilters }
    const before = q.sebelum !== undefined && !Number.isNaN(Date.parse(q.sebelum)) ? new Date(q.sebelum) : undefined
    const filter = q.oleh
    const actorKind = filter === undefined ? undefined : activityFilters[filter]
    const events = await listAuditForSubject(db, who.citizen.id, {
      limit: pageSize + 1,
      ...(before ? { before } : {}),
      ...(actorKind ? { actorKind } : {}),
    })
    const shown = events.slice(0, pageSize)
    const last = shown[shown.length - 1]
    const href = (params: Record<string, string | undefined>) => {
      const s = new URLSearchParams(
        Object.entries(params).filter((kv): kv is [string, string] => kv[1] !== undefined),
      ).toString()
      return s === '' ? '/akun/aktivitas' : `/akun/aktivitas?${s}`
    }
    return reply.page('akun-aktivitas', {
      days: await activityView(req, who, shown),
      filters: [
        { href: href({}), text: t('akun.activity.filter.all'), current: filter === undefined },
        { href: href({ oleh: 'instansi' }), text: t('akun.activity.filter.agencies'), current: filter === 'instansi' },
        { href: href({ oleh: 'petugas' }), text: t('akun.activity.filter.officers'), current: filter === 'petugas' },
      ],
      none:
        filter === 'instansi'
          ? t('akun.activity.noneAgencies')
          : filter === 'petugas'
            ? t('akun.activity.noneOfficers')
            : t('akun.activity.none'),
      olderHref: events.length > pageSize && last ? href({ oleh: filter, sebelum: last.at.toISOString() }) : '',
      newestHref: before ? href({ oleh: filter }) : '',
    })
  })

  // -------------------------------------------------------------------------------------
  // Download my data (UU PDP No. 27/2022, the right of access)

  app.get('/akun/data', { preHandler: fresh }, async (req, reply) => {
    const who = await requireCitizen(req, reply, '/akun/data')
    if (!who) return reply
    return reply.page('akun-data', { csrf: reply.generateCsrf() })
  })

  // A readable summary beside the JSON: the same data in plain words, one page that
  // prints well (print styles in satupintu.css: no navigation, sections kept whole).
  // Only for the citizen signed in here, after a recent sign-in, never cached.
  app.get('/akun/data/ringkasan', { preHandler: fresh }, async (req, reply) => {
    const who = await requireCitizen(req, reply, '/akun/data/ringkasan')
    if (!who) return reply
    const t = accountText(req)
    const locale = pickLocale(req)
    const c = who.citizen
    const [agencies, grants, docs, events] = await Promise.all([
      agenciesOf(who),
      listGrants(db, c.id),
      listDocuments(db, c.id),
      listAuditForSubject(db, c.id, { limit: 100 }),
    ])
    const names = await loadDisplayNames(db, config, locale, grants)
    const verifiedText = (v: boolean) => (v ? t('akun.verified') : t('akun.unverified'))
    await recordAudit(db, {
      event: 'data.exported',
      ...context(req, who),
      subjectId: c.id,
      data: { format: 'summary', activityEntries: events.length },
    })
    return reply.page('akun-ringkasan', {
      exportedAt: when(t, new Date(), locale, zone),
      profile: [
        [t('akun.name'), c.name],
        [t('akun.nik'), c.nik],
        [t('akun.birthDate'), isoDateInWords(c.birthDate, locale)],
        [t('akun.gender'), c.gender === 'female' ? t('akun.female') : t('akun.male')],
        [t('akun.email'), c.email ? `${c.email} (${verifiedText(c.emailVerified)})` : t('akun.empty')],
        [t('akun.phone'), c.phone ? `${formatPhone(c.phone)} (${verifiedText(c.phoneVerified)})` : t('akun.empty')],
        [t('akun.level'), t(`akun.identity.${(await identityOrThrow(c.id)).level}`)],
        [t('akun.summary.created'), when(t, c.createdAt, locale, zone)],
      ],
      documents: docs.map((d) => ({
        name: names.documentType(d.type),
        detail: t('akun.summary.documentDetail', {
          n: d.current.version,
          time: when(t, d.current.uploadedAt, locale, zone),
        }),
        status: d.current.verified ? t('akun.summary.documentVerified') : t('akun.summary.documentUnverified'),
      })),
      agencies: agencies.map((a) => ({
        name: names.client(a.clientId),
        since: when(t, a.since, locale, zone),
        items: a.scopes.map((sc) => scopeItems[sc]).filter((x): x is string => x !== undefined),
      })),
      grants: grants.map((g) => {
        const service = names.service(g.agencyId, g.serviceId)
        const documents = g.documentTypes.map((x) => names.documentType(x)).join(', ')
        return {
          what: service
            ? t('act.grantedFor', { agency: names.agency(g.agencyId), documents, service })
            : t('act.granted', { agency: names.agency(g.agencyId), documents }),
          status:
            g.status === 'active'
              ? t('akun.summary.grantUntil', { date: when(t, g.expiresAt, locale, zone) })
              : g.status === 'revoked'
                ? t('akun.summary.grantRevoked')
                : t('akun.summary.grantEnded'),
        }
      }),
      days: await activityView(req, who, events),
    })
  })

  app.post(
    '/akun/data',
    { schema: { body: csrfOnlyBody }, preHandler: [app.csrfProtection, fresh] },
    async (req, reply) => {
      const who = await requireCitizen(req, reply, '/akun/data')
      if (!who) return reply
      const c = who.citizen
      const [sessions, agencies] = await Promise.all([sessionsOf(who), agenciesOf(who)])
      const sessionClients = await clientNames(
        db,
        sessions.flatMap((s) => s.clientIds),
      )
      // The whole trail, in pages, newest first.
      const activity: AuditEvent[] = []
      let before: Date | undefined
      for (let page = 0; page < 20; page++) {
        const chunk = await activityOf(who, before, 1000)
        activity.push(...chunk)
        if (chunk.length < 1000) break
        before = chunk[chunk.length - 1]?.at
      }
      const exportedAt = new Date()
      // Only what is the citizen's: never the password hash (Citizen has none), a session
      // id, a token or a code.
      const data = {
        format: 'satupintu-data-export/1',
        exportedAt: exportedAt.toISOString(),
        issuer: config.idp.issuer,
        profile: {
          sub: c.id,
          nik: c.nik,
          name: c.name,
          birthDate: c.birthDate,
          gender: c.gender,
          email: c.email,
          emailVerified: c.emailVerified,
          phone: c.phone,
          phoneVerified: c.phoneVerified,
          nikStatus: c.nikStatus,
          identityLevel: (await identityOrThrow(c.id)).level,
          status: c.status,
          createdAt: c.createdAt.toISOString(),
          updatedAt: c.updatedAt.toISOString(),
          passwordChangedAt: c.passwordChangedAt?.toISOString() ?? null,
        },
        agencies: agencies.map((a) => ({
          clientId: a.clientId,
          name: a.name,
          agencyId: a.agencyId,
          scopes: a.scopes,
          allowedSince: a.since?.toISOString() ?? null,
        })),
        // Documents held (no bytes: each downloads from the account page), their grants and every access.
        documents: await exportDocumentsData(db, c.id, exportedAt),
        sessions: sessions.map((s) => ({
          thisDevice: s.thisDevice,
          signedInAt: s.signedInAt?.toISOString() ?? null,
          lastUsedAt: s.lastUsedAt?.toISOString() ?? null,
          expiresAt: s.expiresAt?.toISOString() ?? null,
          usedFor: s.clientIds.map((id) => ({ clientId: id, name: sessionClients.get(id)?.name ?? null })),
        })),
        activity: activity.map((e) => ({
          at: e.at.toISOString(),
          event: e.event,
          actor: e.actor,
          clientId: e.client_id,
          ip: e.ip,
          requestId: e.request_id,
          data: e.data,
        })),
      }
      await recordAudit(db, {
        event: 'data.exported',
        ...context(req, who),
        subjectId: c.id,
        data: { activityEntries: activity.length },
      })
      return reply
        .code(200)
        .header('content-type', 'application/json; charset=utf-8')
        .header('content-disposition', 'attachment; filename="data-saya.json"')
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .send(`${JSON.stringify(data, null, 2)}\n`)
    },
  )
}
