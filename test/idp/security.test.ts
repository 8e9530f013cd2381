/**
 * SECURITY.md lines 1–13, each checked against the real identity provider over HTTP (a
 * real port, a cookie-keeping browser, raw token requests), on PGlite and PostgreSQL.
 * Where a line is about work done rather than answers given (10, 11), the work is
 * counted (argon2 calls, throttle and audit rows), never timed.
 */
import { createHash, randomBytes } from 'node:crypto'
import argon2 from 'argon2'
import { decodeJwt } from 'jose'
import { sql } from 'kysely'
import t from 'tap'
import type { Test } from 'tap'
import {
  authenticateCitizen,
  createCitizen,
  findCitizenById,
  markEmailVerified,
  setCitizenPassword,
  setCitizenStatus,
  type Citizen,
} from '../../src/accounts/citizens.ts'
import { AccountError } from '../../src/accounts/errors.ts'
import { argon2Hasher, type PasswordHasher } from '../../src/accounts/passwords.ts'
import { accountKey, identifierKey } from '../../src/accounts/throttle.ts'
import { openDatabase } from '../../src/db/create.ts'
import { buildIdp } from '../../src/idp/app.ts'
import { addCitizen, budi, siti } from '../helpers/citizens.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import {
  Browser,
  csrfFrom,
  formAction,
  registerClient,
  signIn,
  startIdp,
  testKek,
  type RunningIdp,
} from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'

// ---------------------------------------------------------------------------------------
// Helpers

/** The relying party: https, never followed (the browser stops where it leaves the idp). */
const rp = 'https://rp.example.go.id'
const redirectUri = `${rp}/cb`
const byeUri = `${rp}/bye`

interface Rp {
  clientId: string
  secret: string | undefined
}

interface Env extends RunningIdp {
  db: TestDatabase
  citizen: Citizen
  /** client_secret_basic */
  confidential: Rp
  /** token_endpoint_auth_method none */
  publicClient: Rp
}

async function setup(t: Test, db: TestDatabase, overrides: Record<string, unknown> = {}): Promise<Env> {
  const idp = await startIdp(t, db, overrides)
  // Several instances may share one database (one test, several configurations).
  const existing = await db.db.selectFrom('citizens').select('id').where('nik', '=', budi.nik).executeTakeFirst()
  const citizen = existing === undefined ? await addCitizen(db.db) : await findCitizenById(db.db, existing.id)
  if (citizen === undefined) throw new Error('citizen vanished')
  const confidential = await registerClient(db, { redirectUris: [redirectUri], postLogoutRedirectUris: [byeUri] })
  const publicClient = await registerClient(db, { redirectUris: [redirectUri], authMethod: 'none' })
  return { ...idp, db, citizen, confidential, publicClient }
}

function pkcePair(verifier = randomBytes(32).toString('base64url')): { verifier: string; challenge: string } {
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

function authUrl(issuer: string, params: Record<string, string>): string {
  const u = new URL('/auth', issuer)
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v)
  return u.href
}

/** An authorization request of the code flow with S256 PKCE; `extra` overrides or adds parameters. */
function codeRequest(issuer: string, client: Rp, extra: Record<string, string> = {}) {
  const pkce = pkcePair()
  const state = randomBytes(8).toString('hex')
  const nonce = randomBytes(8).toString('hex')
  const params = {
    client_id: client.clientId,
    response_type: 'code',
    scope: 'openid profile',
    redirect_uri: redirectUri,
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  }
  return { ...pkce, state, nonce, params, url: authUrl(issuer, params) }
}

const budiLogin = { username: budi.nik, password: budi.password }

/**
 * signIn() that also submits the provider's self-submitting forms (form_post), as a
 * browser with JavaScript would: oidc-provider sends one to end the old session when
 * another citizen signs in over it (resume.js).
 */
async function signInAs(
  browser: Browser,
  url: string,
  issuer: string,
  who: { username: string; password: string },
): Promise<string> {
  let next = url
  for (let i = 0; i < 3; i++) {
    try {
      return await signIn(browser, next, issuer, who)
    } catch (err) {
      const m = /^unexpected page at (\S+): 200$/.exec((err as Error).message)
      if (!m?.[1]) throw err
      const res = await browser.request(m[1])
      const html = await res.text()
      const action = /<form method="post" action="([^"]+)">/.exec(html)?.[1]
      if (action === undefined || !html.includes('document.forms[0].submit()')) throw err
      const form = Object.fromEntries(
        [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)].map((x) => [
          x[1] ?? '',
          x[2] ?? '',
        ]),
      )
      const posted = await browser.request(action, { form })
      next = new URL(posted.headers.get('location') ?? '', issuer).href
    }
  }
  throw new Error('too many self-submitting forms')
}

/** Runs the code flow in `browser` (signing in when needed) and returns the code. */
async function authorize(
  env: Env,
  client: Rp,
  extra: Record<string, string> = {},
  browser = new Browser(),
  who = budiLogin,
) {
  const req = codeRequest(env.issuer, client, extra)
  const callback = new URL(await signInAs(browser, req.url, env.issuer, who))
  const code = callback.searchParams.get('code')
  if (callback.origin + callback.pathname !== redirectUri || code === null) {
    throw new Error(`the flow ended at ${callback.href}, not with a code`)
  }
  return { ...req, code, callback, browser }
}

interface Answer {
  status: number
  body: Record<string, unknown>
  headers: Headers
}

/** A POST to a provider endpoint as `client` (Basic auth with a secret, client_id otherwise). */
async function postAs(issuer: string, path: string, client: Rp, form: Record<string, string>): Promise<Answer> {
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  }
  const body = new URLSearchParams(form)
  if (client.secret !== undefined) {
    const basic = `${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.secret)}`
    headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`
  } else {
    body.set('client_id', client.clientId)
  }
  const res = await fetch(new URL(path, issuer), { method: 'POST', headers, body })
  const text = await res.text()
  return {
    status: res.status,
    headers: res.headers,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  }
}

async function redeem(
  env: Env,
  client: Rp,
  code: string,
  verifier: string | undefined,
  extra: Record<string, string> = {},
) {
  return postAs(env.issuer, '/token', client, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    ...(verifier === undefined ? {} : { code_verifier: verifier }),
    ...extra,
  })
}

async function refresh(env: Env, client: Rp, refreshToken: string) {
  return postAs(env.issuer, '/token', client, { grant_type: 'refresh_token', refresh_token: refreshToken })
}

async function introspect(env: Env, client: Rp, token: string): Promise<boolean> {
  const res = await postAs(env.issuer, '/token/introspection', client, { token })
  if (res.status !== 200) throw new Error(`introspection answered ${res.status}`)
  return res.body.active === true
}

async function userinfoStatus(env: Env, accessToken: string): Promise<number> {
  const res = await fetch(`${env.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } })
  await res.arrayBuffer()
  return res.status
}

/** A GET without following redirects. */
async function get(url: string, browser = new Browser()): Promise<{ res: Response; html: string }> {
  const res = await browser.request(url)
  return { res, html: await res.text() }
}

/** What the browser was told to do: status and Location (never followed). */
function outcome(res: Response): { status: number; location: string | null } {
  return { status: res.status, location: res.headers.get('location') }
}

/** The page of the provider's own error template (src/idp/templates/oidc-error.eta). */
function isProviderErrorPage(html: string, error: string): boolean {
  return html.includes('Permintaan masuk tidak dapat diproses') && html.includes(error)
}

/** Counts the argon2 work done by the process (passwords.ts calls argon2.verify / argon2.hash). */
function countArgon2(t: Test): { calls: () => number } {
  const lib = argon2 as { verify: typeof argon2.verify; hash: typeof argon2.hash }
  const verify = lib.verify
  const hash = lib.hash
  let calls = 0
  lib.verify = (async (...args: Parameters<typeof argon2.verify>) => {
    calls++
    return verify(...args)
  }) as typeof argon2.verify
  lib.hash = (async (...args: Parameters<typeof argon2.hash>) => {
    calls++
    return hash(...args)
  }) as typeof argon2.hash
  t.teardown(() => {
    lib.verify = verify
    lib.hash = hash
  })
  return { calls: () => calls }
}

/** The sign-in page of a fresh authorization request: its form action and CSRF token. */
async function loginPage(
  env: { issuer: string; confidential: Rp },
  browser: Browser,
  client: Rp = env.confidential,
  extra: Record<string, string> = {},
) {
  const req = codeRequest(env.issuer, client, extra)
  const step = await browser.follow(req.url, env.issuer)
  const html = await step.res.text()
  if (step.res.status !== 200 || !html.includes('/login"'))
    throw new Error(`no sign-in page at ${step.url} (${step.res.status})`)
  return { action: new URL(formAction(html, '/login'), env.issuer).href, csrf: csrfFrom(html), html, req }
}

async function postLogin(
  browser: Browser,
  action: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
) {
  const res = await browser.request(action, { form, headers })
  return { res, html: await res.text() }
}

async function countRows(db: TestDatabase, table: 'audit_events' | 'login_attempts' | 'citizens'): Promise<number> {
  const r = await db.db.selectFrom(table).select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow()
  return Number(r.n)
}

