/**
 * The gateway's browser sign-in end to end over real HTTP: a real idp, real gateway
 * instances on 127.0.0.1 sharing one database, and a cookie-keeping "browser".
 */
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { importJWK, SignJWT } from 'jose'
import type { Kysely } from 'kysely'
import t, { type Test } from 'tap'
import type { Database } from '../../src/db/database.ts'
import { openDatabase } from '../../src/db/create.ts'
import { meets } from '../../src/gateway/auth/identity.ts'
import {
  createGatewayAuth,
  safeReturnPath,
  sessionCookieName,
  transactionCookiePrefix,
} from '../../src/gateway/auth/authenticate.ts'
import type { Requirement } from '../../src/gateway/contracts.ts'
import { hashSessionId } from '../../src/gateway/auth/sessions.ts'
import { buildIdp } from '../../src/idp/app.ts'
import { loadKeys, rotateKeys } from '../../src/keys/keys.ts'
import { createBaseApp } from '../../src/http/app.ts'
import { registerPages } from '../../src/http/pages.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { proveIdentityInPerson } from '../../src/accounts/identity.ts'
import { createOfficer } from '../../src/accounts/officers.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, registerClient, signIn, startIdp, testKek } from '../helpers/idp.ts'
import { codeAt, enrolTotp } from '../helpers/totp.ts'
import { gatewayMessages } from '../../src/gateway/messages.ts'
import { agencyTable, levelLifetimes, portalOnly } from './harness.ts'
import { RevocationSet } from '../../src/gateway/auth/revocations.ts'
import { freePort } from '../helpers/process.ts'

const clientId = 'satupintu-gateway'
// The first release's name for two-factor sign-in: still accepted as an alias of acr:mfa.
const loa2 = 'urn:satupintu:loa:2'

interface Gateway {
  app: FastifyInstance
  /** Where this instance listens (what the test talks to). */
  url: string
}

/** What a route of the test app needs: /layanan/uji/<need>/… */
function needOf(url: string): Requirement {
  const seg = url.split('/')[3] ?? ''
  if (seg === 'loa2') return { acr: loa2 }
  if (seg === 'orang') return { identity: 'in_person' }
  if (seg.startsWith('scope-')) return { scopes: [seg.slice(6)] }
  return {}
}

/**
 * A gateway instance: the base app, the pages plugins and the authentication, with one
 * test route standing in for the proxy (identify, then challenge when not enough).
 */
async function startGateway(
  t: Test,
  db: Kysely<Database>,
  o: { publicUrl: string; port?: number; issuer: string; secret: string | undefined; trustProxy?: string[] },
): Promise<Gateway> {
  const port = o.port ?? (await freePort())
  const config = testConfig({
    idp: { issuer: o.issuer, gatewayResource: o.publicUrl },
    gateway: { publicUrl: o.publicUrl, port, clientId },
    http: { trustProxy: o.trustProxy ?? [] },
  })
  const app = createBaseApp({ config, logger: silentLogger() })
  // The gateway's own pages (the sign-out question).
  await registerPages(app, {
    config,
    templateDirs: [fileURLToPath(new URL('../../src/gateway/templates/', import.meta.url))],
    messages: gatewayMessages,
  })
  const auth = await createGatewayAuth(app, {
    config,
    db,
    logger: silentLogger(),
    kek: testKek,
    clientSecret: o.secret,
    table: agencyTable([], { timeoutMs: 5000, maxBodyBytes: 1024, publicUrl: o.publicUrl }),
    sites: portalOnly(o.publicUrl),
    revoked: new RevocationSet(),
  })
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const need = needOf(req.url)
    const identity = await auth.identify(req)
    if (!meets(identity, need, levelLifetimes)) return auth.challenge(req, reply, need, identity)
    return {
      via: identity.via,
      sub: identity.sub,
      acr: identity.acr,
      scopes: identity.scopes,
      claims: identity.claims,
      clientId: identity.clientId ?? null,
    }
  }
  app.get('/layanan/uji/*', handler)
  app.post('/layanan/uji/*', handler)
  await app.listen({ host: '127.0.0.1', port })
  t.teardown(() => app.close())
  return { app, url: `http://127.0.0.1:${port}` }
}

/** A second connection pool to the same database (PostgreSQL), as another machine would have. */
async function secondHandle(t: Test, db: TestDatabase): Promise<Kysely<Database>> {
  if (db.url === undefined) return db.db // PGlite serves one process: share it.
  const other = await openDatabase({
    url: db.url,
    pgliteDir: '',
    autoMigrate: false,
    poolMax: 2,
    connectTimeoutMs: 5000,
    statementTimeoutMs: 30000,
    queryTimeoutMs: 35000,
  })
  t.teardown(() => other.close())
  return other.db
}

interface Setup {
  issuer: string
  secret: string | undefined
  a: Gateway
  b: Gateway
  citizenId: string
}

