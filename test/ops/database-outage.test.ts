/**
 * Issue 12 part 1, SECURITY 28 and 31, per service: the idp and the gateway run against
 * PostgreSQL through a TCP proxy that cuts, refuses and black-holes connections
 * (test/helpers/fault-proxy.ts). Every database failure is 503 with Retry-After — JSON
 * `database_unavailable` for APIs, oidc-provider's own error shape at its endpoints, a
 * readable Indonesian page for people — never 500, never a stack trace; /readyz says
 * 503 within a second, /healthz stays 200, and service returns by itself within a second
 * of the database. PGlite cannot be cut: there, the error path is the instance closing.
 */
import { PGlite } from '@electric-sql/pglite'
import { sql } from 'kysely'
import * as oidc from 'openid-client'
import pg from 'pg'
import t, { type Test } from 'tap'
import { buildGateway } from '../../src/gateway/app.ts'
import { openDatabase, wrapPglite, type DatabaseHandle } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { freshDatabase, testDatabaseUrl, type TestDatabase } from '../helpers/db.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { Browser, csrfFrom, formAction, registerClient, signIn, signInAt, startIdp, testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'
import { agencyTable, request, startUpstream } from '../gateway/harness.ts'
import { resolveLocalhostSubdomains } from '../helpers/localhost-dns.ts'

const noPostgres = testDatabaseUrl === undefined ? 'TEST_DATABASE_URL is not set' : false
const bounds = { connectTimeoutMs: 800, statementTimeoutMs: 1000, queryTimeoutMs: 1500 }

async function proxiedDatabase(t: Test): Promise<{ db: TestDatabase; proxy: FaultProxy; direct: TestDatabase }> {
  const direct = await freshDatabase(t, 'postgres')
  const u = new URL(direct.url as string)
  const proxy = await startFaultProxy(t, { host: u.hostname, port: Number(u.port || 5432) })
  const handle = await openDatabase({
    url: proxy.via(direct.url as string),
    pgliteDir: '',
    autoMigrate: false,
    poolMax: 4,
    ...bounds,
  })
  t.teardown(() => handle.close())
  return { db: { ...handle, url: proxy.via(direct.url as string) }, proxy, direct }
}

/** How long until `url` answers `status`, polling every 20 ms, or undefined past `withinMs`. */
async function timeUntil(url: string, status: number, withinMs: number): Promise<number | undefined> {
  const started = Date.now()
  while (Date.now() - started < withinMs) {
    const res = await fetch(url).catch(() => undefined)
    if (res?.status === status) return Date.now() - started
    await new Promise((r) => setTimeout(r, 20))
  }
  return undefined
}