/** The whole of the DB text an attacker-supplied string could have landed in. */
async function storedText(db: TestDatabase): Promise<string> {
  const [audit, attempts, citizens, payloads] = await Promise.all([
    db.db.selectFrom('audit_events').selectAll().execute(),
    db.db.selectFrom('login_attempts').selectAll().execute(),
    db.db.selectFrom('citizens').selectAll().execute(),
    db.db.selectFrom('oidc_payloads').selectAll().execute(),
  ])
  return JSON.stringify({ audit, attempts, citizens, payloads })
}

// ---------------------------------------------------------------------------------------
// 1

t.test(
  'SECURITY 1: redirect_uri with a trailing slash, other case, added query, /cb/../x, host.evil, host@evil gives an error page at the provider, never a redirect',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const env = await setup(t, db)
      const variants: Record<string, string> = {
        'a trailing slash': `${rp}/cb/`,
        'another case in the path': `${rp}/CB`,
        'another case in the host': 'https://RP.example.go.id/cb',
        'an added query': `${rp}/cb?next=1`,
        'a dot-dot segment': `${rp}/cb/../x`,
        'an encoded dot-dot segment': `${rp}/cb/%2e%2e/x`,
        'host.evil': 'https://rp.example.go.id.evil.example/cb',
        'host@evil': 'https://rp.example.go.id@evil.example/cb',
        'another scheme': 'http://rp.example.go.id/cb',
        'another port': 'https://rp.example.go.id:8443/cb',
      }
      for (const [what, uri] of Object.entries(variants)) {
        await t.test(`a redirect_uri with ${what} is refused at the provider`, async (t) => {
          for (const client of [env.confidential, env.publicClient]) {
            const req = codeRequest(env.issuer, client, { redirect_uri: uri })
            const { res, html } = await get(req.url)
            t.same(outcome(res), { status: 400, location: null }, 'an error page, no redirect')
            t.ok(isProviderErrorPage(html, 'invalid_redirect_uri'), 'the provider explains it on its own page')
            t.notOk(html.includes(uri), 'the bad URI is not echoed as a link')
          }
          // The same request pushed (PAR) is refused too, before any browser is involved.
          const par = codeRequest(env.issuer, env.confidential, { redirect_uri: uri })
          const pushed = await postAs(env.issuer, '/request', env.confidential, par.params)
          t.equal(pushed.status, 400)
          // RFC 9126 §2.3 answers a bad redirect_uri with invalid_request.
          t.equal(pushed.body.error, 'invalid_request')
          t.match(String(pushed.body.error_description), /redirect_uri/)
          t.notOk(pushed.body.request_uri, 'no request_uri to start a flow with')
        })
      }
      await t.test('the registered redirect_uri itself is accepted (control)', async (t) => {
        const { code } = await authorize(env, env.confidential)
        t.ok(code)
      })
    })
  },
)

// ---------------------------------------------------------------------------------------
// 2

t.test(
  'SECURITY 2: logout never redirects to an unregistered post_logout_redirect_uri, asks for confirmation without id_token_hint, and refuses a modified hint',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const env = await setup(t, db)
      const browser = new Browser()
      const flow = await authorize(env, env.confidential, {}, browser)
      const tokens = await redeem(env, env.confidential, flow.code, flow.verifier)
      t.equal(tokens.status, 200)
      const idToken = tokens.body.id_token as string

      function endSession(params: Record<string, string>): string {
        const u = new URL('/session/end', env.issuer)
        for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v)
        return u.href
      }

      const refused: Record<string, string> = {
        'an unregistered URI on the same host': `${rp}/other`,
        'an unregistered host': 'https://evil.example/bye',
        'the registered URI with a query added': `${byeUri}?next=https://evil.example`,
        'the registered URI with a trailing slash': `${byeUri}/`,
      }
      for (const [what, uri] of Object.entries(refused)) {
        await t.test(`${what} as post_logout_redirect_uri gives an error page, no redirect`, async (t) => {
          const { res, html } = await get(
            endSession({ id_token_hint: idToken, post_logout_redirect_uri: uri, state: 's' }),
            browser,
          )
          t.same(outcome(res), { status: 400, location: null })
          t.ok(isProviderErrorPage(html, 'invalid_request'))
          t.notOk(html.includes('name="xsrf"'), 'no logout form that could end in the redirect')
        })
      }

      await t.test(
        'a post_logout_redirect_uri without id_token_hint or client_id is ignored: confirmation, then our own page',
        async (t) => {
          const other = new Browser()
          await authorize(env, env.confidential, {}, other)
          const { res, html } = await get(endSession({ post_logout_redirect_uri: byeUri, state: 's' }), other)
          t.same(outcome(res), { status: 200, location: null }, 'the confirmation page')
          const xsrf = /name="xsrf" value="([0-9a-f]+)"/.exec(html)?.[1] ?? ''
          const confirmed = await other.request(`${env.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })
          const location = confirmed.headers.get('location') ?? ''
          t.equal(confirmed.status, 303)
          t.ok(location.startsWith(env.issuer), `stays at the provider (${location})`)
          t.notOk(location.includes('rp.example.go.id'), 'never the unverified URI')
        },
      )

      await t.test('a modified id_token_hint fails', async (t) => {
        const [h, p, s] = idToken.split('.') as [string, string, string]
        const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
        const otherPayload = Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')
        const flipped = `${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`
        for (const hint of [`${h}.${otherPayload}.${s}`, `${h}.${p}.${flipped}`, `${h}.${p}.`]) {
          const { res, html } = await get(
            endSession({ id_token_hint: hint, post_logout_redirect_uri: byeUri }),
            browser,
          )
          t.same(outcome(res), { status: 400, location: null })
          t.ok(isProviderErrorPage(html, 'invalid_request'))
        }
      })

      await t.test('logout without id_token_hint asks for confirmation and ends on our own page', async (t) => {
        const { res, html } = await get(endSession({}), browser)
        t.same(outcome(res), { status: 200, location: null })
        t.match(html, /Keluar dari Satu Pintu\?/)
        const xsrf = /name="xsrf" value="([0-9a-f]+)"/.exec(html)?.[1] ?? ''
        t.ok(xsrf, 'a confirmation form with its xsrf token')
        const confirmed = await browser.request(`${env.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })
        const location = confirmed.headers.get('location') ?? ''
        t.equal(confirmed.status, 303)
        t.ok(location.startsWith(env.issuer), `stays at the provider (${location})`)
        const { res: after, html: afterHtml } = await get(new URL(location, env.issuer).href, browser)
        t.equal(after.status, 200)
        t.match(afterHtml, /Anda sudah keluar/)
      })
    })
  },
)

// ---------------------------------------------------------------------------------------
// 3

t.test(
  'SECURITY 3: PKCE is required: no code_challenge, the plain method, a verifier without a challenge and a verifier under 43 characters are refused',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const env = await setup(t, db)
      const browser = new Browser()
      // Sign in once so that the requests below reach the PKCE checks, not the login page.
      await authorize(env, env.confidential, {}, browser)
      await authorize(env, env.publicClient, {}, browser)

      for (const [kind, client] of [
        ['public', env.publicClient],
        ['confidential', env.confidential],
      ] as const) {
        await t.test(`an authorization request without code_challenge from a ${kind} client is refused`, async (t) => {
          const req = codeRequest(env.issuer, client)
          const params = { ...req.params } as Record<string, string>
          delete params.code_challenge
          delete params.code_challenge_method
          const end = await browser.follow(authUrl(env.issuer, params), env.issuer)
          const back = new URL(end.url)
          t.equal(back.origin + back.pathname, redirectUri, 'the error goes back to the client')
          t.equal(back.searchParams.get('error'), 'invalid_request')
          t.equal(back.searchParams.get('code'), null, 'no code')
          t.equal(back.searchParams.get('state'), req.state)
        })

        await t.test(`code_challenge_method=plain from a ${kind} client is refused`, async (t) => {
          const verifier = randomBytes(32).toString('base64url')
          const req = codeRequest(env.issuer, client, { code_challenge: verifier, code_challenge_method: 'plain' })
          const end = await browser.follow(req.url, env.issuer)
          const back = new URL(end.url)
          t.equal(back.searchParams.get('error'), 'invalid_request')
          t.equal(back.searchParams.get('code'), null, 'no code')
        })
      }

      await t.test('a code_verifier for a code issued without a challenge is refused', async (t) => {
        // The provider never issues such a code (above); make one as if it had, by taking the
        // challenge off a stored code, to check the token endpoint on its own.
        const flow = await authorize(env, env.confidential, {}, browser)
        await db.db
          .updateTable('oidc_payloads')
          .set({ payload: sql`payload - 'codeChallenge' - 'codeChallengeMethod'` })
          .where('model', '=', 'AuthorizationCode')
          .where('consumed_at', 'is', null)
          .execute()
        const res = await redeem(env, env.confidential, flow.code, flow.verifier)
        t.equal(res.status, 400)
        t.equal(res.body.error, 'invalid_grant')
        t.notOk(res.body.access_token)
      })

      await t.test('a code_verifier under 43 characters is refused, even when it matches the challenge', async (t) => {
        const short = 'a'.repeat(42)
        const flow = await authorize(env, env.publicClient, { code_challenge: pkcePair(short).challenge }, browser)
        const res = await redeem(env, env.publicClient, flow.code, short)
        t.equal(res.status, 400)
        t.equal(res.body.error, 'invalid_request')
        t.notOk(res.body.access_token)
      })

      await t.test('a missing or wrong code_verifier is refused', async (t) => {
        const a = await authorize(env, env.publicClient, {}, browser)
        const missing = await redeem(env, env.publicClient, a.code, undefined)
        t.equal(missing.status, 400)
        t.equal(missing.body.error, 'invalid_grant')
        const b = await authorize(env, env.publicClient, {}, browser)
        const wrong = await redeem(env, env.publicClient, b.code, randomBytes(32).toString('base64url'))
        t.equal(wrong.status, 400)
        t.equal(wrong.body.error, 'invalid_grant')
      })
    })
  },
)

