/**
 * Bounded revocation across gateway instances (issue 12): an agency app holds a citizen's
 * JWT access token and calls its agency through the gateway. When the citizen signs out at
 * the idp, every gateway instance refuses that token within its poll interval
 * (gateway.revocationPollMs), while a token of the citizen's other session goes on working.
 * Two gateways (instance B with a pool of its own on PostgreSQL) and one idp, on each
 * database.
 */
import type { FastifyInstance } from 'fastify'
import * as oidc from 'openid-client'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { openDatabase } from '../../src/db/create.ts'
import { buildAgencyTable } from '../../src/gateway/agencies.ts'
import { buildGateway } from '../../src/gateway/app.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, registerClient, signIn, startIdp, testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'
import { startUpstream } from '../gateway/harness.ts'

const pollMs = 2000
const appClientId = 'dinas-contoh-aplikasi'

interface Setup {
  issuer: string
  publicUrl: string
  agencyOrigin: string
  ports: number[]
  gateways: FastifyInstance[]
}

async function setup(t: Test, db: TestDatabase): Promise<Setup> {
  const publicUrl = `http://localhost:${await freePort()}`
  const up = await startUpstream(t)
  const { issuer } = await startIdp(t, db, { idp: { gatewayResource: publicUrl } })
  const agencies = buildAgencyTable(
    {
      agencies: [
        {
          id: 'dinas-contoh',
          name: { id: 'Dinas Contoh', en: 'Sample Agency' },
          upstream: up.url,
          appClients: [appClientId],
          services: [{ id: 'izin', name: { id: 'Izin', en: 'Permit' }, path: '/izin', access: 'signed_in' }],
        },
      ],
    },
    { timeoutMs: 5000, maxBodyBytes: 1024 * 1024, publicUrl },
  )
  const agencyOrigin = agencies.agencies[0]?.origin ?? ''
  const ports: number[] = []
  const gateways: FastifyInstance[] = []
  for (const i of [0, 1]) {
    const port = await freePort()
    const config = testConfig({
      gateway: { publicUrl, port, revocationPollMs: pollMs },
      idp: { issuer, gatewayResource: publicUrl },
    })
    // Instance B has a pool of its own on PostgreSQL, as another machine would; PGlite
    // serves one process, so there both share it.
    const database = i === 0 || db.url === undefined ? db : await secondPool(t, db)
    const app = await buildGateway({ config, database, logger: silentLogger(), agencies, keyEncryption: testKek })
    await app.listen({ host: '127.0.0.1', port })
    t.teardown(() => app.close())
    ports.push(port)
    gateways.push(app)
  }
  return { issuer, publicUrl, agencyOrigin, ports, gateways }
}

async function secondPool(t: Test, db: TestDatabase): Promise<TestDatabase> {
  const other = await openDatabase({
    url: db.url,
    pgliteDir: '',
    autoMigrate: false,
    poolMax: 4,
    connectTimeoutMs: 5000,
    statementTimeoutMs: 30000,
    queryTimeoutMs: 35000,
  })
  t.teardown(() => other.close())
  return { ...other, url: db.url }
}

/** The agency app's sign-in: a JWT access token for the agency's origin, in `browser`'s idp session. */
async function appToken(
  s: Setup,
  client: { clientId: string; secret?: string | undefined },
  browser: Browser,
): Promise<string> {
  const config = await oidc.discovery(new URL(s.issuer), client.clientId, client.secret, undefined, {
    execute: [oidc.allowInsecureRequests],
  })
  const verifier = oidc.randomPKCECodeVerifier()
  const state = oidc.randomState()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: 'http://127.0.0.1:9/cb',
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    resource: s.agencyOrigin,
  })
  const cb = await signIn(browser, url.href, s.issuer, { username: budi.nik, password: budi.password })
  const tokens = await oidc.authorizationCodeGrant(
    config,
    new URL(cb),
    { pkceCodeVerifier: verifier, expectedState: state },
    { resource: s.agencyOrigin },
  )
  return tokens.access_token
}

