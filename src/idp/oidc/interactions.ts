import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Kysely } from 'kysely'
import type Provider from 'oidc-provider'
import { requiredRank } from './levels.ts'
import { scopeItems } from './scopes.ts'
import { errors as oidcErrors } from 'oidc-provider'
import type { Config } from '../../config/schema.ts'
import type { Database } from '../../db/database.ts'
import { authenticateCitizen } from '../../accounts/citizens.ts'
import { startContactVerification } from '../account/registration.ts'
import { isAccountError } from '../../accounts/errors.ts'
import { classifyIdentifier } from '../../accounts/identifiers.ts'
import { authenticateOfficer, normalizeUsername } from '../../accounts/officers.ts'
import { recordAudit } from '../../audit/audit.ts'
import { AppError } from '../../errors/app-error.ts'
import { formBodyLimit, registerForms } from '../forms.ts'
import { afterCitizenSignIn, deviceCookieName } from '../sign-in-device.ts'
import { noticeOptionsOf } from '../../accounts/notices.ts'
import { embeddedBrowserOf } from './embedded-browser.ts'
import { hasSecondFactor, verifySecondFactor, type SecondFactorKeys } from '../../accounts/second-factors.ts'
import { findCitizenById } from '../../accounts/citizens.ts'
import { authenticationOptions, hasPasskey, verifyPasskey, type RelyingParty } from '../../accounts/passkeys.ts'
import { passkeyScripts, relyingPartyOf } from '../passkey-party.ts'
import { signInLevel, type SignInMethod } from './sign-in-level.ts'

export interface InteractionDeps {
  config: Config
  db: Kysely<Database>
  /** The provider in use now; it is swapped when keys rotate. */
  provider: () => Provider
  /** Sealing of TOTP secrets and the recovery codes' key (src/accounts/second-factors.ts). */
  secondFactors: SecondFactorKeys
  /** Key of the one-time codes' HMAC: a citizen without a verified contact is sent a code to verify one. */
  otpSecret: Buffer
}

/**
 * Where a sign-in whose password was right waits for its second factor: in the
 * interaction's own stored result (oidc-provider keeps it with the interaction, bound to
 * this browser by the interaction cookie). No session exists until the code is right.
 * Were the browser to resume the interaction with only this, oidc-provider sees no
 * `login` in the result and asks for the sign-in again.
 */
const pendingKey = 'urn:satupintu:second-factor-pending'
/** How long the code step waits after the password (then the password is asked again). */
const pendingSeconds = 10 * 60

interface PendingSecondFactor {
  accountId: string
  /** When the password was right (epoch seconds). */
  passwordAt: number
}

function pendingOf(view: { result?: unknown }): PendingSecondFactor | undefined {
  const p = (view.result as Record<string, unknown> | undefined)?.[pendingKey] as
    | Partial<PendingSecondFactor>
    | undefined
  if (typeof p?.accountId !== 'string' || typeof p.passwordAt !== 'number') return undefined
  if (Math.floor(Date.now() / 1000) - p.passwordAt > pendingSeconds) return undefined
  return { accountId: p.accountId, passwordAt: p.passwordAt }
}

/** A WebAuthn answer, as JSON (@simplewebauthn/browser's): a few hundred bytes, a few KB at most. */
const passkeyBody = {
  type: 'object',
  properties: {
    _csrf: { type: 'string', maxLength: 200 },
    response: { type: 'string', maxLength: 12000, pattern: '^[^\\u0000-\\u001f\\u007f]*$' },
  },
} as const

const csrfOnlyBody = { type: 'object', properties: { _csrf: { type: 'string', maxLength: 200 } } } as const

const codeBody = {
  type: 'object',
  properties: {
    _csrf: { type: 'string', maxLength: 200 },
    code: { type: 'string', maxLength: 64, pattern: '^[^\\u0000-\\u001f\\u007f]*$' },
  },
} as const

/** No control characters (NUL included) in what a person types into a one-line field. */
const oneLine = '^[^\\u0000-\\u001f\\u007f]*$'