// ---------------------------------------------------------------------------------------
// 4

t.test(
  'SECURITY 4: a code redeemed twice is refused and revokes the first tokens; an expired code or one from another client is refused',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const env = await setup(t, db)
      const browser = new Browser()

      await t.test('a second redemption is refused and the tokens of the first are revoked', async (t) => {
        const flow = await authorize(
          env,
          env.confidential,
          { scope: 'openid profile offline_access', prompt: 'consent' },
          browser,
        )
        const first = await redeem(env, env.confidential, flow.code, flow.verifier)
        t.equal(first.status, 200)
        const accessToken = first.body.access_token as string
        const refreshToken = first.body.refresh_token as string
        t.ok(refreshToken, 'a refresh token was issued')
        t.equal(await introspect(env, env.confidential, accessToken), true, 'active before the replay')
        t.equal(await userinfoStatus(env, accessToken), 200)

        const second = await redeem(env, env.confidential, flow.code, flow.verifier)
        t.equal(second.status, 400)
        t.equal(second.body.error, 'invalid_grant')
        t.notOk(second.body.access_token)

        t.equal(await introspect(env, env.confidential, accessToken), false, 'the access token is revoked')
        t.equal(await userinfoStatus(env, accessToken), 401, 'userinfo refuses it')
        t.equal(
          (await refresh(env, env.confidential, refreshToken)).body.error,
          'invalid_grant',
          'the refresh token is revoked',
        )
      })

      await t.test('a code lives at most 10 minutes and is refused after its lifetime', async (t) => {
        const flow = await authorize(env, env.confidential, {}, browser)
        const row = await db.db
          .selectFrom('oidc_payloads')
          .select(['payload', 'expires_at'])
          .where('model', '=', 'AuthorizationCode')
          .where('consumed_at', 'is', null)
          .executeTakeFirstOrThrow()
        const payload = row.payload as { iat: number; exp: number }
        t.equal(payload.exp - payload.iat, env.config.idp.ttl.authorizationCodeSeconds)
        t.ok(payload.exp - payload.iat <= 600, 'at most 10 minutes')
        // Let its lifetime pass: the row's expiry and the code's own exp, one second ago.
        await db.db
          .updateTable('oidc_payloads')
          .set({
            expires_at: sql<Date>`now() - interval '1 second'`,
            payload: sql`jsonb_set(payload, '{exp}', to_jsonb(floor(extract(epoch from now()))::int - 1))`,
          })
          .where('model', '=', 'AuthorizationCode')
          .where('consumed_at', 'is', null)
          .execute()
        const res = await redeem(env, env.confidential, flow.code, flow.verifier)
        t.equal(res.status, 400)
        t.equal(res.body.error, 'invalid_grant')
        t.notOk(res.body.access_token)
      })

      await t.test('a code issued to another client is refused', async (t) => {
        const other = await registerClient(db, { redirectUris: [redirectUri] })
        const flow = await authorize(env, env.confidential, {}, browser)
        const stolen = await redeem(env, other, flow.code, flow.verifier)
        t.equal(stolen.status, 400)
        t.equal(stolen.body.error, 'invalid_grant')
        t.notOk(stolen.body.access_token)
        const pub = await redeem(env, env.publicClient, flow.code, flow.verifier)
        t.equal(pub.body.error, 'invalid_grant', 'nor by a public client')
      })
    })
  },
)

// ---------------------------------------------------------------------------------------
// 5

async function refreshTokenFor(env: Env, browser: Browser): Promise<{ refreshToken: string; accessToken: string }> {
  const flow = await authorize(
    env,
    env.confidential,
    { scope: 'openid profile offline_access', prompt: 'consent' },
    browser,
  )
  const res = await redeem(env, env.confidential, flow.code, flow.verifier)
  if (res.status !== 200 || typeof res.body.refresh_token !== 'string')
    throw new Error(`no refresh token: ${JSON.stringify(res.body)}`)
  return { refreshToken: res.body.refresh_token, accessToken: res.body.access_token as string }
}

async function replayRevokesGrant(t: Test, env: Env, beforeReplay: () => Promise<void>) {
  const browser = new Browser()
  const { refreshToken: first } = await refreshTokenFor(env, browser)
  const rotated = await refresh(env, env.confidential, first)
  t.equal(rotated.status, 200)
  const second = rotated.body.refresh_token as string
  const secondAccess = rotated.body.access_token as string
  t.not(second, first, 'rotated')
  await beforeReplay()
  const replay = await refresh(env, env.confidential, first)
  t.equal(replay.status, 400)
  t.equal(replay.body.error, 'invalid_grant')
  t.notOk(replay.body.access_token)
  const next = await refresh(env, env.confidential, second)
  t.equal(next.body.error, 'invalid_grant', 'the newest refresh token is revoked with the grant')
  t.equal(await introspect(env, env.confidential, secondAccess), false, 'the newest access token is revoked too')
}

/** Fires `n` refreshes with one token at once; returns how many were answered 200. */
async function concurrentRefreshes(env: Env, token: string, n: number): Promise<number> {
  const answers = await Promise.all(Array.from({ length: n }, () => refresh(env, env.confidential, token)))
  for (const a of answers) if (a.status !== 200 && a.status !== 400) throw new Error(`refresh answered ${a.status}`)
  return answers.filter((a) => a.status === 200).length
}

t.test(
  'SECURITY 5: a rotated refresh token replayed is refused and revokes the grant; of two concurrent refreshes exactly one succeeds',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      await t.test('with the grace window off, a replay is refused and revokes the grant', async (t) => {
        const env = await setup(t, db, { idp: { ttl: { refreshGraceSeconds: 0 } } })
        await replayRevokesGrant(t, env, async () => undefined)
      })

      await t.test(
        'with the default grace window, a replay after the window is refused and revokes the grant',
        async (t) => {
          const env = await setup(t, db)
          t.ok(env.config.idp.ttl.refreshGraceSeconds > 0, 'the default has a grace window')
          await replayRevokesGrant(t, env, async () => {
            // The window passes: the rotation happened a minute ago.
            await db.db
              .updateTable('oidc_payloads')
              .set({ consumed_at: sql<Date>`consumed_at - interval '60 seconds'` })
              .where('model', '=', 'RefreshToken')
              .where('consumed_at', 'is not', null)
              .execute()
          })
        },
      )

      await t.test(
        'with the default grace window, a replay inside the window leaves at most one live refresh chain',
        async (t) => {
          const env = await setup(t, db)
          const { refreshToken: first } = await refreshTokenFor(env, new Browser())
          const a = await refresh(env, env.confidential, first)
          const b = await refresh(env, env.confidential, first)
          t.equal(a.status, 200)
          const live = [a, b].map((r) => r.body.refresh_token).filter((x): x is string => typeof x === 'string')
          const usable: string[] = []
          for (const token of live) if ((await refresh(env, env.confidential, token)).status === 200) usable.push(token)
          t.ok(usable.length <= 1, `${usable.length} refresh chains of one grant are live after one rotation`)
        },
      )

      const rounds = 8
      await t.test(
        `with the grace window off, two concurrent refreshes with one token: exactly one succeeds (${rounds} rounds)`,
        async (t) => {
          const env = await setup(t, db, { idp: { ttl: { refreshGraceSeconds: 0 } } })
          const browser = new Browser()
          const wins: number[] = []
          for (let i = 0; i < rounds; i++)
            wins.push(await concurrentRefreshes(env, (await refreshTokenFor(env, browser)).refreshToken, 2))
          t.same(wins, Array<number>(rounds).fill(1))
        },
      )

      await t.test(
        `with the default grace window, two concurrent refreshes with one token: exactly one succeeds (${rounds} rounds)`,
        async (t) => {
          const env = await setup(t, db)
          const browser = new Browser()
          const wins: number[] = []
          for (let i = 0; i < rounds; i++)
            wins.push(await concurrentRefreshes(env, (await refreshTokenFor(env, browser)).refreshToken, 2))
          t.same(wins, Array<number>(rounds).fill(1))
        },
      )
    })
  },
)

// ---------------------------------------------------------------------------------------
// 6