function noStack(t: Test, body: string, what: string): void {
  t.notMatch(body, /\bat [\w.<>]+ \(|node:internal|\.ts:\d+|Error:/, `${what}: no stack trace or internals`)
}

const tokenForm = 'grant_type=client_credentials&client_id=aplikasi-uji&client_secret=wrong-secret-0123456789'

t.test(
  'SECURITY 28: idp: a database outage answers 503 with Retry-After everywhere, readiness follows, and service returns by itself',
  { skip: noPostgres },
  async (t) => {
    const { db, proxy } = await proxiedDatabase(t)
    const idp = await startIdp(t, db)
    await registerClient(db, { clientId: 'aplikasi-uji', redirectUris: ['http://127.0.0.1:9/cb'] })
    const api = () =>
      fetch(`${idp.issuer}/api/dokumen`, {
        headers: { authorization: `Bearer ${'a'.repeat(43)}`, accept: 'application/json' },
      })
    const token = () =>
      fetch(`${idp.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: tokenForm,
      })
    const authorize = () =>
      fetch(
        `${idp.issuer}/auth?client_id=aplikasi-uji&response_type=code&scope=openid&redirect_uri=${encodeURIComponent('http://127.0.0.1:9/cb')}&state=s-123&code_challenge=${'x'.repeat(43)}&code_challenge_method=S256`,
        { headers: { accept: 'text/html' }, redirect: 'manual' },
      )

    t.equal((await fetch(`${idp.issuer}/readyz`)).status, 200, 'ready before')
    t.equal((await api()).status, 401, 'the API refuses an unknown token while the database is up')
    t.equal((await token()).status, 401, 'the token endpoint refuses a wrong secret while the database is up')

    proxy.cut()
    await proxy.refuse()
    const cutAt = Date.now()
    const readyzDown = await timeUntil(`${idp.issuer}/readyz`, 503, 1000)
    t.ok(readyzDown !== undefined, `/readyz 503 within a second (${readyzDown} ms)`)
    const live = await fetch(`${idp.issuer}/healthz`)
    t.equal(live.status, 200, '/healthz stays 200')

    const a = await api()
    const aBody = await a.text()
    t.equal(a.status, 503, 'a JSON API: 503')
    t.equal(a.headers.get('retry-after'), '5', 'with Retry-After')
    t.equal(JSON.parse(aBody).error, 'database_unavailable', 'error code database_unavailable')
    noStack(t, aBody, 'the JSON API')

    const tk = await token()
    const tkBody = await tk.text()
    t.equal(tk.status, 503, 'the token endpoint (oidc-provider): 503, not 500')
    t.equal(tk.headers.get('retry-after'), '5', 'with Retry-After')
    t.equal(JSON.parse(tkBody).error, 'server_error', "in oidc-provider's error shape")
    noStack(t, tkBody, 'the token endpoint')

    const az = await authorize()
    if (az.status >= 300 && az.status < 400) {
      // The client was known without the database: the error goes back to it, with the
      // code RFC 6749 §4.1.2.1 defines for this.
      const to = new URL(az.headers.get('location') ?? '')
      t.equal(
        to.searchParams.get('error'),
        'temporarily_unavailable',
        'the authorization endpoint redirects with temporarily_unavailable',
      )
      t.equal(to.searchParams.get('state'), 's-123')
    } else {
      const page = await az.text()
      t.equal(az.status, 503, 'the authorization endpoint: a 503 page (the client cannot be looked up)')
      t.equal(az.headers.get('retry-after'), '5', 'with Retry-After')
      t.match(page, /Layanan sedang tidak tersedia/, 'in Indonesian, readable')
      noStack(t, page, 'the authorization page')
    }

    const restoredAt = Date.now()
    await proxy.restore()
    const readyzUp = await timeUntil(`${idp.issuer}/readyz`, 200, 1000)
    t.ok(readyzUp !== undefined, `/readyz 200 within a second of the database (${readyzUp} ms)`)
    t.equal((await api()).status, 401, 'the API answers as before')
    t.equal((await token()).status, 401, 'the token endpoint answers as before')
    t.comment(
      `figures: idp refused → /readyz 503 after ${readyzDown} ms; back ${readyzUp} ms after restore (outage ${restoredAt - cutAt} ms)`,
    )
  },
)

t.test(
  'SECURITY 31: idp: a request whose query is cut mid-way answers 503 at once, and the process serves on',
  { skip: noPostgres },
  async (t) => {
    const { db, proxy, direct } = await proxiedDatabase(t)
    const idp = await startIdp(t, db)
    // Hold the table a request reads, from outside the proxy: its query waits in the middle.
    const holder = new pg.Client({ connectionString: direct.url as string })
    await holder.connect()
    t.teardown(() => holder.end())
    await holder.query('begin')
    await holder.query('lock table oidc_payloads in access exclusive mode')
    const started = Date.now()
    const pending = fetch(`${idp.issuer}/api/dokumen`, {
      headers: { authorization: `Bearer ${'b'.repeat(43)}`, accept: 'application/json' },
    })
    await new Promise((r) => setTimeout(r, 300))
    const cutAt = Date.now()
    proxy.cut()
    const res = await pending
    const answeredAfterCut = Date.now() - cutAt
    t.equal(res.status, 503, 'the request in the middle of its query: 503')
    t.equal(res.headers.get('retry-after'), '5')
    t.equal(((await res.json()) as { error?: string }).error, 'database_unavailable')
    t.ok(answeredAfterCut < 500, `answered ${answeredAfterCut} ms after the cut`)
    await holder.query('rollback')
    const back = await timeUntil(`${idp.issuer}/readyz`, 200, 1000)
    t.ok(back !== undefined, `ready again ${back} ms later`)
    t.equal(
      (await fetch(`${idp.issuer}/api/dokumen`, { headers: { authorization: `Bearer ${'c'.repeat(43)}` } })).status,
      401,
      'and serving',
    )
    t.comment(
      `figures: idp cut mid-query → 503 after ${answeredAfterCut} ms (request began ${cutAt - started} ms before the cut); ready again after ${back} ms`,
    )
  },
)

t.test(
  'SECURITY 28: idp: a black-holed database fails requests within their budget instead of holding them',
  { skip: noPostgres },
  async (t) => {
    const { db, proxy } = await proxiedDatabase(t)
    const idp = await startIdp(t, db)
    t.equal((await fetch(`${idp.issuer}/readyz`)).status, 200)
    proxy.blackhole()
    // Budget: waiting for a connection (connectTimeoutMs) plus one query's deadline.
    const budget = bounds.connectTimeoutMs + bounds.queryTimeoutMs
    const started = Date.now()
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        fetch(`${idp.issuer}/api/dokumen`, {
          headers: { authorization: `Bearer ${'d'.repeat(43)}`, accept: 'application/json' },
        }).then(async (r) => ({
          status: r.status,
          ms: Date.now() - started,
          retry: r.headers.get('retry-after'),
        })),
      ),
    )
    const slowest = Math.max(...results.map((r) => r.ms))
    t.same(new Set(results.map((r) => r.status)), new Set([503]), 'every request: 503')
    t.ok(
      results.every((r) => r.retry === '5'),
      'with Retry-After',
    )
    t.ok(slowest <= budget + 700, `the slowest answered after ${slowest} ms (budget ${budget} ms)`)
    const readyz = await timeUntil(`${idp.issuer}/readyz`, 503, 1500)
    t.ok(readyz !== undefined && readyz <= 1200, `/readyz 503 in ${readyz} ms`)
    const restoredAt = Date.now()
    await proxy.restore()
    const back = await timeUntil(`${idp.issuer}/readyz`, 200, 1500)
    t.ok(back !== undefined && Date.now() - restoredAt < 1500, `back ${back} ms after the partition ends`)
    t.comment(
      `figures: idp black hole → 6 requests 503 within ${slowest} ms (budget ${budget} ms); /readyz 503 in ${readyz} ms; back after ${back} ms`,
    )
  },
)

t.test(
  'SECURITY 28: gateway: while the database is down, readiness says so, public and bearer-free routes keep serving, and it comes back',
  { skip: noPostgres },
  async (t) => {
    const { db, proxy } = await proxiedDatabase(t)
    const up = await startUpstream(t)
    const port = await freePort()
    const config = testConfig({
      gateway: { publicUrl: `http://127.0.0.1:${port}`, port },
      idp: { issuer: 'http://127.0.0.1:9' },
    })
    const agencies = agencyTable([
      {
        id: 'dinas-contoh',
        upstream: up.url,
        services: [
          { path: '/info', access: 'public' },
          { path: '/izin', access: 'signed_in' },
        ],
      },
    ])
    const gw = await buildGateway({
      config,
      database: db,
      logger: silentLogger(),
      agencies,
      keyEncryption: testKek,
      clientSecret: 'gateway-secret-0123456789',
    })
    await gw.listen({ host: '127.0.0.1', port })
    t.teardown(() => gw.close())
    const base = `http://127.0.0.1:${port}`
    t.equal((await fetch(`${base}/readyz`)).status, 200)

    proxy.cut()
    await proxy.refuse()
    const down = await timeUntil(`${base}/readyz`, 503, 1000)
    t.ok(down !== undefined, `/readyz 503 within a second (${down} ms)`)
    t.equal((await fetch(`${base}/healthz`)).status, 200, '/healthz stays 200')
    // On the agency's own host (issue 10 §2): its name is sent as Host, on this port.
    const agencyBase = `http://${agencies.agencies[0]?.host ?? ''}:${port}`
    const pub = await request(`${agencyBase}/info`)
    t.equal(pub.status, 200, 'a public agency route is still served: it needs no database')
    const signedInRes = await request(`${agencyBase}/izin`, { headers: { accept: 'text/html' } })
    const signedIn = { status: signedInRes.status, text: async () => signedInRes.body }
    // Its challenge needs the idp (not running here), never the database: a redirect to
    // sign in, or 503 while the idp cannot be discovered — never a 500.
    t.ok(
      [303, 503].includes(signedIn.status),
      `a signed-in route without a session answers ${signedIn.status}, never 500`,
    )
    noStack(t, await signedIn.text(), 'the signed-in route')
    await proxy.restore()
    const back = await timeUntil(`${base}/readyz`, 200, 1000)
    t.ok(back !== undefined, `back within a second (${back} ms)`)
    t.comment(`figures: gateway refused → /readyz 503 after ${down} ms; back ${back} ms after restore`)
  },
)