const loginBody = {
  type: 'object',
  properties: {
    _csrf: { type: 'string', maxLength: 200 },
    username: { type: 'string', maxLength: 254, pattern: oneLine },
    password: { type: 'string', maxLength: 1024, pattern: '^[^\\u0000]*$' },
  },
  // _csrf is not `required` here: a missing token must be the CSRF check's 403, not a 400.
} as const

const consentBody = {
  type: 'object',
  properties: {
    _csrf: { type: 'string', maxLength: 200 },
    decision: { type: 'string', enum: ['allow', 'deny'] },
  },
  required: ['decision'],
} as const

/** A sign-in step's POST shows its page again on GET at the interaction's own URL. */
const interactionPage = { pageOnGet: (req: FastifyRequest) => `/interaction/${(req.params as { uid: string }).uid}` }

const uidParams = {
  type: 'object',
  properties: { uid: { type: 'string', pattern: '^[A-Za-z0-9_-]{10,64}$' } },
  required: ['uid'],
} as const

interface InteractionView {
  uid: string
  prompt: { name: string; details: Record<string, unknown> }
  params: Record<string, unknown>
  session?: { accountId?: string }
  grantId?: string
  result?: Record<string, unknown>
}

/**
 * The pages oidc-provider sends a browser to when it needs the citizen: sign-in and
 * consent. Registered in their own plugin scope, with form parsing and CSRF protection,
 * outside the provider's paths (its interaction cookie is scoped to /interaction/<uid>).
 */