t.test(
  'SECURITY 6: state is echoed byte for byte, nonce is exact, prompt=none without a session gives login_required, max_age=0 and prompt=login force a fresh sign-in',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const env = await setup(t, db)
      const oddState = ` a b+c/d?e=f&g=h#i%20j~;,'"<>\\ é✓ 🙂 `
      const oddNonce = `n+o/n=c&e %2B ü"'<>`

      await t.test(
        'state with odd characters comes back byte for byte, and the nonce is exact in the ID token',
        async (t) => {
          const flow = await authorize(env, env.confidential, { state: oddState, nonce: oddNonce })
          t.equal(flow.callback.searchParams.get('state'), oddState)
          t.same(flow.callback.searchParams.getAll('state'), [oddState], 'exactly one state')
          const tokens = await redeem(env, env.confidential, flow.code, flow.verifier)
          t.equal(decodeJwt(tokens.body.id_token as string).nonce, oddNonce)
        },
      )

      await t.test('state is echoed on an error response too', async (t) => {
        const req = codeRequest(env.issuer, env.confidential, { state: oddState, prompt: 'none' })
        const { res } = await get(req.url)
        const back = new URL(res.headers.get('location') ?? '')
        t.equal(back.searchParams.get('state'), oddState)
      })

      await t.test('prompt=none without a session redirects with login_required', async (t) => {
        for (const client of [env.confidential, env.publicClient]) {
          const req = codeRequest(env.issuer, client, { prompt: 'none' })
          const { res } = await get(req.url)
          t.equal(res.status, 303)
          const back = new URL(res.headers.get('location') ?? '')
          t.equal(back.origin + back.pathname, redirectUri)
          t.equal(back.searchParams.get('error'), 'login_required')
          t.equal(back.searchParams.get('code'), null)
          t.equal(back.searchParams.get('state'), req.state)
        }
      })

      for (const extra of [{ max_age: '0' }, { prompt: 'login' }] as Record<string, string>[]) {
        const what = Object.entries(extra)
          .map(([k, v]) => `${k}=${v}`)
          .join('')
        await t.test(`${what} with a live session shows the sign-in page again`, async (t) => {
          const browser = new Browser()
          const first = await authorize(env, env.confidential, {}, browser)
          // Control: the same request without the parameter goes straight back with a code.
          const again = codeRequest(env.issuer, env.confidential)
          const silent = await browser.follow(again.url, env.issuer)
          t.ok(new URL(silent.url).searchParams.get('code'), 'a live session normally answers at once')

          const page = await loginPage(env, browser, env.confidential, extra)
          t.ok(page.html.includes('name="password"'), 'the password is asked again')
          const res = await postLogin(browser, page.action, {
            _csrf: page.csrf,
            username: budi.nik,
            password: budi.password,
          })
          t.equal(res.res.status, 303)
          const end = await browser.follow(new URL(res.res.headers.get('location') ?? '', env.issuer).href, env.issuer)
          const code = new URL(end.url).searchParams.get('code')
          t.ok(code, 'a code after the fresh sign-in')
          const tokens = await redeem(env, env.confidential, code ?? '', page.req.verifier)
          const firstTokens = await redeem(env, env.confidential, first.code, first.verifier)
          const authTime = decodeJwt(tokens.body.id_token as string).auth_time as number
          const firstAuthTime = decodeJwt(firstTokens.body.id_token as string).auth_time as number
          t.ok(authTime >= firstAuthTime, 'auth_time is that of the new sign-in')
        })
      }
    })
  },
)

// ---------------------------------------------------------------------------------------
// 7

t.test('SECURITY 7: implicit and hybrid response types are unsupported, and so is the password grant', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const env = await setup(t, db)
    const browser = new Browser()
    await authorize(env, env.confidential, {}, browser)

    for (const responseType of [
      'token',
      'id_token',
      'id_token token',
      'code id_token',
      'code token',
      'code id_token token',
      'none',
    ]) {
      await t.test(`response_type=${responseType} gives unsupported_response_type and no token`, async (t) => {
        const req = codeRequest(env.issuer, env.confidential, { response_type: responseType })
        const res = await browser.request(req.url)
        const location = res.headers.get('location')
        const html = await res.text()
        if (location === null) {
          t.equal(res.status, 400)
          t.ok(isProviderErrorPage(html, 'unsupported_response_type'))
        } else {
          const back = new URL(location, env.issuer)
          t.equal(back.origin + back.pathname, redirectUri)
          const answer = new URLSearchParams(back.hash.slice(1) || back.search.slice(1))
          t.equal(answer.get('error'), 'unsupported_response_type')
          t.notOk(answer.has('access_token') || answer.has('id_token') || answer.has('code'), 'no token or code')
        }
      })
    }

    await t.test('grant_type=password gives unsupported_grant_type', async (t) => {
      for (const client of [env.confidential, env.publicClient]) {
        const res = await postAs(env.issuer, '/token', client, {
          grant_type: 'password',
          username: budi.nik,
          password: budi.password,
          scope: 'openid',
        })
        t.equal(res.status, 400)
        t.equal(res.body.error, 'unsupported_grant_type')
        t.notOk(res.body.access_token)
      }
    })

    await t.test('discovery does not advertise them', async (t) => {
      const meta = (await (await fetch(`${env.issuer}/.well-known/openid-configuration`)).json()) as Record<
        string,
        string[]
      >
      t.same(meta.response_types_supported, ['code'])
      t.notOk(meta.grant_types_supported?.includes('password'))
      t.notOk(meta.grant_types_supported?.includes('implicit'))
    })
  })
})

// ---------------------------------------------------------------------------------------
// 8

/** A browser that records every response, for checks over a whole flow. */
class RecordingBrowser extends Browser {
  readonly responses: { url: string; status: number; headers: Headers; setCookies: string[] }[] = []

  override async request(
    url: string,
    init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
  ) {
    const res = await super.request(url, init)
    this.responses.push({ url, status: res.status, headers: res.headers, setCookies: res.headers.getSetCookie() })
    return res
  }
}

/**
 * The idp behind a TLS-terminating proxy: issuer https://…, the proxy (127.0.0.1) trusted,
 * and every request carrying X-Forwarded-Proto: https. The browser maps the public origin
 * to the local port.
 */
class ProxiedBrowser extends RecordingBrowser {
  readonly #publicOrigin: string
  readonly #local: string

  constructor(publicOrigin: string, local: string) {
    super()
    this.#publicOrigin = publicOrigin
    this.#local = local
  }

  override async request(
    url: string,
    init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
  ) {
    const mapped = url.startsWith(this.#publicOrigin) ? this.#local + url.slice(this.#publicOrigin.length) : url
    const host = new URL(this.#publicOrigin).host
    return super.request(mapped, {
      ...init,
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': host, ...init.headers },
    })
  }
}

async function startBehindProxy(t: Test, db: TestDatabase, publicIssuer: string) {
  const port = await freePort()
  const config = testConfig({
    http: { trustProxy: ['127.0.0.1'] },
    idp: { issuer: publicIssuer, port },
    gateway: { publicUrl: 'https://portal.example.go.id', port: 1 },
  })
  const app = await buildIdp({ config, database: db, logger: silentLogger(), keyEncryption: testKek })
  await app.listen({ host: '127.0.0.1', port })
  t.teardown(() => app.close())
  return { app, local: `http://127.0.0.1:${port}` }
}

function cookieAttributes(line: string): { name: string; value: string; attrs: string[] } {
  const [pair = '', ...attrs] = line.split(';')
  const eq = pair.indexOf('=')
  return {
    name: pair.slice(0, eq).trim(),
    value: pair.slice(eq + 1).trim(),
    attrs: attrs.map((a) => a.trim().toLowerCase()),
  }
}

/** Every way a cookie value could carry the citizen's data: as is, URL-decoded, base64-decoded. */
function cookieReadings(value: string): string[] {
  const readings = [value]
  try {
    readings.push(decodeURIComponent(value))
  } catch {
    // not URL-encoded
  }
  for (const part of value.split(/[.~:]/)) {
    readings.push(Buffer.from(part, 'base64url').toString('utf8'), Buffer.from(part, 'base64').toString('utf8'))
  }
  return readings
}

t.test('SECURITY 8: login and consent forms are CSRF-protected', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const env = await setup(t, db)
    const argon = countArgon2(t)

    await t.test(
      'a sign-in POST without _csrf or with a wrong one is refused with 403 and nothing is checked',
      async (t) => {
        const browser = new Browser()
        const page = await loginPage(env, browser)
        const before = { calls: argon.calls(), audit: await countRows(db, 'audit_events') }
        const creds = { username: budi.nik, password: budi.password }
        const forged: Record<string, string>[] = [
          { ...creds },
          { ...creds, _csrf: '' },
          { ...creds, _csrf: 'not-the-token' },
          { ...creds, _csrf: `${page.csrf.slice(0, -2)}xx` },
        ]
        for (const form of forged) {
          const res = await postLogin(browser, page.action, form)
          t.equal(res.res.status, 403, `refused: _csrf=${JSON.stringify(form._csrf)}`)
          t.equal(res.res.headers.get('location'), null)
        }
        // A cross-site POST carries no cookies (SameSite), so no CSRF secret either.
        const bare = await fetch(page.action, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
          body: new URLSearchParams({ ...creds, _csrf: page.csrf }),
          redirect: 'manual',
        })
        t.equal(bare.status, 403, 'the right token without the browser cookies is refused too')
        t.equal(argon.calls(), before.calls, 'no password was checked')
        t.equal(await countRows(db, 'audit_events'), before.audit, 'no sign-in attempt recorded')
        // Control: the real token signs in.
        const ok = await postLogin(browser, page.action, { ...creds, _csrf: page.csrf })
        t.equal(ok.res.status, 303)
      },
    )

    await t.test(
      'a consent POST without _csrf or with a wrong one is refused with 403 and grants nothing',
      async (t) => {
        const browser = new Browser()
        // An agency's client: the regency's own (first-party) clients are not asked for consent.
        const agency = await registerClient(db, { redirectUris: [redirectUri], firstParty: false })
        const page = await loginPage(env, browser, agency, { scope: 'openid profile email' })
        const signedIn = await postLogin(browser, page.action, {
          _csrf: page.csrf,
          username: budi.nik,
          password: budi.password,
        })
        const step = await browser.follow(
          new URL(signedIn.res.headers.get('location') ?? '', env.issuer).href,
          env.issuer,
        )
        const html = await step.res.text()
        t.ok(html.includes('/consent"'), 'the consent page')
        const action = new URL(formAction(html, '/consent'), env.issuer).href
        const grantsBefore = await db.db.selectFrom('oidc_payloads').select('id').where('model', '=', 'Grant').execute()
        for (const form of [{ decision: 'allow' }, { decision: 'allow', _csrf: 'forged' }]) {
          const res = await browser.request(action, { form })
          t.equal(res.status, 403, `refused: _csrf=${JSON.stringify((form as { _csrf?: string })._csrf)}`)
          t.equal(res.headers.get('location'), null)
        }
        const grantsAfter = await db.db.selectFrom('oidc_payloads').select('id').where('model', '=', 'Grant').execute()
        t.equal(grantsAfter.length, grantsBefore.length, 'no grant was written')
        const ok = await browser.request(action, { form: { decision: 'allow', _csrf: csrfFrom(html) } })
        t.equal(ok.status, 303, 'control: the real token is accepted')
      },
    )
  })
})