t.test(
  'SECURITY 28: on PGlite: an embedded database that went away makes the idp answer 503, not 500, and readiness 503',
  async (t) => {
    // Our own instance, to close under the running idp.
    const client = await PGlite.create()
    const handle: DatabaseHandle = wrapPglite(client, 'memory')
    await migrateToLatestOrThrow(handle.db)
    t.teardown(() => handle.close())
    const idp = await startIdp(t, { ...handle, url: undefined })
    t.equal((await fetch(`${idp.issuer}/readyz`)).status, 200)
    await sql`select 1`.execute(handle.db)
    await client.close()
    t.equal((await fetch(`${idp.issuer}/readyz`)).status, 503, '/readyz 503')
    t.equal((await fetch(`${idp.issuer}/healthz`)).status, 200, '/healthz 200')
    const res = await fetch(`${idp.issuer}/api/dokumen`, {
      headers: { authorization: `Bearer ${'e'.repeat(43)}`, accept: 'application/json' },
    })
    t.equal(res.status, 503, 'a JSON API: 503')
    t.equal(res.headers.get('retry-after'), '5')
    t.equal(((await res.json()) as { error?: string }).error, 'database_unavailable')
    const tk = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: tokenForm,
    })
    t.equal(tk.status, 503, 'the token endpoint: 503')
  },
)