/** The app's API call to its agency through one gateway instance. */
async function call(
  s: Setup,
  port: number,
  token: string,
): Promise<{ status: number; challenge: string; body: Record<string, unknown> }> {
  const res = await request(`http://127.0.0.1:${port}/izin`, {
    headers: { host: new URL(s.agencyOrigin).host, authorization: `Bearer ${token}`, accept: 'application/json' },
    reset: true,
  })
  const text = await res.body.text()
  return {
    status: res.statusCode,
    challenge: String(res.headers['www-authenticate'] ?? ''),
    body: JSON.parse(text === '' ? '{}' : text) as Record<string, unknown>,
  }
}

async function signOut(browser: Browser, issuer: string): Promise<void> {
  const confirm = await browser.request(`${issuer}/session/end`)
  const xsrf = /name="xsrf" value="([0-9a-f]+)"/.exec(await confirm.text())?.[1] ?? ''
  const done = await browser.request(`${issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })
  if (done.status !== 303) throw new Error(`logout answered ${done.status}`)
}

t.test(
  "SECURITY 43: the citizen signs out at the idp and both gateways refuse the agency app's token within the poll interval, while the token of the citizen's other session goes on working",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      await addCitizen(db.db, budi)
      const client = await registerClient(db, {
        clientId: appClientId,
        redirectUris: ['http://127.0.0.1:9/cb'],
        scopes: ['openid', 'profile'],
        resources: [s.agencyOrigin],
      })
      const phone = new Browser()
      const laptop = new Browser()
      const token = await appToken(s, client, phone)
      const otherSession = await appToken(s, client, laptop)
      for (const [i, port] of s.ports.entries()) {
        t.equal((await call(s, port, token)).status, 200, `gateway ${'AB'[i]} accepts the app's token`)
        t.equal((await call(s, port, otherSession)).status, 200, `gateway ${'AB'[i]} accepts the other session's token`)
      }

      const started = performance.now()
      await signOut(phone, s.issuer)
      const refusedAt = new Map<number, number>()
      const refusals = new Map<number, Awaited<ReturnType<typeof call>>>()
      while (refusedAt.size < 2 && performance.now() - started < pollMs + 5000) {
        for (const port of s.ports) {
          if (refusedAt.has(port)) continue
          const res = await call(s, port, token)
          if (res.status !== 200) {
            refusedAt.set(port, performance.now() - started)
            refusals.set(port, res)
          }
        }
        await new Promise((r) => setTimeout(r, 25))
      }
      t.equal(refusedAt.size, 2, 'both gateways refuse the token')
      const [a, b] = s.ports.map((p) => Math.round(refusedAt.get(p) ?? -1))
      const bound = Math.max(a ?? -1, b ?? -1)
      t.ok(
        bound <= pollMs + 1500,
        `within the poll interval (${pollMs} ms), a query and the sign-out itself: A ${a} ms, B ${b} ms`,
      )
      t.comment(
        `figure: sign-out to refusal at both gateways within ${bound} ms (A ${a} ms, B ${b} ms; gateway.revocationPollMs ${pollMs})`,
      )
      for (const [port, res] of refusals) {
        t.equal(res.status, 401, `gateway on ${port}: 401`)
        t.equal(
          res.challenge,
          'Bearer error="invalid_token", error_description="The access token was revoked: the session it was issued in has ended"',
        )
        t.equal(res.body.error, 'unauthorized')
        t.equal(res.body.message, 'The access token was revoked: the session it was issued in has ended')
      }

      for (const [i, port] of s.ports.entries()) {
        t.equal(
          (await call(s, port, otherSession)).status,
          200,
          `gateway ${'AB'[i]} still accepts the token of the citizen's other session`,
        )
      }
      // Readiness reports the revocation set as up to date.
      const ready = await request(`http://127.0.0.1:${s.ports[1]}/readyz`, {
        headers: { host: new URL(s.publicUrl).host },
        reset: true,
      })
      const readiness = (await ready.body.json()) as { checks?: Record<string, string> }
      t.equal(readiness.checks?.revocations, 'up', 'readiness: the set of ended sessions is current')
      await db.db.deleteFrom('revoked_sessions').execute()
    })
  },
)