t.test('SECURITY 8: the session identifier changes at sign-in', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const env = await setup(t, db)
    await addCitizen(db.db, siti)

    await t.test('a session cookie planted before sign-in is not the one after it', async (t) => {
      // The attacker's browser gets a (signed-out) provider session cookie…
      const attacker = new Browser()
      await attacker.request(`${env.issuer}/session/end`)
      const planted = new Map(attacker.cookies)
      const plantedId = planted.get('sp_session')?.value
      t.ok(plantedId, 'the provider hands out a session cookie before sign-in')
      // …and plants it (with its signature) in the victim's browser; the victim signs in.
      const victim = new Browser()
      for (const [k, v] of planted) victim.cookies.set(k, { ...v })
      await authorize(env, env.confidential, {}, victim, { username: siti.nik, password: siti.password })
      const after = victim.cookies.get('sp_session')?.value
      t.ok(after)
      t.not(after, plantedId, 'a new session id after sign-in')
      const row = await db.db
        .selectFrom('oidc_payloads')
        .select('account_id')
        .where('model', '=', 'Session')
        .where('id', '=', plantedId ?? '')
        .executeTakeFirst()
      t.equal(row?.account_id ?? null, null, 'the planted id names no signed-in session')
      // The attacker's browser, still holding the planted cookie, is not signed in.
      const probe = await get(codeRequest(env.issuer, env.confidential, { prompt: 'none' }).url, attacker)
      t.equal(new URL(probe.res.headers.get('location') ?? '').searchParams.get('error'), 'login_required')
    })

    await t.test('signing in again, as the same or another citizen, gives a new session id', async (t) => {
      const browser = new Browser()
      await authorize(env, env.confidential, {}, browser)
      const first = browser.cookies.get('sp_session')?.value
      await authorize(env, env.confidential, { prompt: 'login' }, browser)
      const second = browser.cookies.get('sp_session')?.value
      await authorize(env, env.confidential, { prompt: 'login' }, browser, {
        username: siti.nik,
        password: siti.password,
      })
      const third = browser.cookies.get('sp_session')?.value
      t.ok(first && second && third)
      t.not(second, first, 'the same citizen again')
      t.not(third, second, 'another citizen')
    })
  })
})

t.test('SECURITY 8: cookies are HttpOnly and SameSite, Secure behind TLS, and hold no personal data', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const publicIssuer = 'https://idp.sukamaju.go.id'
    const { local } = await startBehindProxy(t, db, publicIssuer)
    await addCitizen(db.db)
    const client = await registerClient(db, { redirectUris: [redirectUri], postLogoutRedirectUris: [byeUri] })
    const browser = new ProxiedBrowser(publicIssuer, local)
    const req = codeRequest(publicIssuer, client, { scope: 'openid profile email phone nik' })
    const callback = new URL(await signInAs(browser, req.url, publicIssuer, budiLogin))
    t.ok(callback.searchParams.get('code'), 'signed in behind the proxy')
    // Switch the language too (the locale cookie), and end on the home page.
    await browser.request(`${publicIssuer}/?lang=en`)

    const lines = browser.responses.flatMap((r) => r.setCookies)
    const names = new Set(lines.map((l) => cookieAttributes(l).name))
    t.ok(
      names.has('__Host-sp_session') && names.has('__Host-sp_interaction') && names.has('__Host-sp_csrf'),
      `the cookies seen: ${[...names].join(', ')}`,
    )
    const personal = [
      budi.nik,
      budi.name,
      budi.name.split(' ')[0] ?? '',
      budi.email,
      budi.phone,
      '+6281234567890',
      budi.birthDate,
      '12011990',
      budi.password,
    ]
    for (const line of lines) {
      const { name, value, attrs } = cookieAttributes(line)
      if (value === '' || attrs.some((a) => a === 'max-age=0' || a.startsWith('expires=thu, 01 jan 1970'))) continue
      t.ok(attrs.includes('httponly'), `${name} is HttpOnly`)
      t.ok(
        attrs.some((a) => a === 'samesite=lax' || a === 'samesite=strict'),
        `${name} is SameSite`,
      )
      t.ok(attrs.includes('secure'), `${name} is Secure`)
      const readings = cookieReadings(value).map((r) => r.toLowerCase())
      for (const p of personal)
        t.notOk(
          readings.some((r) => r.includes(p.toLowerCase())),
          `${name} holds no ${p === budi.password ? 'password' : 'personal data'}`,
        )
    }
  })
})

t.test(
  'SECURITY 8: over https the session, sign-in, device, registration and reset cookies are __Host- (Secure, Path=/, no Domain); plain names over http',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const publicIssuer = 'https://idp.sukamaju.go.id'
      const { local } = await startBehindProxy(t, db, publicIssuer)
      await addCitizen(db.db)
      const client = await registerClient(db, { redirectUris: [redirectUri], postLogoutRedirectUris: [byeUri] })
      const browser = new ProxiedBrowser(publicIssuer, local)
      const req = codeRequest(publicIssuer, client, { scope: 'openid profile' })
      t.ok(new URL(await signInAs(browser, req.url, publicIssuer, budiLogin)).searchParams.get('code'), 'signed in')
      // A registration and a password reset, each up to the point where its flow cookie is set.
      const daftar = await (await browser.request(`${publicIssuer}/daftar`)).text()
      await browser.request(`${publicIssuer}/daftar`, {
        form: {
          _csrf: csrfFrom(daftar),
          nik: siti.nik,
          name: siti.name,
          day: '3',
          month: '3',
          year: '1985',
          gender: 'female',
          email: siti.email,
          phone: '',
          password: siti.password,
          password2: siti.password,
        },
      })
      const lupa = await (await browser.request(`${publicIssuer}/lupa-sandi`)).text()
      await browser.request(`${publicIssuer}/lupa-sandi`, { form: { _csrf: csrfFrom(lupa), identifier: budi.nik } })

      const lines = browser.responses.flatMap((r) => r.setCookies).filter((l) => cookieAttributes(l).value !== '')
      const names = new Set(lines.map((l) => cookieAttributes(l).name))
      for (const base of ['sp_session', 'sp_interaction', 'sp_perangkat', 'sp_daftar', 'sp_reset', 'sp_csrf']) {
        t.ok(names.has(`__Host-${base}`), `__Host-${base} was set (${[...names].join(', ')})`)
        t.notOk(names.has(base), `no unprefixed ${base}`)
      }
      for (const line of lines) {
        const { name, attrs } = cookieAttributes(line)
        if (!name.startsWith('__Host-')) continue
        t.ok(
          attrs.includes('secure') && attrs.includes('path=/') && !attrs.some((a) => a.startsWith('domain=')),
          `${name}: Secure, Path=/, no Domain`,
        )
      }

      // The quick start over plain http keeps the plain names.
      const plain = await setup(t, db)
      const http = new RecordingBrowser()
      await signIn(
        http,
        codeRequest(plain.issuer, plain.confidential, { scope: 'openid' }).url,
        plain.issuer,
        budiLogin,
      )
      const plainNames = new Set(http.responses.flatMap((r) => r.setCookies).map((l) => cookieAttributes(l).name))
      t.ok(
        plainNames.has('sp_session') && plainNames.has('sp_interaction'),
        `plain names over http (${[...plainNames].join(', ')})`,
      )
      t.notOk(
        [...plainNames].some((n) => n.startsWith('__Host-')),
        'no __Host- cookie over http',
      )
    })
  },
)