export async function interactionRoutes(app: FastifyInstance, deps: InteractionDeps): Promise<void> {
  const { config, db } = deps
  // A sign-in or consent step's token is bound to its interaction (forms.ts): only the
  // browser that was sent to /interaction/<uid> knows the id.
  await registerForms(app, config, {
    binding: (req) => `interaction:${(req.params as { uid?: string } | undefined)?.uid ?? ''}`,
  })

  async function details(req: FastifyRequest, reply: FastifyReply): Promise<InteractionView> {
    try {
      const d = (await deps.provider().interactionDetails(req.raw, reply.raw)) as unknown as InteractionView
      if (d.uid !== (req.params as { uid: string }).uid) throw new oidcErrors.SessionNotFound('interaction mismatch')
      return d
    } catch (err) {
      if (err instanceof oidcErrors.SessionNotFound) {
        throw new AppError('bad_request', 'The sign-in has expired or was finished.', { cause: err })
      }
      throw err
    }
  }

  async function clientInfo(clientId: unknown): Promise<{ name: string; agency: string }> {
    if (typeof clientId !== 'string') return { name: '', agency: '' }
    const client = await deps.provider().Client.find(clientId)
    const meta = client?.metadata() as Record<string, unknown> | undefined
    return { name: String(meta?.client_name ?? clientId), agency: String(meta?.['urn:satupintu:agency'] ?? '') }
  }

  /** The interaction of a sign-in step's POST, which must still be at the login prompt. */
  async function loginStep(req: FastifyRequest, reply: FastifyReply) {
    const view = await details(req, reply)
    if (view.prompt.name !== 'login') throw new AppError('bad_request', 'This sign-in step is already done.')
    return { view, client: await clientInfo(view.params.client_id) }
  }

  async function finish(req: FastifyRequest, reply: FastifyReply, result: Record<string, unknown>, merge: boolean) {
    const url = await deps.provider().interactionResult(req.raw, reply.raw, result, { mergeWithLastSubmission: merge })
    return reply.redirect(url, 303)
  }

  /**
   * Browsers apply CSP form-action to the redirects that follow a form post (CSP 3
   * §6.4.1): the sign-in and consent forms end in a redirect to the client's
   * redirect_uri, so its origin must be allowed on those pages. oidc-provider has
   * already checked the redirect_uri against the client's registration.
   */
  function redirectOrigins(view: InteractionView): string[] {
    const uri = view.params.redirect_uri
    if (typeof uri !== 'string') return []
    try {
      const origin = new URL(uri).origin
      return origin === 'null' ? [] : [origin]
    } catch {
      return []
    }
  }

  function loginPage(
    req: FastifyRequest,
    reply: FastifyReply,
    view: InteractionView,
    client: { name: string },
    extra: { errorText?: string; username?: string; status?: number } = {},
  ) {
    const uid = view.uid
    return reply.page(
      'login',
      {
        action: `/interaction/${uid}/login`,
        abortAction: `/interaction/${uid}/abort`,
        csrf: reply.generateCsrf(),
        clientName: client.name,
        username: extra.username ?? (typeof view.params.login_hint === 'string' ? view.params.login_hint : ''),
        errorText: extra.errorText ?? '',
        forgotHref: `/lupa-sandi?kembali=${encodeURIComponent(`/interaction/${uid}`)}`,
        registerHref: `/daftar?kembali=${encodeURIComponent(`/interaction/${uid}`)}`,
        // RFC 8252 §8.12: tell a citizen whose app opened us in a web view (a notice only).
        embeddedBrowser: embeddedBrowserOf(req.headers['user-agent']) ?? '',
        // "Masuk dengan passkey": shown by passkey.js only, when the browser can.
        passkeyAction: `/interaction/${uid}/passkey`,
        passkeyOptions: `/interaction/${uid}/passkey/opsi`,
        scripts: passkeyScripts,
      },
      { status: extra.status ?? 200, formActionOrigins: redirectOrigins(view), scripts: true },
    )
  }

  async function codePage(
    req: FastifyRequest,
    reply: FastifyReply,
    view: InteractionView,
    client: { name: string },
    accountId: string,
    extra: { errorText?: string; status?: number } = {},
  ) {
    const uid = view.uid
    // The account's passkeys are offered beside the code (after the password only); an
    // account with passkeys and no app is here only for a passkey.
    const passkey = await hasPasskey(db, accountId)
    const code = await hasSecondFactor(db, accountId)
    return reply.page(
      'login-code',
      {
        action: `/interaction/${uid}/kode`,
        abortAction: `/interaction/${uid}/abort`,
        csrf: reply.generateCsrf(),
        clientName: client.name,
        errorText: extra.errorText ?? '',
        code,
        passkeyAction: passkey ? `/interaction/${uid}/passkey` : '',
        passkeyOptions: `/interaction/${uid}/passkey/opsi`,
        scripts: passkey ? passkeyScripts : [],
      },
      { status: extra.status ?? 200, formActionOrigins: redirectOrigins(view), scripts: passkey },
    )
  }

  /**
   * The sign-in is done: the session is made with the level the methods used give, from
   * the one place that maps methods to acr and amr (sign-in-level.ts).
   */
  function loginResult(accountId: string, methods: readonly SignInMethod[]) {
    const level = signInLevel(methods)
    // ts: auth_time is now, when the factors were checked, not when the browser follows the
    // redirect (a page in between, or a client holding the 303, would stretch a level's life).
    return {
      login: { accountId, acr: level.acr, amr: [...level.amr], remember: true, ts: Math.floor(Date.now() / 1000) },
    }
  }

  /**
   * The service asked for a level this account cannot reach with what it has (no second
   * factor; or only factors short of phishing-resistant): say so and how to get there,
   * rather than send the citizen back with a bare error or loop. The way back tells the
   * service that the level could not be had (unmet_authentication_requirements).
   */
  async function levelOutOfReach(
    req: FastifyRequest,
    reply: FastifyReply,
    client: { name: string },
    wanted: 'mfa' | 'phr',
  ): Promise<FastifyReply> {
    const back = await deps.provider().interactionResult(
      req.raw,
      reply.raw,
      {
        error: 'unmet_authentication_requirements',
        error_description:
          wanted === 'mfa'
            ? 'the account has no second factor for the level asked for'
            : 'the account has no device-bound passkey for the level asked for',
      },
      { mergeWithLastSubmission: false },
    )
    const key = wanted === 'mfa' ? 'login.stepUp' : 'login.stepUpPhr'
    return reply.page(
      'message',
      {
        title: req.server.idpText(req, `${key}.title`),
        lead: req.server.idpText(req, `${key}.lead`, { client: client.name }),
        text: req.server.idpText(req, `${key}.text`),
        primary: { href: '/akun/keamanan', text: req.server.idpText(req, `${key}.enable`) },
        secondary: { href: back, text: req.server.idpText(req, 'login.stepUp.back', { client: client.name }) },
      },
      { status: 403 },
    )
  }

  async function officerSignIn(
    username: string,
    password: string,
    context: { ip: string; requestId: string },
  ): Promise<{ outcome: 'ok' | 'failed' } | { outcome: 'throttled'; retryAfterSeconds: number }> {
    try {
      const r = await authenticateOfficer(db, username, password, context)
      if (r.ok) return { outcome: 'ok' }
      if (r.reason === 'throttled') return { outcome: 'throttled', retryAfterSeconds: r.retryAfterSeconds }
      return { outcome: 'failed' }
    } catch (err) {
      if (isAccountError(err)) throw new AppError('payload_too_large', 'The password is too long.', { cause: err })
      throw err
    }
  }

  function throttledPage(
    req: FastifyRequest,
    reply: FastifyReply,
    view: InteractionView,
    client: { name: string },
    username: string,
    retryAfterSeconds: number,
    permanent = false,
  ) {
    const minutes = Math.max(1, Math.ceil(retryAfterSeconds / 60))
    reply.header('retry-after', String(retryAfterSeconds))
    const errorText = permanent ? messageFor(req, 'locked') : messageFor(req, 'throttled', { minutes })
    return loginPage(req, reply, view, client, { errorText, username, status: 429 })
  }

  app.get('/interaction/:uid', { schema: { params: uidParams } }, async (req, reply) => {
    const view = await details(req, reply)
    const client = await clientInfo(view.params.client_id)
    if (view.prompt.name === 'login') {
      const pending = pendingOf(view)
      if (pending) return codePage(req, reply, view, client, pending.accountId)
      return loginPage(req, reply, view, client)
    }
    if (view.prompt.name === 'consent') {
      const d = view.prompt.details
      const scopes = [
        ...((d.missingOIDCScope as string[] | undefined) ?? []),
        ...Object.values((d.missingResourceScopes as Record<string, string[]> | undefined) ?? {}).flat(),
      ]
      const items = [...new Set(scopes)].map((s) => scopeItems[s]).filter((x): x is string => x !== undefined)
      return reply.page(
        'consent',
        { action: `/interaction/${view.uid}/consent`, csrf: reply.generateCsrf(), clientName: client.name, items },
        { formActionOrigins: redirectOrigins(view) },
      )
    }
    throw new AppError('bad_request', `Unknown prompt ${view.prompt.name}`)
  })

  app.post(
    '/interaction/:uid/login',
    {
      schema: { params: uidParams, body: loginBody },
      bodyLimit: formBodyLimit,
      preHandler: app.csrfProtection,
      config: interactionPage,
    },
    async (req, reply) => {
      const { view, client } = await loginStep(req, reply)
      const body = req.body as { username?: string; password?: string }
      // Ordinary spaces only: String#trim() would silently drop invisible characters.
      const username = (body.username ?? '').replace(/^[ \t]+|[ \t]+$/g, '')
      const password = body.password ?? ''
      if (username === '' || password === '') {
        return loginPage(req, reply, view, client, { errorText: messageFor(req, 'missing'), username, status: 400 })
      }
      // A browser the account signed in from before is not refused by the account-wide
      // limit a stranger can run up (docs/security.md line 38; src/accounts/throttle.ts).
      const context = {
        ip: req.ip,
        regencyName: config.regency.name,
        requestId: req.id,
        deviceId: req.cookies[deviceCookieName(config)],
        noticeOptions: noticeOptionsOf(config),
      }
      const kind = classifyIdentifier(username).kind
      if (kind === 'invalid') {
        // Not a NIK, an email or a phone number, and not even an officer's username
        // shape: an ordinary 400 before any throttling or hashing (docs/security.md line 11).
        // Whether it is refused depends on the input alone, so it reveals no account.
        if (normalizeUsername(username) === undefined) {
          return loginPage(req, reply, view, client, { errorText: messageFor(req, 'failed'), username, status: 400 })
        }
        // An officer's username on the citizens' sign-in: say so, but only to whoever
        // knows the officer's password.
        const officer = await officerSignIn(username, password, context)
        if (officer.outcome === 'throttled')
          return throttledPage(req, reply, view, client, username, officer.retryAfterSeconds)
        if (officer.outcome === 'ok') {
          return loginPage(req, reply, view, client, { errorText: messageFor(req, 'officer'), username, status: 403 })
        }
      } else {
        let result: Awaited<ReturnType<typeof authenticateCitizen>>
        try {
          result = await authenticateCitizen(db, username, password, context)
        } catch (err) {
          if (isAccountError(err)) throw new AppError('payload_too_large', 'The password is too long.', { cause: err })
          throw err
        }
        if (result.ok) {
          // A passkey is the second step only when the service asks for two factors (the
          // account's two-step switch is the app); then it is offered after the password.
          const stepUp = requiredRank(view.params) >= 2
          if ((await hasSecondFactor(db, result.citizen.id)) || (stepUp && (await hasPasskey(db, result.citizen.id)))) {
            // The code comes next, on its own page; nothing is signed in yet.
            const interaction = await deps.provider().interactionDetails(req.raw, reply.raw)
            interaction.result = {
              [pendingKey]: {
                accountId: result.citizen.id,
                passwordAt: Math.floor(Date.now() / 1000),
              } satisfies PendingSecondFactor,
            }
            await interaction.persist()
            return reply.redirect(`/interaction/${view.uid}`, 303)
          }
          // The service asks for two-step sign-in and this account has no second factor.
          if (stepUp) return levelOutOfReach(req, reply, client, 'mfa')
          await afterCitizenSignIn(req, reply, db, config, result.citizen.id)
          return finish(req, reply, loginResult(result.citizen.id, ['password']), false)
        }
        if (result.reason === 'throttled')
          return throttledPage(req, reply, view, client, username, result.retryAfterSeconds, result.permanent)
        // A right password on an account with no verified contact: it may not sign in yet
        // (issue 14). A code goes to its contact, and the registration's code step takes it
        // from there, back to this sign-in.
        if (result.reason === 'contact_unverified') {
          const next = await startContactVerification(reply, deps, result.citizen, `/interaction/${view.uid}`, {
            ip: req.ip,
            requestId: req.id,
          })
          if (next !== undefined) return reply.redirect(next, 303)
          return loginPage(req, reply, view, client, {
            errorText: req.server.idpText(req, 'login.verifyLater'),
            username,
            status: 403,
          })
        }
      }
      // The same status, page and wording for an unknown account and a wrong password. A
      // NIK is told that it may be ambiguous (several unproven claims): the same words for
      // every NIK, whatever the accounts.
      return loginPage(req, reply, view, client, {
        errorText: req.server.idpText(req, kind === 'nik' ? 'login.failedNik' : 'login.failed'),
        username,
        status: 401,
      })
    },
  )

  app.post(
    '/interaction/:uid/kode',
    {
      schema: { params: uidParams, body: codeBody },
      bodyLimit: formBodyLimit,
      preHandler: app.csrfProtection,
      config: interactionPage,
    },
    async (req, reply) => {
      const { view, client } = await loginStep(req, reply)
      const pending = pendingOf(view)
      if (!pending)
        return loginPage(req, reply, view, client, {
          errorText: req.server.idpText(req, 'login.code.expired'),
          status: 400,
        })
      const code = ((req.body as { code?: string }).code ?? '').trim()
      if (code === '')
        return codePage(req, reply, view, client, pending.accountId, {
          errorText: req.server.idpText(req, 'login.code.missing'),
          status: 400,
        })
      const check = await verifySecondFactor(db, deps.secondFactors, pending.accountId, code, {
        ip: req.ip,
        requestId: req.id,
        noticeOptions: noticeOptionsOf(config),
      })
      if (!check.ok) {
        if (check.reason === 'throttled') {
          reply.header('retry-after', String(check.retryAfterSeconds))
          const minutes = Math.max(1, Math.ceil(check.retryAfterSeconds / 60))
          return codePage(req, reply, view, client, pending.accountId, {
            errorText: req.server.idpText(req, 'login.code.throttled', { minutes }),
            status: 429,
          })
        }
        return codePage(req, reply, view, client, pending.accountId, {
          errorText: req.server.idpText(req, 'login.code.wrong'),
          status: 401,
        })
      }
      // A code gives two factors, never phishing-resistant: a service that asks for that
      // is told so here, not with a bare error after the sign-in.
      if (requiredRank(view.params) >= 3) return levelOutOfReach(req, reply, client, 'phr')
      await afterCitizenSignIn(req, reply, db, config, pending.accountId)
      if (check.method === 'totp')
        return finish(req, reply, loginResult(pending.accountId, ['password', 'totp']), false)
      // A recovery code: the sign-in is done, but first the citizen is told that a code is
      // gone and how to set up the factor again (the phone may be lost).
      const url = await deps
        .provider()
        .interactionResult(req.raw, reply.raw, loginResult(pending.accountId, ['password', 'recovery_code']), {
          mergeWithLastSubmission: false,
        })
      return reply.page('message', {
        title: req.server.idpText(req, 'login.recovery.title'),
        lead: req.server.idpText(req, 'login.recovery.lead', { left: check.recoveryCodesLeft }),
        text: req.server.idpText(req, 'login.recovery.text'),
        primary: { href: url, text: req.server.idpText(req, 'login.recovery.continue') },
      })
    },
  )

  // -------------------------------------------------------------------------------------
  // Passkeys (src/accounts/passkeys.ts). One pair of routes for both uses, told apart by
  // the interaction's state: after a right password (a pending second factor) the passkey
  // must be that account's and is its second factor; before, it is a passwordless sign-in
  // with a discoverable credential. Each challenge is bound to this interaction (whose id
  // only this browser knows, with its interaction cookie) and, for the second factor, to
  // the account.

  const rp: RelyingParty = relyingPartyOf(config)
  const passkeyBinding = (view: InteractionView) => `interaction:${view.uid}`

  app.post(
    '/interaction/:uid/passkey/opsi',
    {
      schema: { params: uidParams, body: csrfOnlyBody },
      bodyLimit: formBodyLimit,
      preHandler: app.csrfProtection,
      config: interactionPage,
    },
    async (req, reply) => {
      const view = await details(req, reply)
      if (view.prompt.name !== 'login') throw new AppError('bad_request', 'This sign-in step is already done.')
      const pending = pendingOf(view)
      const options = await authenticationOptions(
        db,
        rp,
        passkeyBinding(view),
        pending ? { purpose: 'second_factor', citizenId: pending.accountId } : { purpose: 'sign_in' },
      )
      return reply.header('cache-control', 'no-store').send(options)
    },
  )

  app.post(
    '/interaction/:uid/passkey',
    {
      schema: { params: uidParams, body: passkeyBody },
      bodyLimit: formBodyLimit,
      preHandler: app.csrfProtection,
      config: interactionPage,
    },
    async (req, reply) => {
      const { view, client } = await loginStep(req, reply)
      const pending = pendingOf(view)
      const response = (req.body as { response?: string }).response ?? ''
      const context = { ip: req.ip, requestId: req.id }
      const check = await verifyPasskey(
        db,
        rp,
        passkeyBinding(view),
        response,
        pending ? { purpose: 'second_factor', citizenId: pending.accountId } : { purpose: 'sign_in' },
        context,
      )
      // A disabled account does not sign in with a passkey either.
      const citizen = check.ok ? await findCitizenById(db, check.citizenId) : undefined
      if (!check.ok || citizen?.status !== 'active') {
        req.log.info({ reason: check.ok ? 'inactive' : check.reason }, 'passkey refused')
        const throttled = !check.ok && check.reason === 'throttled'
        const retryAfter = throttled ? (check.retryAfterSeconds ?? 60) : 0
        if (throttled) reply.header('retry-after', String(retryAfter))
        const errorText = throttled
          ? req.server.idpText(req, 'login.throttled', { minutes: Math.max(1, Math.ceil(retryAfter / 60)) })
          : req.server.idpText(req, 'login.passkey.failed')
        const status = throttled ? 429 : 401
        return pending
          ? codePage(req, reply, view, client, pending.accountId, { errorText, status })
          : loginPage(req, reply, view, client, { errorText, status })
      }
      const method: SignInMethod = check.synced ? 'passkey:synced' : 'passkey:device-bound'
      // A synced passkey gives two factors, never phishing-resistant: a service that asks
      // for that is told so, with the way to add a device-bound one, not a bare error.
      if (check.synced && requiredRank(view.params) >= 3) return levelOutOfReach(req, reply, client, 'phr')
      if (!pending) {
        await recordAudit(db, {
          event: 'auth.login.succeeded',
          actor: `citizen:${citizen.id}`,
          subjectId: citizen.id,
          ip: req.ip,
          requestId: req.id,
          data: { method: 'passkey', synced: check.synced },
        })
      }
      await afterCitizenSignIn(req, reply, db, config, citizen.id)
      return finish(req, reply, loginResult(citizen.id, pending ? ['password', method] : [method]), false)
    },
  )

  app.post(
    '/interaction/:uid/consent',
    {
      schema: { params: uidParams, body: consentBody },
      bodyLimit: formBodyLimit,
      preHandler: app.csrfProtection,
      config: interactionPage,
    },
    async (req, reply) => {
      const view = await details(req, reply)
      if (view.prompt.name !== 'consent') throw new AppError('bad_request', 'This consent step is already done.')
      const accountId = view.session?.accountId
      const clientId = view.params.client_id
      if (typeof accountId !== 'string' || typeof clientId !== 'string') throw new AppError('bad_request')
      const decision = (req.body as { decision: 'allow' | 'deny' }).decision
      if (decision === 'deny') {
        return finish(
          req,
          reply,
          { error: 'access_denied', error_description: 'The citizen did not allow access.' },
          false,
        )
      }
      const provider = deps.provider()
      const grant = view.grantId ? await provider.Grant.find(view.grantId) : new provider.Grant({ accountId, clientId })
      if (!grant) throw new AppError('bad_request', 'The consent has expired.')
      const d = view.prompt.details
      const missingScope = d.missingOIDCScope as string[] | undefined
      if (missingScope) grant.addOIDCScope(missingScope.join(' '))
      const missingClaims = d.missingOIDCClaims as string[] | undefined
      if (missingClaims) grant.addOIDCClaims(missingClaims)
      const missingResource = d.missingResourceScopes as Record<string, string[]> | undefined
      for (const [indicator, scopes] of Object.entries(missingResource ?? {}))
        grant.addResourceScope(indicator, scopes.join(' '))
      const grantId = await grant.save()
      await recordAudit(db, {
        event: 'consent.granted',
        actor: `citizen:${accountId}`,
        subjectId: accountId,
        clientId,
        ip: req.ip,
        requestId: req.id,
        data: { scopes: [...(missingScope ?? []), ...Object.values(missingResource ?? {}).flat()] },
      })
      return finish(req, reply, { consent: { grantId } }, true)
    },
  )

  app.post(
    '/interaction/:uid/abort',
    {
      schema: { params: uidParams },
      bodyLimit: formBodyLimit,
      preHandler: app.csrfProtection,
      config: interactionPage,
    },
    async (req, reply) => {
      await details(req, reply)
      return finish(
        req,
        reply,
        { error: 'access_denied', error_description: 'The citizen cancelled the sign-in.' },
        false,
      )
    },
  )
}

/** Login page messages; the page layer's translator is keyed by the request's locale. */
function messageFor(
  req: FastifyRequest,
  key: 'missing' | 'failed' | 'throttled' | 'locked' | 'officer',
  params?: { minutes: number },
): string {
  return req.server.idpText(req, `login.${key}`, params)
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Translates one idp message in the request's language (src/idp/app.ts decorates it). */
    idpText(req: FastifyRequest, key: string, params?: Record<string, string | number>): string
  }
}