t.test(
  'SECURITY 28: gateway: bearer tokens keep being served while the database is down; a session request says 503',
  { skip: noPostgres },
  async (t) => {
    const { db, proxy, direct } = await proxiedDatabase(t)
    const up = await startUpstream(t)
    const port = await freePort()
    const publicUrl = `http://localhost:${port}`
    const base = `http://127.0.0.1:${port}`
    // The idp keeps its own (direct) connection: only the gateway loses the database.
    const { issuer } = await startIdp(t, direct, { idp: { gatewayResource: publicUrl } })
    await addCitizen(direct.db)
    const appClientId = 'aplikasi-darurat'
    const agencies = agencyTable(
      [
        {
          id: 'dinas-contoh',
          upstream: up.url,
          appClients: [appClientId],
          services: [{ path: '/izin', access: 'signed_in' }],
        },
      ],
      { timeoutMs: 5000, maxBodyBytes: 1024 * 1024, publicUrl },
    )
    // Bearer tokens at an agency's routes are for that agency's origin (issue 10 §3).
    const audience = agencies.agencies[0]?.origin ?? ''
    const gatewayClient = await registerClient(direct, {
      clientId: 'satupintu-gateway',
      redirectUris: [`${publicUrl}/oidc/callback`, `http://dinas-contoh.localhost:${port}/oidc/callback`],
      scopes: ['openid', 'profile'],
    })
    const config = testConfig({ gateway: { publicUrl, port }, idp: { issuer, gatewayResource: publicUrl } })
    const gw = await buildGateway({
      config,
      database: db,
      logger: silentLogger(),
      agencies,
      keyEncryption: testKek,
      clientSecret: gatewayClient.secret as string,
    })
    await gw.listen({ host: '127.0.0.1', port })
    t.teardown(() => gw.close())
    // The agency's own origin (issue 10 §2); *.localhost resolves to loopback as in browsers.
    resolveLocalhostSubdomains(t)
    const service = `${agencies.agencies[0]?.origin ?? ''}/izin`

    // An app's access token for the gateway (code flow + PKCE, resource = the gateway).
    const insecure = { execute: [oidc.allowInsecureRequests] }
    const app = await registerClient(direct, {
      clientId: appClientId,
      redirectUris: ['http://127.0.0.1:9/cb'],
      scopes: ['openid', 'profile'],
      resources: [audience],
    })
    const appConfig = await oidc.discovery(new URL(issuer), app.clientId, app.secret, undefined, insecure)
    const verifier = oidc.randomPKCECodeVerifier()
    const authUrl = oidc.buildAuthorizationUrl(appConfig, {
      redirect_uri: 'http://127.0.0.1:9/cb',
      scope: 'openid profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      resource: audience,
    })
    const cb = await signIn(new Browser(), authUrl.href, issuer, { username: budi.nik, password: budi.password })
    const tokens = await oidc.authorizationCodeGrant(
      appConfig,
      new URL(cb),
      { pkceCodeVerifier: verifier, idTokenExpected: true },
      { resource: audience },
    )
    const bearer = () =>
      fetch(service, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } })
    t.equal((await bearer()).status, 200, 'the bearer token is accepted while the database is up')

    // A browser session at the gateway.
    const browser = new Browser()
    const start = await browser.request(service, { headers: { accept: 'text/html' } })
    t.equal(start.status, 303, 'the browser is sent to sign in')
    const callback = await signIn(browser, start.headers.get('location') ?? '', issuer, {
      username: budi.nik,
      password: budi.password,
    })
    await browser.request(callback, { headers: { accept: 'text/html' } })
    const withSession = () => browser.request(service, { headers: { accept: 'text/html' } })
    t.equal((await withSession()).status, 200, 'the session is accepted while the database is up')

    proxy.cut()
    await proxy.refuse()
    // Longer than the gateway's short per-instance memory of a session row (250 ms).
    await new Promise((r) => setTimeout(r, 400))
    const started = Date.now()
    const answers = await Promise.all(Array.from({ length: 5 }, () => bearer()))
    t.same(
      answers.map((r) => r.status),
      [200, 200, 200, 200, 200],
      `bearer requests are served during the outage (${Date.now() - started} ms for 5)`,
    )
    const page = await withSession()
    const html = await page.text()
    t.equal(page.status, 503, 'a session request: 503')
    t.equal(page.headers.get('retry-after'), '5', 'with Retry-After')
    t.match(html, /Layanan sedang tidak tersedia/, 'a readable Indonesian page')
    noStack(t, html, 'the session page')
    await proxy.restore()
    t.ok((await timeUntil(`${base}/readyz`, 200, 1000)) !== undefined, 'ready again')
    t.equal((await withSession()).status, 200, 'the session works again, nothing was lost')
  },
)