t.test("SECURITY 8: every page refuses to be framed (CSP frame-ancestors 'none')", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const env = await setup(t, db)
    const browser = new RecordingBrowser()
    // Sign-in, a failed sign-in, consent, the provider's error page, logout pages, home, 404.
    const page = await loginPage(env, browser, env.confidential, { scope: 'openid profile email' })
    await postLogin(browser, page.action, {
      _csrf: page.csrf,
      username: budi.nik,
      password: 'salah sekali kata sandinya',
    })
    const again = await loginPage(env, browser, env.confidential, { scope: 'openid profile email' })
    await signIn(browser, again.req.url, env.issuer, budiLogin)
    await browser.request(codeRequest(env.issuer, env.confidential, { redirect_uri: `${rp}/evil` }).url)
    await browser.request(`${env.issuer}/session/end`)
    await browser.request(`${env.issuer}/`)
    await browser.request(`${env.issuer}/no-such-page`)
    await browser.request(`${env.issuer}/interaction/AAAAAAAAAAAAAAAAAAAAA`)
    // Signed out: the provider's own logout step (a self-submitting form).
    await new Browser().request(`${env.issuer}/session/end`).then(async (res) => {
      browser.responses.push({
        url: `${env.issuer}/session/end (signed out)`,
        status: res.status,
        headers: res.headers,
        setCookies: [],
      })
      await res.arrayBuffer()
    })
    // A browser renders what is not a redirect.
    const pages = browser.responses.filter(
      (r) => (r.status < 300 || r.status >= 400) && (r.headers.get('content-type') ?? '').startsWith('text/html'),
    )
    t.ok(pages.length >= 8, `${pages.length} pages seen`)
    const statuses = new Set(pages.map((p) => p.status))
    t.ok(
      statuses.has(200) && statuses.has(400) && statuses.has(401) && statuses.has(404),
      `statuses: ${[...statuses].join(', ')}`,
    )
    for (const p of pages) {
      t.match(
        p.headers.get('content-security-policy') ?? '',
        /frame-ancestors 'none'/,
        `${p.status} ${new URL(p.url).pathname}`,
      )
    }
  })
})

// ---------------------------------------------------------------------------------------
// 9

/** A second idp instance on the same database: a second connection pool on PostgreSQL. */
async function secondInstance(t: Test, db: TestDatabase): Promise<RunningIdp> {
  if (db.url === undefined) return startIdp(t, db, { http: { trustProxy: ['127.0.0.1'] } })
  const handle = await openDatabase({
    url: db.url,
    pgliteDir: '',
    autoMigrate: false,
    poolMax: 3,
    connectTimeoutMs: 5000,
    statementTimeoutMs: 30000,
    queryTimeoutMs: 35000,
  })
  t.teardown(() => handle.close())
  return startIdp(t, { ...handle, url: db.url }, { http: { trustProxy: ['127.0.0.1'] } })
}

async function failedSignIn(env: { issuer: string }, client: Rp, username: string, password: string, from?: string) {
  const browser = new Browser()
  const page = await loginPage({ issuer: env.issuer, confidential: client }, browser, client)
  return postLogin(
    browser,
    page.action,
    { _csrf: page.csrf, username, password },
    from === undefined ? {} : { 'x-forwarded-for': from },
  )
}

t.test(
  'SECURITY 9: sign-in is throttled per account and per source address, in the database, across instances',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const a = await setup(t, db, { http: { trustProxy: ['127.0.0.1'] } })
      const b = await secondInstance(t, db)
      const client = a.confidential

      await t.test(
        'failures on one account from one address, spread over two instances, lock that address on both, with 429 and Retry-After',
        async (t) => {
          const from = '198.51.100.7'
          const answers: number[] = []
          for (let i = 0; i < 5; i++) {
            const res = await failedSignIn(i % 2 === 0 ? a : b, client, budi.nik, `salah nomor ${i} sekali`, from)
            answers.push(res.res.status)
          }
          t.same(answers, [401, 401, 401, 401, 401], 'five wrong passwords')
          const account = await db.db
            .selectFrom('login_attempts')
            .selectAll()
            .where('key', '=', accountKey(a.citizen.id))
            .executeTakeFirst()
          t.equal(account?.failures, 5, "the account's failures in a row, in the database")
          const pair = await db.db
            .selectFrom('login_attempts')
            .selectAll()
            .where('key', '=', `${accountKey(a.citizen.id)}|${identifierKey('nik', budi.nik)}|ip:${from}`)
            .executeTakeFirst()
          t.equal(pair?.failures, 5, 'and the account-and-address counter that locks')
          for (const idp of [a, b]) {
            // The right password, from that address: refused while the lock lasts.
            const res = await failedSignIn(idp, client, budi.nik, budi.password, from)
            t.equal(res.res.status, 429, 'locked on this instance')
            const retryAfter = Number(res.res.headers.get('retry-after'))
            t.ok(Number.isInteger(retryAfter) && retryAfter > 0, `Retry-After: ${res.res.headers.get('retry-after')}`)
            t.match(res.html, /Terlalu banyak percobaan masuk/)
          }
          // SECURITY.md line 38: the lock is the stranger's address's, not the owner's.
          const owner = await failedSignIn(b, client, budi.nik, budi.password, '198.51.100.77')
          t.equal(owner.res.status, 303, 'the owner, from another address, signs in')
        },
      )

      await t.test(
        'failures from one address over many accounts lock that address on both instances, not others',
        async (t) => {
          const from = '203.0.113.9'
          const limit = 50
          for (let i = 0; i < limit; i++) {
            // Unknown, distinct e-mail addresses: no single account reaches its own lock.
            const res = await failedSignIn(
              i % 2 === 0 ? a : b,
              client,
              `orang${i}@contoh.id`,
              'tebak tebakan saja',
              from,
            )
            if (res.res.status !== 401) {
              t.fail(`attempt ${i + 1} answered ${res.res.status}`)
              return
            }
          }
          const row = await db.db
            .selectFrom('login_attempts')
            .selectAll()
            .where('key', '=', `ip:${from}`)
            .executeTakeFirst()
          t.equal(row?.failures, limit, 'the address has its counter in the database')
          for (const idp of [a, b]) {
            const res = await failedSignIn(idp, client, siti.email, siti.password, from)
            t.equal(res.res.status, 429)
            t.ok(Number(res.res.headers.get('retry-after')) > 0, 'with Retry-After')
          }
          const elsewhere = await failedSignIn(b, client, 'orang-lain@contoh.id', 'tebak tebakan saja', '203.0.113.10')
          t.equal(elsewhere.res.status, 401, 'another address is not affected')
        },
      )

      await t.test(
        'never more than 100 failures in a row on one account: then even the right password is refused',
        async (t) => {
          const other = await addCitizen(db.db, siti)
          const key = accountKey(other.id)
          // 89 failures in a row, with the last lock already over (no waiting in tests): an
          // unknown source is refused at 90, the bar of 100 less the known devices' share.
          await db.db
            .insertInto('login_attempts')
            .values({
              key,
              failures: 89,
              first_failure_at: new Date(Date.now() - 86_400_000),
              last_failure_at: new Date(Date.now() - 3_600_000),
              locked_until: new Date(Date.now() - 1000),
            })
            .execute()
          const ninetieth = await failedSignIn(a, client, siti.nik, 'salah yang kesembilan puluh', '192.0.2.1')
          t.equal(ninetieth.res.status, 401, 'the 90th failure is still an ordinary failure')
          await db.db
            .updateTable('login_attempts')
            .set({ locked_until: new Date(Date.now() - 1000) })
            .where('key', '=', key)
            .execute()
          for (const idp of [a, b]) {
            const right = await failedSignIn(idp, client, siti.nik, siti.password, '192.0.2.2')
            // Answered as a wrong password: a distinct answer would link the account's e-mail and phone to the NIK (SECURITY 37).
            t.equal(
              right.res.status,
              401,
              'then the account stays refused to unknown sources, even with the right password',
            )
          }
          const row = await db.db
            .selectFrom('login_attempts')
            .selectAll()
            .where('key', '=', key)
            .executeTakeFirstOrThrow()
          t.ok(row.failures <= 100, `counter at ${row.failures}`)
          // A password reset is what lifts it.
          await setCitizenPassword(db.db, other.id, 'sepeda merah ke sawah sore', { regencyName: 'Sukamaju' })
          const afterReset = await failedSignIn(a, client, siti.nik, 'sepeda merah ke sawah sore', '192.0.2.3')
          t.equal(afterReset.res.status, 303, 'signed in after the reset')
        },
      )
    })
  },
)

// ---------------------------------------------------------------------------------------
// 10

/** The page without what differs on every render: the CSRF token and the request id. */
function comparable(html: string, requestId: string | null): string {
  let out = html.replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value="…"')
  if (requestId) out = out.split(requestId).join('…request-id…')
  return out
}