async function setup(t: Test, db: TestDatabase, opts: { trustProxy?: string[] } = {}): Promise<Setup> {
  const port = await freePort()
  const publicUrl = `http://127.0.0.1:${port}`
  const { issuer } = await startIdp(t, db, {
    idp: { gatewayResource: publicUrl, backchannelLogoutHosts: ['127.0.0.1'] },
  })
  const citizen = await addCitizen(db.db)
  const client = await registerClient(db, {
    clientId,
    redirectUris: [`${publicUrl}/oidc/callback`],
    postLogoutRedirectUris: [`${publicUrl}/`],
    backchannelLogoutUri: `${publicUrl}/oidc/backchannel-logout`,
    scopes: ['openid', 'profile', 'email', 'nik'],
  })
  const a = await startGateway(t, db.db, { publicUrl, port, issuer, secret: client.secret, ...opts })
  // Instance B: same public URL (both sit behind one load balancer), its own port and pool.
  const b = await startGateway(t, await secondHandle(t, db), { publicUrl, issuer, secret: client.secret, ...opts })
  return { issuer, secret: client.secret, a, b, citizenId: citizen.id }
}

/** Walks a browser from a protected gateway URL through the idp and back; returns the callback's answer. */
async function browserSignIn(browser: Browser, s: Setup, path: string, headers: Record<string, string> = {}) {
  const start = await browser.request(`${s.a.url}${path}`, { headers })
  if (start.status !== 303) throw new Error(`expected a redirect to the idp, got ${start.status}`)
  const authorize = new URL(start.headers.get('location') ?? '')
  const callback = await signIn(browser, authorize.href, s.issuer, { username: budi.nik, password: budi.password })
  const done = await browser.request(callback, { headers })
  return { start, authorize, callback: new URL(callback), done }
}

/** A JWT signed with the idp's active ES256 key (what only the idp could issue). */
async function signWithIdpKey(
  db: TestDatabase,
  claims: Record<string, unknown>,
  typ: string,
  jti: string | undefined,
): Promise<string> {
  const { jwks } = await loadKeys(db.db, testKek, 'oidc')
  const jwk = jwks.find((k) => k.alg === 'ES256')
  if (jwk === undefined) throw new Error('no ES256 key')
  const jwt = new SignJWT(
    Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined)),
  ).setProtectedHeader({ alg: 'ES256', kid: jwk.kid ?? '', typ })
  if (jti !== undefined) jwt.setJti(jti)
  return jwt.sign(await importJWK(jwk, 'ES256'))
}