/** Holds `table` from outside the proxy, so that a query on it waits in the middle. */
async function holdTable(t: Test, url: string, table: string): Promise<{ release: () => Promise<void> }> {
  const holder = new pg.Client({ connectionString: url })
  await holder.connect()
  t.teardown(() => holder.end())
  await holder.query('begin')
  await holder.query(`lock table ${table} in access exclusive mode`)
  return { release: async () => void (await holder.query('rollback')) }
}

t.test(
  'SECURITY 31: idp: a sign-out-everywhere cut in the middle of its transaction answers 503 and changes nothing',
  { skip: noPostgres },
  async (t) => {
    const { db, proxy, direct } = await proxiedDatabase(t)
    const idp = await startIdp(t, db)
    const citizen = await addCitizen(direct.db)
    const browser = new Browser()
    const page = await signInAt(browser, `${idp.issuer}/akun/perangkat`, idp.issuer, {
      nik: budi.nik,
      password: budi.password,
    })
    t.equal(page.res.status, 200, 'signed in, on the devices page')
    const sessionsBefore = await direct.db
      .selectFrom('oidc_payloads')
      .select('id')
      .where('model', '=', 'Session')
      .where('account_id', '=', citizen.id)
      .execute()
    t.ok(sessionsBefore.length >= 1, 'the citizen has a session')
    // The transaction deletes the sessions, then writes the audit entry: hold the audit table.
    const held = await holdTable(t, direct.url as string, 'audit_events')
    const pending = browser.request(
      new URL(formAction(page.html, '/akun/perangkat/keluar-semua'), idp.issuer).toString(),
      {
        form: { _csrf: csrfFrom(page.html) },
        headers: { accept: 'text/html' },
      },
    )
    await new Promise((r) => setTimeout(r, 400))
    const cutAt = Date.now()
    proxy.cut()
    const res = await pending
    const html = await res.text()
    t.equal(res.status, 503, 'cut in the middle of its transaction: 503')
    t.equal(res.headers.get('retry-after'), '5')
    t.match(html, /Layanan sedang tidak tersedia/, 'a readable page')
    noStack(t, html, 'the page')
    await held.release()
    const sessionsAfter = await direct.db
      .selectFrom('oidc_payloads')
      .select('id')
      .where('model', '=', 'Session')
      .where('account_id', '=', citizen.id)
      .execute()
    t.same(
      sessionsAfter,
      sessionsBefore,
      'the sessions deleted inside the transaction are all still there: nothing half-done',
    )
    t.comment(`figures: idp cut mid-transaction → 503 after ${Date.now() - cutAt} ms`)
  },
)