/** A hasher that counts what it is asked to do, doing the real work. */
function countingHasher(): { hasher: PasswordHasher; calls: string[] } {
  const calls: string[] = []
  const hasher: PasswordHasher = {
    async hashPassword(p) {
      calls.push('hash')
      return argon2Hasher.hashPassword(p)
    },
    async verifyPassword(h, p) {
      calls.push('verify')
      return argon2Hasher.verifyPassword(h, p)
    },
    async verifyAgainstDummy(p) {
      calls.push('verify')
      return argon2Hasher.verifyAgainstDummy(p)
    },
  }
  return { hasher, calls }
}

t.test(
  'SECURITY 10: an unknown account and a wrong password get the same status, the same body and the same work',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const idp = await startIdp(t, db)
      const client = await registerClient(db, { redirectUris: [redirectUri] })
      const env = { issuer: idp.issuer, confidential: client }
      const argon = countArgon2(t)

      await t.test(
        'over HTTP, in one sign-in: same status, same page, same argon2 work, same kinds of rows',
        async (t) => {
          const browser = new Browser()
          const page = await loginPage(env, browser, client)

          async function attemptCounters(): Promise<Map<string, number>> {
            const rows = await db.db.selectFrom('login_attempts').select(['key', 'failures']).execute()
            return new Map(rows.map((r) => [r.key, r.failures]))
          }
          /**
           * Which kinds of counter moved, and by how much: `ip`, `account` and the
           * account-and-address pair that locks (SECURITY.md line 38), known or not, alike.
           */
          function throttleWrites(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
            const moved: Record<string, number> = {}
            for (const [key, failures] of after) {
              const delta = failures - (before.get(key) ?? 0)
              if (delta === 0) continue
              const kind = key.startsWith('ip:') ? 'ip' : key.includes('|') ? 'accountAndAddress' : 'account'
              moved[kind] = (moved[kind] ?? 0) + delta
            }
            return moved
          }

          async function attempt(password: string) {
            const before = {
              calls: argon.calls(),
              attempts: await attemptCounters(),
              audit: await db.db.selectFrom('audit_events').select('id').execute(),
            }
            const res = await postLogin(browser, page.action, {
              _csrf: csrfFrom(page.html),
              username: budi.nik,
              password,
            })
            const audit = await db.db.selectFrom('audit_events').select(['id', 'event', 'data']).execute()
            const known = new Set(before.audit.map((r) => r.id))
            return {
              status: res.res.status,
              body: comparable(res.html, res.res.headers.get('x-request-id')),
              contentType: res.res.headers.get('content-type'),
              argon2: argon.calls() - before.calls,
              throttle: throttleWrites(before.attempts, await attemptCounters()),
              audit: audit.filter((r) => !known.has(r.id)).map((r) => ({ event: r.event, data: r.data })),
            }
          }

          // The same NIK before it has an account, and after, with a wrong password.
          const unknown = await attempt('bukan kata sandinya')
          await addCitizen(db.db)
          const wrong = await attempt('bukan kata sandinya')
          t.equal(unknown.status, 401)
          t.equal(wrong.status, unknown.status, 'same status')
          t.equal(wrong.contentType, unknown.contentType)
          t.equal(wrong.body, unknown.body, 'byte-identical pages apart from the CSRF token and request id')
          t.equal(unknown.argon2, 1, 'one argon2 verification for the unknown account (the dummy hash)')
          t.equal(wrong.argon2, unknown.argon2, 'the same argon2 work')
          t.same(
            unknown.throttle,
            { ip: 1, account: 1, accountAndAddress: 1 },
            'one failure counted for the address, the (unknown) account, and the pair',
          )
          t.same(wrong.throttle, unknown.throttle, 'the same throttle writes')
          t.same(wrong.audit, unknown.audit, 'the same audit entry')
        },
      )

      await t.test(
        'unknown, disabled, password-less and wrong-password accounts each cost exactly one argon2 verification',
        async (t) => {
          const disabled = await createCitizen(db.db, { ...siti, regencyName: 'Sukamaju' })
          await setCitizenStatus(db.db, disabled.id, 'disabled')
          const noPassword = await createCitizen(db.db, {
            nik: '3201014303850003',
            name: 'Sari Dewi',
            birthDate: '1985-03-03',
            gender: 'female',
            email: 'sari@contoh.id',
            regencyName: 'Sukamaju',
          })
          const cases: Record<string, [string, string]> = {
            'an unknown NIK': ['3201011201900009', 'kopi tubruk di teras rumah'],
            'an unknown email': ['tidak.ada@contoh.id', 'kopi tubruk di teras rumah'],
            'an unknown phone': ['081399990000', 'kopi tubruk di teras rumah'],
            'a disabled account (right password)': [siti.nik, siti.password],
            'an account without a password': [noPassword.email ?? '', 'kopi tubruk di teras rumah'],
            'a wrong password': [budi.nik, 'kopi tubruk di teras rumahku'],
          }
          for (const [what, [username, password]] of Object.entries(cases)) {
            const { hasher, calls } = countingHasher()
            const result = await authenticateCitizen(db.db, username, password, { passwords: hasher, ip: '192.0.2.50' })
            t.same(result, { ok: false, reason: 'invalid_credentials' }, `${what}: invalid_credentials`)
            t.same(calls, ['verify'], `${what}: exactly one verification`)
          }
        },
      )
    })
  },
)

// ---------------------------------------------------------------------------------------
// 11

t.test('SECURITY 11: hostile sign-in input gets an ordinary 400/413 before any hashing, never a 500', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const env = await setup(t, db)
    const argon = countArgon2(t)
    const browser = new Browser()
    const page = await loginPage(env, browser)

    async function hostile(what: string, body: string | Record<string, string>, expected: number[]) {
      await t.test(what, async (t) => {
        const before = {
          calls: argon.calls(),
          audit: await countRows(db, 'audit_events'),
          attempts: await countRows(db, 'login_attempts'),
        }
        const headers: Record<string, string> = {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'text/html',
          cookie: browser.cookieHeader(new URL(page.action)),
        }
        const res = await fetch(page.action, {
          method: 'POST',
          headers,
          body: typeof body === 'string' ? body : new URLSearchParams(body).toString(),
          redirect: 'manual',
        })
        const html = await res.text()
        t.ok(expected.includes(res.status), `answered ${res.status}, expected ${expected.join(' or ')}`)
        t.ok(res.status < 500, 'never a 5xx')
        t.equal(res.headers.get('location'), null, 'not signed in')
        t.notOk(/stack|at .*\.ts:\d+|SELECT |syntax error/i.test(html), 'no internals on the page')
        t.equal(argon.calls(), before.calls, 'no argon2 work')
        t.equal(await countRows(db, 'audit_events'), before.audit, 'no sign-in attempt recorded')
        t.equal(await countRows(db, 'login_attempts'), before.attempts, 'nothing counted against anyone')
      })
    }

    const csrf = page.csrf
    for (const username of [
      `' OR '1'='1' --`,
      `"; DROP TABLE citizens; --`,
      `3201011201900001' OR 1=1 --`,
      `admin'/*`,
      '%27%20OR%201%3D1',
    ]) {
      await hostile(
        `a username of SQL metacharacters (${username}) is refused with 400`,
        { _csrf: csrf, username, password: budi.password },
        [400],
      )
    }
    await hostile(
      'a NUL byte in the username is refused with 400',
      { _csrf: csrf, username: `${budi.nik}\u0000`, password: budi.password },
      [400],
    )
    await hostile(
      'a NUL byte in the password is refused with 400',
      { _csrf: csrf, username: budi.nik, password: `${budi.password}\u0000x` },
      [400],
    )
    await hostile(
      'a 10 MB password field is refused with 413',
      `_csrf=${encodeURIComponent(csrf)}&username=${budi.nik}&password=${'a'.repeat(10 * 1024 * 1024)}`,
      [413],
    )
    await hostile(
      'a 10 MB username field is refused with 413',
      `_csrf=${encodeURIComponent(csrf)}&password=x&username=${'1'.repeat(10 * 1024 * 1024)}`,
      [413],
    )
    const many = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`f${i}`, 'x']))
    await hostile(
      '500 form fields are refused with 400 or 413',
      { _csrf: csrf, username: budi.nik, password: budi.password, ...many },
      [400, 413],
    )
    await hostile(
      'a password over 1024 bytes (under the body limit) is refused with 400 or 413',
      { _csrf: csrf, username: budi.nik, password: 'é'.repeat(600) },
      [400, 413],
    )
    // Sent as a form, a JSON text is one meaningless field: no CSRF token, so 403.
    await hostile(
      'a JSON text in the form body is refused (no CSRF token: 403)',
      JSON.stringify({ _csrf: csrf, username: budi.nik }),
      [400, 403, 415],
    )

    await t.test('SQL metacharacters in a password are just a wrong password, and the tables are intact', async (t) => {
      const citizens = await countRows(db, 'citizens')
      const res = await postLogin(browser, page.action, {
        _csrf: csrf,
        username: budi.nik,
        password: `x' OR '1'='1'; DROP TABLE citizens; --`,
      })
      t.equal(res.res.status, 401)
      t.equal(await countRows(db, 'citizens'), citizens)
      const ok = await postLogin(browser, page.action, { _csrf: csrf, username: budi.nik, password: budi.password })
      t.equal(ok.res.status, 303, 'the account still signs in')
    })
  })
})