function setCookie(res: Response, name: string): string | undefined {
  return res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`))
}

async function sessionRows(db: Kysely<Database>) {
  return db.selectFrom('gateway_sessions').selectAll().execute()
}

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>
}

t.test('safeReturnPath keeps only paths on the gateway origin', async (t) => {
  t.equal(safeReturnPath('/layanan/a?x=1'), '/layanan/a?x=1')
  t.equal(safeReturnPath('//evil.example/x'), '/')
  t.equal(safeReturnPath('/\\evil.example'), '/')
  t.equal(safeReturnPath('https://evil.example/'), '/')
  t.equal(safeReturnPath('/a\nb'), '/')
  t.equal(safeReturnPath(undefined), '/')
})

t.test('meets checks the level and every scope', async (t) => {
  const id = {
    via: 'session',
    sub: 's',
    acr: 'urn:satupintu:loa:1',
    authTime: Math.floor(Date.now() / 1000),
    lastUsedAt: undefined,
    amr: [],
    scopes: ['openid', 'profile'],
    claims: {},
    clientId: undefined,
    audience: [],
    sessionId: 'x',
  } as const
  t.ok(meets(id, {}, levelLifetimes))
  t.ok(meets(id, { acr: 'urn:satupintu:loa:1', scopes: ['openid'] }, levelLifetimes))
  t.notOk(meets(id, { acr: loa2 }, levelLifetimes))
  t.notOk(meets(id, { scopes: ['nik'] }, levelLifetimes))
  t.notOk(meets(undefined, {}, levelLifetimes))
})

t.test('browser sign-in at the gateway', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const s = await setup(t, db)

    await t.test('a browser signs in at the idp and comes back to the URL it asked for', async (t) => {
      const browser = new Browser()
      const { start, authorize, callback, done } = await browserSignIn(browser, s, '/layanan/uji/biasa/halaman?nomor=7')
      // The authorization request: code + PKCE S256, state and nonce, our registered redirect URI.
      t.equal(`${authorize.origin}${authorize.pathname}`, `${s.issuer}/auth`)
      const p = authorize.searchParams
      t.equal(p.get('client_id'), clientId)
      t.equal(p.get('response_type'), 'code')
      t.equal(p.get('redirect_uri'), `${s.a.url}/oidc/callback`)
      t.equal(p.get('scope'), 'openid profile')
      t.equal(p.get('code_challenge_method'), 'S256')
      t.match(p.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/)
      t.match(p.get('state'), /^[A-Za-z0-9_-]{43}$/)
      t.match(p.get('nonce'), /^[A-Za-z0-9_-]{43}$/)
      t.equal(p.get('acr_values'), null, 'no level asked where none is needed')
      t.equal(p.get('prompt'), null)
      const tx = setCookie(start, `${transactionCookiePrefix}${(p.get('state') ?? '').slice(0, 16)}`) ?? ''
      t.match(tx, /; Path=\/oidc\/callback/, 'the transaction cookie goes only to the callback')
      t.match(tx, /; HttpOnly/)
      t.match(tx, /; SameSite=Lax/)
      t.match(tx, /; Max-Age=\d+/)
      t.equal(callback.searchParams.get('state'), p.get('state'))

      t.equal(done.status, 303)
      t.equal(done.headers.get('location'), `${s.a.url}/layanan/uji/biasa/halaman?nomor=7`, 'back to the original URL')
      const cookie = setCookie(done, sessionCookieName) ?? ''
      t.match(cookie, /^sp_gw=[A-Za-z0-9_-]{43}\.[A-Za-z0-9%+/]+;/, 'an opaque, signed id')
      t.match(cookie, /; Path=\//)
      t.match(cookie, /; HttpOnly/)
      t.match(cookie, /; SameSite=Lax/)
      t.notMatch(cookie, /Secure/, 'not Secure on a plain-http development URL')
      t.notMatch(cookie, /Max-Age|Expires/, 'a browser-session cookie; the server decides how long it lives')
      t.notMatch(
        decodeURIComponent(cookie),
        new RegExp(`${budi.nik}|Budi|${s.citizenId}`),
        'no personal data in the cookie',
      )
      t.ok(browser.cookies.has(sessionCookieName))
      t.notOk(
        [...browser.cookies.keys()].some((k) => k.startsWith(transactionCookiePrefix)),
        'the transaction cookie is cleared',
      )

      const page = await browser.request(`${s.a.url}/layanan/uji/biasa/halaman?nomor=7`, {
        headers: { accept: 'application/json' },
      })
      t.equal(page.status, 200)
      const body = await json(page)
      t.equal(body.via, 'session')
      t.equal(body.sub, s.citizenId)
      t.equal(body.acr, 'urn:satupintu:acr:pwd')
      t.same(body.scopes, ['openid', 'profile'])
      t.equal((body.claims as Record<string, unknown>).name, budi.name)
      t.notOk('nik' in (body.claims as Record<string, unknown>), 'no NIK without its scope')

      const rows = await sessionRows(db.db)
      const id = decodeURIComponent(browser.cookies.get(sessionCookieName)?.value ?? '').split('.')[0] ?? ''
      const row = rows.find((r) => r.id_hash === hashSessionId(id))
      t.ok(row, 'a server-side row under the hash of the id')
      t.notOk(
        rows.some((r) => r.id_hash === id),
        'the id itself is not stored',
      )
      t.equal(row?.sub, s.citizenId)
      t.ok(row?.idp_sid, 'the idp session id is kept for back-channel logout')
      t.notMatch(row?.id_token_enc ?? '', /^eyJ/, 'the ID token is stored encrypted')
      t.equal(
        row?.expires_at.getTime(),
        (row?.created_at.getTime() ?? 0) + 43200 * 1000,
        'absolute end from configuration',
      )
      await db.db.deleteFrom('gateway_sessions').execute()
    })

    await t.test('a second gateway instance serves the same session', async (t) => {
      const browser = new Browser()
      await browserSignIn(browser, s, '/layanan/uji/biasa')
      const res = await browser.request(`${s.b.url}/layanan/uji/biasa`, { headers: { accept: 'application/json' } })
      t.equal(res.status, 200)
      t.equal((await json(res)).sub, s.citizenId)
      await db.db.deleteFrom('gateway_sessions').execute()
    })

    await t.test('a forged or unsigned session cookie is no session', async (t) => {
      const browser = new Browser()
      await browserSignIn(browser, s, '/layanan/uji/biasa')
      const signed = browser.cookies.get(sessionCookieName)?.value ?? ''
      const id = decodeURIComponent(signed).split('.')[0] ?? ''
      const signature = decodeURIComponent(signed).split('.')[1] ?? ''
      const variants: [string, string][] = [
        ['the id without its signature', id],
        ['a made-up signature', `${id}.AAAA`],
        ['another id under the real signature', `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}.${signature}`],
      ]
      for (const [what, value] of variants) {
        const res = await fetch(`${s.a.url}/layanan/uji/biasa`, {
          headers: { cookie: `${sessionCookieName}=${encodeURIComponent(value)}`, accept: 'application/json' },
          redirect: 'manual',
        })
        t.equal(res.status, 401, `refused: ${what}`)
      }
      await db.db.deleteFrom('gateway_sessions').execute()
    })

    await t.test(
      'a back-channel logout from the idp ends the session on both instances within one second',
      async (t) => {
        const browser = new Browser()
        await browserSignIn(browser, s, '/layanan/uji/biasa')
        // Both instances have just served (and may remember) the session.
        for (const gw of [s.a, s.b]) t.equal((await browser.request(`${gw.url}/layanan/uji/biasa`)).status, 200)
        t.equal((await sessionRows(db.db)).length, 1)

        // The citizen signs out at the idp itself (not through the gateway).
        const confirm = await browser.request(`${s.issuer}/session/end`)
        const xsrf = /name="xsrf" value="([0-9a-f]+)"/.exec(await confirm.text())?.[1] ?? ''
        const started = performance.now()
        const out = await browser.request(`${s.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })
        t.equal(out.status, 303)
        const ended = new Set<string>()
        while (ended.size < 2 && performance.now() - started < 3000) {
          for (const gw of [s.a, s.b]) {
            if (ended.has(gw.url)) continue
            const res = await browser.request(`${gw.url}/layanan/uji/biasa`)
            if (res.status === 303) ended.add(gw.url)
          }
        }
        const elapsed = performance.now() - started
        t.equal(ended.size, 2, 'refused on both instances')
        t.ok(elapsed <= 1000, `within one second (${Math.round(elapsed)} ms)`)
        t.equal((await sessionRows(db.db)).length, 0, 'the row is gone')
      },
    )

    await t.test(
      'the back-channel endpoint refuses what is not a valid logout token, and a replayed one',
      async (t) => {
        const post = (body: string) =>
          fetch(`${s.a.url}/oidc/backchannel-logout`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body,
          })
        t.equal((await post('logout_token=not.a.jwt')).status, 400)
        t.equal((await post('')).status, 400)
        // An ID token is not a logout token (typ, events, nonce).
        const browser = new Browser()
        await browserSignIn(browser, s, '/layanan/uji/biasa')
        const rows = await sessionRows(db.db)
        const idToken = testKek.decrypt(rows[0]?.id_token_enc ?? '', `gateway-session:${rows[0]?.id_hash ?? ''}`)
        t.equal((await post(`logout_token=${idToken}`)).status, 400)
        t.equal((await sessionRows(db.db)).length, 1, 'nothing deleted')

        // Logout tokens signed with the idp's own key, each with one thing wrong.
        const sid = rows[0]?.idp_sid ?? ''
        const now = Math.floor(Date.now() / 1000)
        const good = {
          iss: s.issuer,
          aud: clientId,
          iat: now,
          exp: now + 120,
          sub: s.citizenId,
          sid,
          events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
        }
        const bad: [string, Record<string, unknown>, string?][] = [
          ['another audience', { ...good, aud: 'someone-else' }],
          ['another issuer', { ...good, iss: 'http://127.0.0.1:9' }],
          ['no events claim', { ...good, events: undefined }],
          ['a nonce', { ...good, nonce: 'n-0S6_WzA2Mj' }],
          ['neither sub nor sid', { ...good, sub: undefined, sid: undefined }],
          ['no jti', { ...good }, 'no-jti'],
          ['typ JWT', { ...good }, 'JWT'],
          ['issued long ago', { ...good, iat: now - 3600, exp: now + 60 }],
        ]
        for (const [what, claims, variant] of bad) {
          const token = await signWithIdpKey(
            db,
            claims,
            variant === 'JWT' ? 'JWT' : 'logout+jwt',
            variant === 'no-jti' ? undefined : randomUUID(),
          )
          t.equal((await post(`logout_token=${token}`)).status, 400, `refused: ${what}`)
        }
        t.equal((await sessionRows(db.db)).length, 1, 'nothing deleted')
        const token = await signWithIdpKey(db, good, 'logout+jwt', randomUUID())
        const first = await post(`logout_token=${token}`)
        t.equal(first.status, 200, 'a valid logout token is accepted')
        t.equal(first.headers.get('cache-control'), 'no-store')
        t.equal((await sessionRows(db.db)).length, 0, 'the session named by sid is deleted')
        t.equal((await post(`logout_token=${token}`)).status, 400, 'the same token again is a replay')
        const other = await fetch(`${s.b.url}/oidc/backchannel-logout`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `logout_token=${token}`,
        })
        t.equal(other.status, 400, 'on the other instance too')
      },
    )

    await t.test(
      'SECURITY 35: GET /keluar only asks; the POST with its session-bound token, from this origin, ends the session and goes to the idp',
      async (t) => {
        const browser = new Browser()
        await browserSignIn(browser, s, '/layanan/uji/biasa')
        const ask = await browser.request(`${s.a.url}/keluar`)
        t.equal(ask.status, 200, 'a GET shows the question ...')
        const html = await ask.text()
        t.match(html, /<form method="post" action="\/keluar">/)
        t.equal(
          (await sessionRows(db.db)).length,
          1,
          '... and ends nothing (a link or an <img> on another site cannot sign the citizen out)',
        )
        t.equal(ask.headers.get('cross-origin-opener-policy'), 'same-origin')
        const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? ''
        t.match(csrf, /^\d+\.[A-Za-z0-9_-]{43}$/)

        // Refused: no token, a token for another session, another site's form.
        t.equal((await browser.request(`${s.a.url}/keluar`, { form: { _csrf: 'x' } })).status, 403, 'a wrong token')
        const other = new Browser()
        await browserSignIn(other, s, '/layanan/uji/biasa')
        const otherCsrf =
          /name="_csrf" value="([^"]+)"/.exec(await (await other.request(`${s.a.url}/keluar`)).text())?.[1] ?? ''
        t.equal(
          (await browser.request(`${s.a.url}/keluar`, { form: { _csrf: otherCsrf } })).status,
          403,
          'the token of another session',
        )
        t.equal(
          (
            await browser.request(`${s.a.url}/keluar`, {
              form: { _csrf: csrf },
              headers: { 'sec-fetch-site': 'cross-site' },
            })
          ).status,
          403,
          'a form from another site',
        )
        t.equal(
          (
            await browser.request(`${s.a.url}/keluar`, {
              form: { _csrf: csrf },
              headers: { 'sec-fetch-site': 'same-site', origin: 'http://dinas-b.localhost:8080' },
            })
          ).status,
          403,
          "a sibling host's form",
        )
        t.equal((await sessionRows(db.db)).length, 2, 'both sessions still stand')

        const res = await browser.request(`${s.a.url}/keluar`, {
          form: { _csrf: csrf },
          headers: { 'sec-fetch-site': 'same-origin', origin: s.a.url },
        })
        t.equal(res.status, 303)
        const loc = new URL(res.headers.get('location') ?? '')
        t.equal(`${loc.origin}${loc.pathname}`, `${s.issuer}/session/end`)
        t.match(loc.searchParams.get('id_token_hint'), /^eyJ/)
        t.equal(loc.searchParams.get('post_logout_redirect_uri'), `${s.a.url}/`)
        t.equal(loc.searchParams.get('client_id'), clientId)
        t.match(setCookie(res, sessionCookieName) ?? '', /Expires=Thu, 01 Jan 1970/)
        t.equal((await sessionRows(db.db)).length, 1, "this session deleted at once, the other browser's kept")
        // The idp asks for confirmation (its own page), then returns to the portal.
        const page = await browser.request(loc.href)
        t.equal(page.status, 200)
        const xsrf = /name="xsrf" value="([0-9a-f]+)"/.exec(await page.text())?.[1] ?? ''
        const done = await browser.request(`${s.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })
        t.equal(done.status, 303)
        t.equal(done.headers.get('location'), `${s.a.url}/`)
        await db.db.deleteFrom('gateway_sessions').execute()
      },
    )

    await t.test('idle and absolute limits end a session', async (t) => {
      const browser = new Browser()
      await browserSignIn(browser, s, '/layanan/uji/biasa')
      // Instance B has never seen this session: it reads the row as the database has it.
      await db.db
        .updateTable('gateway_sessions')
        .set({ last_seen_at: new Date(Date.now() - (1800 + 1) * 1000) })
        .execute()
      let res = await browser.request(`${s.b.url}/layanan/uji/biasa`, { headers: { accept: 'application/json' } })
      t.equal(res.status, 401, 'idle too long')
      t.equal((await sessionRows(db.db)).length, 0, 'and deleted')

      const again = new Browser()
      await browserSignIn(again, s, '/layanan/uji/biasa')
      await db.db
        .updateTable('gateway_sessions')
        .set({ created_at: new Date(Date.now() - 43201 * 1000), expires_at: new Date(Date.now() - 1000) })
        .execute()
      res = await again.request(`${s.b.url}/layanan/uji/biasa`, { headers: { accept: 'application/json' } })
      t.equal(res.status, 401, 'past the absolute end, however recently used')
      t.equal((await sessionRows(db.db)).length, 0)
    })

    await t.test(
      'step-up with a real second factor: a route that needs two factors sends the browser to the idp for the code, then back to the route',
      async (t) => {
        const browser = new Browser()
        await browserSignIn(browser, s, '/layanan/uji/biasa')
        const before = await sessionRows(db.db)
        const res = await browser.request(`${s.a.url}/layanan/uji/loa2/izin`)
        t.equal(res.status, 303)
        const authorize = new URL(res.headers.get('location') ?? '')
        t.equal(authorize.searchParams.get('acr_values'), loa2)
        t.equal(authorize.searchParams.get('prompt'), 'login', 'the idp signs the citizen in again')

        // Without a second factor the idp says what is missing; the way back is a clear refusal.
        const first = await browser.follow(authorize.href, s.issuer)
        const login = await first.res.text()
        const pw = await browser.request(new URL(formAction(login, '/login'), s.issuer).toString(), {
          form: { _csrf: csrfFrom(login), username: budi.nik, password: budi.password },
        })
        t.equal(pw.status, 403)
        const explained = await pw.text()
        t.match(explained, /verifikasi dua langkah/)
        const back = /<a href="([^"]+)">Kembali ke /.exec(explained)?.[1]?.replaceAll('&amp;', '&') ?? '/'
        const atGateway = await browser.follow(new URL(back, s.issuer).toString(), s.issuer)
        t.match(new URL(atGateway.url).searchParams.get('error'), 'unmet_authentication_requirements')
        const refused = await browser.request(atGateway.url)
        t.equal(refused.status, 403, 'the gateway explains; no session at a lower level, no loop')
        t.match(await refused.text(), /level/i)

        // With the app turned on, the same route asks for the code and comes back.
        const secret = await enrolTotp(db, s.citizenId)
        const again = await browser.request(`${s.a.url}/layanan/uji/loa2/izin`)
        const callback = await signIn(browser, new URL(again.headers.get('location') ?? '').href, s.issuer, {
          username: budi.nik,
          password: budi.password,
          secondFactor: () => codeAt(secret, Date.now()),
        })
        const done = await browser.request(callback)
        t.equal(done.status, 303)
        t.equal(done.headers.get('location'), `${s.a.url}/layanan/uji/loa2/izin`, 'returned to the route')
        const after = await sessionRows(db.db)
        t.equal(after.length, 1, 'the new session replaced the old one')
        t.not(after[0]?.id_hash, before[0]?.id_hash, 'a new session id after the new sign-in')
        t.equal(after[0]?.requested_acr, loa2)
        t.equal(after[0]?.acr, 'urn:satupintu:acr:mfa')
        const page = await browser.request(`${s.a.url}/layanan/uji/loa2/izin`, {
          headers: { accept: 'application/json' },
        })
        t.equal(page.status, 200, 'the route now serves')
        t.equal(((await page.json()) as { acr: string }).acr, 'urn:satupintu:acr:mfa')

        // The level lasts a bounded time (signInLevels.mfaSeconds, 12 h): the session keeps
        // the sign-in's time, and past the limit the route sends the citizen to sign in
        // again, rather than refusing as for a level the account cannot reach.
        const authTime = after[0]?.auth_time?.getTime() ?? 0
        t.ok(Math.abs(authTime - Date.now()) < 60_000, 'the session holds when the citizen signed in')
        await db.db
          .updateTable('gateway_sessions')
          .set({ auth_time: new Date(Date.now() - 43_201_000) })
          .execute()
        await new Promise((r) => setTimeout(r, 300)) // past the session cache (sessionCacheMs)
        const aged = await browser.request(`${s.a.url}/layanan/uji/loa2/izin`)
        t.equal(aged.status, 303, 'a sign-in too long ago is asked again')
        const reauth = new URL(aged.headers.get('location') ?? '')
        t.equal(reauth.searchParams.get('acr_values'), loa2)
        t.equal(reauth.searchParams.get('prompt'), 'login')
        const stillFine = await browser.request(`${s.a.url}/layanan/uji/biasa`, {
          headers: { accept: 'application/json' },
        })
        t.equal(stillFine.status, 200, 'the password level still serves')
        await db.db.deleteFrom('gateway_sessions').execute()
        await db.db.deleteFrom('second_factors').execute()
        await db.db.deleteFrom('recovery_codes').execute()
      },
    )

    await t.test('an API caller below the level is told what is missing (RFC 9470)', async (t) => {
      const browser = new Browser()
      await browserSignIn(browser, s, '/layanan/uji/biasa')
      const api = await browser.request(`${s.a.url}/layanan/uji/loa2/izin`, {
        headers: { accept: 'application/json' },
      })
      t.equal(api.status, 401)
      t.equal(
        api.headers.get('www-authenticate'),
        `Bearer error="insufficient_user_authentication", error_description="A higher level of sign-in assurance is required", acr_values="${loa2}"`,
      )
      await db.db.deleteFrom('gateway_sessions').execute()
    })

    await t.test('a route that needs a scope the session lacks asks the idp for it, once', async (t) => {
      // The NIK is released only from an account whose NIK an officer proved (issue 14).
      const officer = await createOfficer(db.db, {
        username: 'petugas.loket',
        name: 'Petugas Loket',
        roles: ['counter_officer'],
        password: 'meja loket nomor tiga biru',
        regencyName: 'Sukamaju',
      })
      await proveIdentityInPerson(db.db, {
        citizenId: s.citizenId,
        officerId: officer.id,
        location: 'MPP Sukamaju',
        evidence: 'ktp_el',
      })
      const browser = new Browser()
      await browserSignIn(browser, s, '/layanan/uji/biasa')
      const res = await browser.request(`${s.a.url}/layanan/uji/scope-nik`)
      t.equal(res.status, 303)
      const authorize = new URL(res.headers.get('location') ?? '')
      t.equal(authorize.searchParams.get('scope'), 'openid profile nik')
      const callback = await signIn(browser, authorize.href, s.issuer, { username: budi.nik, password: budi.password })
      t.equal((await browser.request(callback)).status, 303)
      const page = await browser.request(`${s.a.url}/layanan/uji/scope-nik`, {
        headers: { accept: 'application/json' },
      })
      t.equal(page.status, 200)
      t.equal(((await json(page)).claims as Record<string, unknown>).nik, budi.nik, 'released after consent')
      // A scope the idp does not know is never asked for: a page, not a loop.
      const unknown = await browser.request(`${s.a.url}/layanan/uji/scope-gateway`)
      t.equal(unknown.status, 403)
      await db.db.deleteFrom('gateway_sessions').execute()
    })

    await t.test('callers that cannot be redirected get 401 with a Bearer challenge', async (t) => {
      const api = await fetch(`${s.a.url}/layanan/uji/scope-gateway`, {
        headers: { accept: 'application/json' },
        redirect: 'manual',
      })
      t.equal(api.status, 401)
      t.equal(api.headers.get('www-authenticate'), 'Bearer realm="satupintu", scope="gateway"')
      t.equal((await json(api)).error, 'unauthorized')
      const post = await fetch(`${s.a.url}/layanan/uji/biasa`, {
        method: 'POST',
        headers: { accept: 'text/html' },
        redirect: 'manual',
      })
      t.equal(post.status, 401, 'a form post is not redirected (its body would be lost)')
    })

    await t.test('cookie keys rotate without ending sessions', async (t) => {
      const browser = new Browser()
      await browserSignIn(browser, s, '/layanan/uji/biasa')
      const before = browser.cookies.get(sessionCookieName)?.value ?? ''
      await rotateKeys(db.db, testKek, 'cookie', { publishDelaySeconds: 0, retireAfterSeconds: 3600 })
      // An instance started after the rotation signs with the new key and still knows the old one.
      const c = await startGateway(t, await secondHandle(t, db), {
        publicUrl: s.a.url,
        issuer: s.issuer,
        secret: s.secret,
      })
      const res = await browser.request(`${c.url}/layanan/uji/biasa`, { headers: { accept: 'application/json' } })
      t.equal(res.status, 200, 'a cookie signed with the retiring key is still good')
      t.ok(setCookie(res, sessionCookieName), 'and is re-signed with the new key')
      const after = browser.cookies.get(sessionCookieName)?.value ?? ''
      t.not(after, before)
      t.equal(decodeURIComponent(after).split('.')[0], decodeURIComponent(before).split('.')[0], 'the same session')
      // Instance A has not reloaded its keys yet; an unknown signature makes it look (at most once a second).
      await new Promise((r) => setTimeout(r, 1100))
      const onA = await browser.request(`${s.a.url}/layanan/uji/biasa`, { headers: { accept: 'application/json' } })
      t.equal(onA.status, 200, 'an instance that had not reloaded picks up the new key')
      t.notOk(setCookie(onA, sessionCookieName), 'nothing to re-sign')
      await db.db.deleteFrom('gateway_sessions').execute()
    })

    await t.test('a callback without its transaction, or with a changed state, is refused', async (t) => {
      const browser = new Browser()
      const start = await browser.request(`${s.a.url}/layanan/uji/biasa`)
      const authorize = new URL(start.headers.get('location') ?? '')
      const callback = new URL(
        await signIn(browser, authorize.href, s.issuer, { username: budi.nik, password: budi.password }),
      )
      const stranger = new Browser()
      t.equal((await stranger.request(callback.href)).status, 400, 'another browser cannot finish this sign-in')
      const changed = new URL(callback)
      changed.searchParams.set('state', `${callback.searchParams.get('state')?.slice(0, 42) ?? ''}x`)
      t.equal((await browser.request(changed.href)).status, 400, 'state must match byte for byte')
      t.equal((await sessionRows(db.db)).length, 0)
    })
  })
})

t.test(
  "issue 14: a route that needs an identity checked in person: a browser is told where to go, an API caller gets insufficient_identity; after the officer's check a new sign-in passes",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const browser = new Browser()
      const { done } = await browserSignIn(browser, s, '/layanan/uji/orang/izin')
      t.equal(done.headers.get('location'), `${s.a.url}/layanan/uji/orang/izin`, 'signed in and back')
      const page = await browser.request(`${s.a.url}/layanan/uji/orang/izin`)
      t.equal(page.status, 403, 'signing in again would not help: no redirect')
      const html = await page.text()
      t.match(html, 'Layanan ini memerlukan identitas yang sudah diperiksa')
      t.match(html, 'Akun Anda sekarang: email atau nomor HP sudah diverifikasi.')
      t.match(html, 'loket Mal Pelayanan Publik (MPP) atau ke mobil layanan keliling')
      t.match(html, `href="${s.issuer}/akun"`)
      const api = await browser.request(`${s.a.url}/layanan/uji/orang/izin`, {
        headers: { accept: 'application/json' },
      })
      t.equal(api.status, 403)
      t.equal(api.headers.get('www-authenticate'), null, 'no challenge: no sign-in raises it')
      t.match(await json(api), {
        error: 'insufficient_identity',
        details: { min_identity: 'in_person', identity_level: 'contact_verified' },
      })
      const plain = await browser.request(`${s.a.url}/layanan/uji/biasa`, { headers: { accept: 'application/json' } })
      t.match(await json(plain), { claims: { identity_level: 'contact_verified' } }, 'the level rides in the session')

      // The officer checks Budi's KTP-el at the counter; a new sign-in carries the level.
      const officer = await createOfficer(db.db, {
        username: 'petugas.rina',
        name: 'Rina Petugas',
        roles: ['counter_officer'],
        password: 'meja loket nomor tiga biru',
        regencyName: 'Sukamaju',
      })
      await proveIdentityInPerson(db.db, {
        citizenId: s.citizenId,
        officerId: officer.id,
        location: 'MPP Sukamaju, loket 2',
        evidence: 'ktp_el',
      })
      const fresh = new Browser()
      await browserSignIn(fresh, s, '/layanan/uji/orang/izin')
      const ok = await fresh.request(`${s.a.url}/layanan/uji/orang/izin`, { headers: { accept: 'application/json' } })
      t.equal(ok.status, 200)
      t.match(await json(ok), { claims: { identity_level: 'in_person' } })
    })
  },
)

t.test(
  'SECURITY 17: Host, X-Forwarded-Host and X-Forwarded-Proto from an untrusted peer do not change redirect URLs',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      // A proxy is configured, but the test's requests do not come from it.
      const s = await setup(t, db, { trustProxy: ['10.9.8.7'] })
      const spoof = {
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'https',
        forwarded: 'host=evil.example;proto=https',
      }
      const browser = new Browser()
      const { authorize, done } = await browserSignIn(browser, s, '/layanan/uji/biasa', spoof)
      t.equal(authorize.searchParams.get('redirect_uri'), `${s.a.url}/oidc/callback`)
      t.equal(done.headers.get('location'), `${s.a.url}/layanan/uji/biasa`)
      t.notMatch(setCookie(done, sessionCookieName) ?? '', /Secure/, 'a spoofed https does not change the cookie')
      const ask = await browser.request(`${s.a.url}/keluar`, { headers: spoof })
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await ask.text())?.[1] ?? ''
      const out = await browser.request(`${s.a.url}/keluar`, { headers: spoof, form: { _csrf: csrf } })
      t.equal(new URL(out.headers.get('location') ?? '').searchParams.get('post_logout_redirect_uri'), `${s.a.url}/`)

      // The Host header itself (node:http lets a client send any).
      const http = await import('node:http')
      const location = await new Promise<string | undefined>((resolve, reject) => {
        const req = http.request(
          `${s.a.url}/layanan/uji/biasa`,
          { headers: { host: 'evil.example', accept: 'text/html', ...spoof } },
          (res) => {
            res.resume()
            resolve(res.headers.location)
          },
        )
        req.on('error', reject)
        req.end()
      })
      t.equal(new URL(location ?? '').searchParams.get('redirect_uri'), `${s.a.url}/oidc/callback`)
    })
  },
)

t.test('the gateway starts while the idp is down and signs browsers in once it is up', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const idpPort = await freePort()
    const issuer = `http://127.0.0.1:${idpPort}`
    const port = await freePort()
    const publicUrl = `http://127.0.0.1:${port}`
    const gw = await startGateway(t, db.db, { publicUrl, port, issuer, secret: 'x'.repeat(43) })
    const down = await fetch(`${gw.url}/layanan/uji/biasa`, { headers: { accept: 'text/html' }, redirect: 'manual' })
    t.equal(down.status, 503, 'not ready while the idp cannot be reached')

    const idpConfig = testConfig({
      idp: { issuer, port: idpPort, gatewayResource: publicUrl },
      gateway: { publicUrl, port },
    })
    const idp = await buildIdp({ config: idpConfig, database: db, logger: silentLogger(), keyEncryption: testKek })
    await idp.listen({ host: '127.0.0.1', port: idpPort })
    t.teardown(() => idp.close())
    // Discovery is retried after a short pause.
    let status = 0
    for (let i = 0; i < 40 && status !== 303; i++) {
      await new Promise((r) => setTimeout(r, 100))
      status = (await fetch(`${gw.url}/layanan/uji/biasa`, { headers: { accept: 'text/html' }, redirect: 'manual' }))
        .status
    }
    t.equal(status, 303, 'redirects to the idp once it is up')
  })
})