t.test(
  'SECURITY 31: gateway: a session request cut mid-query, and a sign-in cut mid-transaction, answer 503 and leave no session behind',
  { skip: noPostgres },
  async (t) => {
    const { db, proxy, direct } = await proxiedDatabase(t)
    const up = await startUpstream(t)
    const port = await freePort()
    const publicUrl = `http://localhost:${port}`
    const base = `http://127.0.0.1:${port}`
    const { issuer } = await startIdp(t, direct, { idp: { gatewayResource: publicUrl } })
    await addCitizen(direct.db)
    const gatewayClient = await registerClient(direct, {
      clientId: 'satupintu-gateway',
      redirectUris: [`${publicUrl}/oidc/callback`, `http://dinas-contoh.localhost:${port}/oidc/callback`],
      scopes: ['openid', 'profile'],
    })
    const config = testConfig({ gateway: { publicUrl, port }, idp: { issuer, gatewayResource: publicUrl } })
    const agencies = agencyTable(
      [{ id: 'dinas-contoh', upstream: up.url, services: [{ path: '/izin', access: 'signed_in' }] }],
      { timeoutMs: 5000, maxBodyBytes: 1024 * 1024, publicUrl },
    )
    const gw = await buildGateway({
      config,
      database: db,
      logger: silentLogger(),
      agencies,
      keyEncryption: testKek,
      clientSecret: gatewayClient.secret as string,
    })
    await gw.listen({ host: '127.0.0.1', port })
    t.teardown(() => gw.close())
    // The agency's own origin (issue 10 §2); *.localhost resolves to loopback as in browsers.
    resolveLocalhostSubdomains(t)
    const service = `${agencies.agencies[0]?.origin ?? ''}/izin`

    // Sign-in: the callback stores the new session in a transaction; hold the table.
    const browser = new Browser()
    const start = await browser.request(service, { headers: { accept: 'text/html' } })
    const callback = await signIn(browser, start.headers.get('location') ?? '', issuer, {
      username: budi.nik,
      password: budi.password,
    })
    let held = await holdTable(t, direct.url as string, 'gateway_sessions')
    const pendingCallback = browser.request(callback, { headers: { accept: 'text/html' } })
    await new Promise((r) => setTimeout(r, 600))
    proxy.cut()
    const cb = await pendingCallback
    t.equal(cb.status, 503, 'the callback cut in the middle of its transaction: 503')
    t.equal(cb.headers.get('retry-after'), '5')
    await held.release()
    t.same(await direct.db.selectFrom('gateway_sessions').select('id_hash').execute(), [], 'no session was stored')

    // Signed in properly, then a session request whose query is cut.
    const again = await browser.request(service, { headers: { accept: 'text/html' } })
    const cb2 = await signIn(browser, again.headers.get('location') ?? '', issuer, {
      username: budi.nik,
      password: budi.password,
    })
    await browser.request(cb2, { headers: { accept: 'text/html' } })
    t.equal((await browser.request(service, { headers: { accept: 'text/html' } })).status, 200, 'signed in')
    await new Promise((r) => setTimeout(r, 300)) // past the short session memory
    held = await holdTable(t, direct.url as string, 'gateway_sessions')
    const pending = browser.request(service, { headers: { accept: 'text/html' } })
    await new Promise((r) => setTimeout(r, 300))
    const cutAt = Date.now()
    proxy.cut()
    const res = await pending
    t.equal(res.status, 503, 'the session request cut mid-query: 503')
    t.equal(res.headers.get('retry-after'), '5')
    const answeredAfter = Date.now() - cutAt
    await held.release()
    t.equal(
      (await browser.request(service, { headers: { accept: 'text/html' } })).status,
      200,
      'and the session serves again right after',
    )
    t.comment(`figures: gateway cut mid-query → 503 after ${answeredAfter} ms`)
  },
)