// ---------------------------------------------------------------------------------------
// 12

const fullWidth = (s: string) => s.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)))
const arabicIndic = (s: string) => s.replace(/[0-9]/g, (d) => String.fromCharCode(0x0660 + Number(d)))

t.test(
  'SECURITY 12: a NIK is NFKC-normalised to 16 ASCII digits, look-alikes are refused, and it is never the subject',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const env = await setup(t, db)

      await t.test('a full-width NIK is stored as ASCII digits and signs in', async (t) => {
        const wide = fullWidth(siti.nik)
        const created = await createCitizen(db.db, { ...siti, nik: wide, regencyName: 'Sukamaju' })
        t.equal(created.nik, siti.nik)
        await markEmailVerified(db.db, created.id, siti.email)
        const row = await db.db
          .selectFrom('citizens')
          .select('nik')
          .where('id', '=', created.id)
          .executeTakeFirstOrThrow()
        t.equal(row.nik, siti.nik, 'stored as 16 ASCII digits')
        const flow = await authorize(env, env.confidential, {}, new Browser(), {
          username: wide,
          password: siti.password,
        })
        const tokens = await redeem(env, env.confidential, flow.code, flow.verifier)
        t.equal(decodeJwt(tokens.body.id_token as string).sub, created.id)
      })

      const refused: Record<string, string> = {
        'Arabic-Indic digits': arabicIndic(budi.nik),
        'extended Arabic-Indic digits': budi.nik.replace(/[0-9]/g, (d) => String.fromCharCode(0x06f0 + Number(d))),
        'a zero-width space': `${budi.nik.slice(0, 8)}\u200b${budi.nik.slice(8)}`,
        'a zero-width joiner': `${budi.nik.slice(0, 8)}\u200d${budi.nik.slice(8)}`,
      }
      for (const [what, nik] of Object.entries(refused)) {
        await t.test(`a NIK with ${what} is refused at registration and at sign-in, and stored nowhere`, async (t) => {
          await t.rejects(
            createCitizen(db.db, {
              ...budi,
              nik: `${nik.slice(0, -1)}7`,
              email: null,
              phone: '081211112222',
              regencyName: 'Sukamaju',
            }),
            AccountError,
          )
          const browser = new Browser()
          const page = await loginPage(env, browser)
          const res = await postLogin(browser, page.action, {
            _csrf: page.csrf,
            username: nik,
            password: budi.password,
          })
          t.ok(res.res.status === 400 || res.res.status === 401, `refused (${res.res.status})`)
          t.equal(res.res.headers.get('location'), null, 'not signed in')
          const stored = await storedText(db)
          t.notOk(stored.includes(nik), 'the raw input is stored nowhere')
          t.notOk(stored.includes(JSON.stringify(nik).slice(1, -1)), 'not even escaped')
        })
      }

      await t.test(
        'a NIK with an invisible character at its edge is refused at registration, and at sign-in refused or stripped, never stored',
        async (t) => {
          for (const nik of [`\ufeff${budi.nik}`, `${budi.nik}\u200b`, `\u2060${budi.nik}`]) {
            await t.rejects(
              createCitizen(db.db, {
                ...budi,
                nik: `${nik.slice(0, -1)}7`,
                email: null,
                phone: '081211112222',
                regencyName: 'Sukamaju',
              }),
              AccountError,
            )
            const req = codeRequest(env.issuer, env.confidential)
            const ended = await signInAs(new Browser(), req.url, env.issuer, {
              username: nik,
              password: budi.password,
            }).catch((err: Error) => err.message)
            if (ended.startsWith(redirectUri)) {
              // Normalised (String#trim drops U+FEFF): the citizen whose NIK it is, nobody else.
              const tokens = await redeem(
                env,
                env.confidential,
                new URL(ended).searchParams.get('code') ?? '',
                req.verifier,
              )
              t.equal(
                decodeJwt(tokens.body.id_token as string).sub,
                env.citizen.id,
                `${JSON.stringify(nik)} normalised to Budi's NIK`,
              )
            } else {
              t.match(ended, /^sign-in answered 40[01]$/, `${JSON.stringify(nik)} refused`)
            }
            t.notOk((await storedText(db)).includes(nik), 'the raw input is stored nowhere')
          }
        },
      )

      await t.test('the subject is iss + sub, and sub is not the NIK', async (t) => {
        const flow = await authorize(env, env.confidential, { scope: 'openid profile nik' })
        const tokens = await redeem(env, env.confidential, flow.code, flow.verifier)
        const idClaims = decodeJwt(tokens.body.id_token as string)
        t.equal(idClaims.iss, env.issuer)
        t.equal(idClaims.sub, env.citizen.id)
        t.not(idClaims.sub, budi.nik)
        t.notOk(String(idClaims.sub).includes(budi.nik), 'the NIK is not part of sub')
        t.notOk(JSON.stringify(idClaims).includes(budi.nik), 'nor anywhere in the ID token')
        const pairwise = await registerClient(db, { redirectUris: [redirectUri], subjectType: 'pairwise' })
        const pf = await authorize(env, pairwise)
        const pt = await redeem(env, pairwise, pf.code, pf.verifier)
        const pSub = decodeJwt(pt.body.id_token as string).sub
        t.not(pSub, budi.nik)
        t.not(pSub, env.citizen.id, 'a pairwise client gets its own subject')
      })

      await t.test('NIKs are not written to the audit trail or the throttle keys', async (t) => {
        const stored = JSON.stringify({
          audit: await db.db.selectFrom('audit_events').selectAll().execute(),
          attempts: await db.db.selectFrom('login_attempts').selectAll().execute(),
        })
        for (const nik of [budi.nik, siti.nik]) t.notOk(stored.includes(nik), `no ${nik.slice(0, 4)}… NIK`)
      })
    })
  },
)

// ---------------------------------------------------------------------------------------
// 13

t.test(
  'SECURITY 13: passwords: 8 to at least 64 characters, no composition rules, no common or personal ones, argon2id',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const env = await setup(t, db)
      const citizen = env.citizen

      async function refusedWith(password: string): Promise<string | undefined> {
        try {
          await setCitizenPassword(db.db, citizen.id, password, { regencyName: env.config.regency.name })
          return undefined
        } catch (err) {
          if (err instanceof AccountError) return err.reason ?? err.code
          throw err
        }
      }

      await t.test('7 characters are refused, 8 accepted', async (t) => {
        t.equal(await refusedWith('kq7#zpw'), 'too_short')
        t.equal(await refusedWith('kq7#zpwm'), undefined)
      })

      await t.test('64 characters are accepted and sign in', async (t) => {
        const long = 'gajah ungu menari di atas genteng basah sambil makan rambutan ok'
        t.equal([...long].length, 64)
        t.equal(await refusedWith(long), undefined)
        const flow = await authorize(env, env.confidential, {}, new Browser(), { username: budi.nik, password: long })
        t.ok(flow.code)
      })

      await t.test('no composition rules: lowercase words only are fine', async (t) => {
        t.equal(await refusedWith('kucing hitam tidur siang'), undefined)
      })

      await t.test('common passwords are refused, also with a year or symbols added', async (t) => {
        for (const p of ['password123', 'bismillah', 'Bismillah2024!', 'sayangku123', 'indonesia1945', 'iloveyou!']) {
          t.equal(await refusedWith(p), 'common', p)
        }
        // On zxcvbn's common list too, which explains them before the sequence does.
        for (const p of ['qwertyuiop', '12345678']) t.equal(await refusedWith(p), 'common', p)
      })

      await t.test("passwords made of the citizen's NIK, birth date, name or the regency are refused", async (t) => {
        const cases: Record<string, string> = {
          [`nik${budi.nik}`]: 'uses_nik',
          [budi.nik]: 'uses_nik',
          '12-01-1990budi': 'uses_birth_date',
          '1990-01-12!!': 'uses_birth_date',
          'Budi Santoso 1985': 'uses_name',
          santosobudi: 'uses_name',
          sukamaju2024: 'uses_regency',
          'Kabupaten Sukamaju!': 'uses_regency',
        }
        for (const [password, reason] of Object.entries(cases)) t.equal(await refusedWith(password), reason, password)
      })

      await t.test('the stored hash is argon2id with m=19456, t=2, p=1', async (t) => {
        await setCitizenPassword(db.db, citizen.id, budi.password, { regencyName: env.config.regency.name })
        const row = await db.db
          .selectFrom('citizens')
          .select('password_hash')
          .where('id', '=', citizen.id)
          .executeTakeFirstOrThrow()
        const m = /^\$argon2id\$v=19\$([a-z]=\d+(?:,[a-z]=\d+)*)\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/.exec(
          row.password_hash ?? '',
        )
        t.ok(m, `a PHC argon2id string: ${row.password_hash}`)
        const params = Object.fromEntries((m?.[1] ?? '').split(',').map((kv) => kv.split('=')))
        t.same(params, { m: '19456', t: '2', p: '1' })
        t.notOk(row.password_hash?.includes(budi.password))
      })
    })
  },
)
