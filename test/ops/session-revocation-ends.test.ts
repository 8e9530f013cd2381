/**
 * An agency app cannot keep calling its agency through the gateway after the citizen's
 * session ended by refreshing: oidc-provider keeps an offline_access refresh token through a
 * sign-out (persistsLogout), and a refresh would copy the session into a new token with the
 * same sp_sh, issued after revoked_at. Every way a session ends deletes them
 * (session-revocation.ts recordRevokedSessions); withdrawing a consent reaches the gateway too.
 *
 * Nor can a session ended from another device come back while the signed-out device keeps
 * the idp busy: oidc-provider saves every session it loaded at the end of each request, and
 * a save of a row deleted meanwhile must not re-create it (adapter.ts, loadedSessions). The
 * race needs two connections: it shows on PostgreSQL.
 */
import type { FastifyInstance } from 'fastify'
import { decodeJwt } from 'jose'
import * as oidc from 'openid-client'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { buildAgencyTable } from '../../src/gateway/agencies.ts'
import { buildGateway } from '../../src/gateway/app.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, registerClient, signIn, signInAt, startIdp, testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'
import { startUpstream } from '../gateway/harness.ts'

const pollMs = 300
const appClientId = 'dinas-contoh-aplikasi'
const insecure = { execute: [oidc.allowInsecureRequests] }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Setup {
  issuer: string
  agencyOrigin: string
  port: number
  gateway: FastifyInstance
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
  const port = await freePort()
  const config = testConfig({
    gateway: { publicUrl, port, revocationPollMs: pollMs },
    idp: { issuer, gatewayResource: publicUrl },
  })
  const gateway = await buildGateway({ config, database: db, logger: silentLogger(), agencies, keyEncryption: testKek })
  await gateway.listen({ host: '127.0.0.1', port })
  t.teardown(() => gateway.close())
  return { issuer, agencyOrigin, port, gateway }
}

async function appTokens(
  s: Setup,
  client: { clientId: string; secret?: string | undefined },
  browser: Browser,
  scope = 'openid profile offline_access',
) {
  const config = await oidc.discovery(new URL(s.issuer), client.clientId, client.secret, undefined, insecure)
  const verifier = oidc.randomPKCECodeVerifier()
  const state = oidc.randomState()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: 'http://127.0.0.1:9/cb',
    scope,
    prompt: 'consent',
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
  return { config, tokens }
}

async function call(s: Setup, token: string): Promise<number> {
  const res = await request(`http://127.0.0.1:${s.port}/izin`, {
    headers: { host: new URL(s.agencyOrigin).host, authorization: `Bearer ${token}`, accept: 'application/json' },
    reset: true,
  })
  await res.body.text()
  return res.statusCode
}

async function endSession(browser: Browser, issuer: string, query = '', logout = true): Promise<void> {
  const confirm = await browser.request(`${issuer}/session/end${query}`)
  const xsrf = /name="xsrf" value="([0-9a-f]+)"/.exec(await confirm.text())?.[1] ?? ''
  const done = await browser.request(`${issuer}/session/end/confirm`, {
    form: logout ? { xsrf, logout: 'yes' } : { xsrf },
  })
  if (done.status !== 303) throw new Error(`logout answered ${done.status}`)
}

async function refresh(
  s: Setup,
  config: oidc.Configuration,
  rt: string,
): Promise<{ ok: true; at: string; rt: string } | { ok: false; error: string }> {
  try {
    const r = await oidc.refreshTokenGrant(config, rt, { resource: s.agencyOrigin })
    return { ok: true, at: r.access_token, rt: r.refresh_token ?? '' }
  } catch (err) {
    return { ok: false, error: String((err as { error?: string }).error ?? (err as Error).message) }
  }
}

t.test(
  "SECURITY 43: after the session ends, its refresh token mints nothing the gateway takes; withdrawing a consent ends the app's tokens too",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      await addCitizen(db.db, budi)
      const client = await registerClient(db, {
        clientId: appClientId,
        redirectUris: ['http://127.0.0.1:9/cb'],
        scopes: ['openid', 'profile', 'offline_access'],
        resources: [s.agencyOrigin],
      })
      /** Refused within the poll bound (a few polls on a loaded machine). */
      const refusedSoon = async (token: string) => {
        for (let i = 0; i < 40; i++) {
          if ((await call(s, token)) === 401) return true
          await sleep(pollMs)
        }
        return false
      }

      await t.test('signing out at the idp', async (t) => {
        const phone = new Browser()
        const { config, tokens } = await appTokens(s, client, phone)
        t.ok(tokens.refresh_token, 'an offline_access refresh token')
        t.equal(await call(s, tokens.access_token), 200, 'the token works before')
        await endSession(phone, s.issuer)
        t.ok(await refusedSoon(tokens.access_token), 'the access token is refused')
        t.same(
          await refresh(s, config, tokens.refresh_token as string),
          { ok: false, error: 'invalid_grant' },
          'and the refresh token is gone',
        )
      })

      await t.test('signing out of that app only', async (t) => {
        const phone = new Browser()
        const { config, tokens } = await appTokens(s, client, phone)
        await endSession(phone, s.issuer, `?client_id=${appClientId}`, false)
        t.ok(await refusedSoon(tokens.access_token), 'the access token is refused')
        t.same(
          await refresh(s, config, tokens.refresh_token as string),
          { ok: false, error: 'invalid_grant' },
          'and the refresh token is gone',
        )
      })

      await t.test('Akun Saya: signing that device out', async (t) => {
        const phone = new Browser()
        const { config, tokens } = await appTokens(s, client, phone)
        const laptop = new Browser()
        await signInAt(laptop, `${s.issuer}/akun`, s.issuer, { nik: budi.nik, password: budi.password })
        const page = await (await laptop.request(`${s.issuer}/akun/perangkat`)).text()
        const handles = [...page.matchAll(/name="perangkat" value="([^"]+)"/g)].map((m) => m[1] as string)
        t.ok(handles.length >= 1, 'the phone is listed')
        for (const h of handles)
          t.equal(
            (
              await laptop.request(`${s.issuer}/akun/perangkat/keluar`, {
                form: { _csrf: csrfFrom(page), perangkat: h },
              })
            ).status,
            303,
          )
        t.ok(await refusedSoon(tokens.access_token), 'the access token is refused')
        t.same(
          await refresh(s, config, tokens.refresh_token as string),
          { ok: false, error: 'invalid_grant' },
          'and the refresh token is gone',
        )
      })

      await t.test('Akun Saya: withdrawing the consent', async (t) => {
        const phone = new Browser()
        const { tokens } = await appTokens(s, client, phone)
        t.equal(await call(s, tokens.access_token), 200)
        const laptop = new Browser()
        await signInAt(laptop, `${s.issuer}/akun`, s.issuer, { nik: budi.nik, password: budi.password })
        const page = await (await laptop.request(`${s.issuer}/akun/instansi`)).text()
        t.equal(
          (
            await laptop.request(`${s.issuer}/akun/instansi/cabut`, {
              form: { _csrf: csrfFrom(page), instansi: appClientId },
            })
          ).status,
          303,
        )
        t.ok(await refusedSoon(tokens.access_token), "the app's access token is refused at the gateway")
      })
    })
  },
)

async function silentToken(
  s: Setup,
  client: { clientId: string; secret?: string | undefined },
  browser: Browser,
): Promise<string | undefined> {
  const config = await oidc.discovery(new URL(s.issuer), client.clientId, client.secret, undefined, insecure)
  const verifier = oidc.randomPKCECodeVerifier()
  const state = oidc.randomState()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: 'http://127.0.0.1:9/cb',
    scope: 'openid profile',
    prompt: 'none',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    resource: s.agencyOrigin,
  })
  const { url: cb } = await browser.follow(url.href, s.issuer)
  if (!new URL(cb).searchParams.has('code')) return undefined
  const tokens = await oidc.authorizationCodeGrant(
    config,
    new URL(cb),
    { pkceCodeVerifier: verifier, expectedState: state },
    { resource: s.agencyOrigin },
  )
  return tokens.access_token
}

async function sessionUidsOf(db: TestDatabase): Promise<string[]> {
  return (await db.db.selectFrom('oidc_payloads').select('uid').where('model', '=', 'Session').execute()).map(
    (r) => r.uid ?? '',
  )
}

const newPassword = 'Kata-Sandi-Baru-2026!'
const cleanups: (() => Promise<void>)[] = []
type Ender = (laptop: Browser, page: string, s: Setup) => Promise<void>
const enders: Record<string, Ender> = {
  'sign that device out': async (laptop, page, s) => {
    const handles = [...page.matchAll(/name="perangkat" value="([^"]+)"/g)].map((m) => m[1] as string)
    for (const h of handles)
      await laptop.request(`${s.issuer}/akun/perangkat/keluar`, { form: { _csrf: csrfFrom(page), perangkat: h } })
  },
  'change the password (Akun Saya)': async (laptop, _page, s) => {
    const form = await (await laptop.request(`${s.issuer}/akun/sandi`)).text()
    const res = await laptop.request(`${s.issuer}/akun/sandi`, {
      form: { _csrf: csrfFrom(form), current: budi.password, password: newPassword, password2: newPassword },
    })
    if (res.status !== 303) throw new Error(`password change answered ${res.status}`)
    cleanups.push(async () => {
      const f = await (await laptop.request(`${s.issuer}/akun/sandi`)).text()
      const r = await laptop.request(`${s.issuer}/akun/sandi`, {
        form: { _csrf: csrfFrom(f), current: newPassword, password: budi.password, password2: budi.password },
      })
      if (r.status !== 303) throw new Error(`password change back answered ${r.status}`)
    })
  },
  'sign out everywhere': async (laptop, page, s) => {
    await laptop.request(`${s.issuer}/akun/perangkat/keluar-semua`, { form: { _csrf: csrfFrom(page) } })
  },
}

t.test(
  'SECURITY 43: a request the signed-out device has in flight does not bring its session back, whichever way it was ended',
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
      for (const [name, end] of Object.entries(enders)) {
        await t.test(name, async (t) => {
          const outcomes: string[] = []
          for (let attempt = 0; attempt < 2; attempt++) {
            const phone = new Browser()
            await appTokens(s, client, phone, 'openid profile')
            const phoneUids = await sessionUidsOf(db)
            const laptop = new Browser()
            await signInAt(laptop, `${s.issuer}/akun`, s.issuer, { nik: budi.nik, password: budi.password })
            const page = await (await laptop.request(`${s.issuer}/akun/perangkat`)).text()
            // The stolen phone keeps its session busy: cheap requests that load and save it.
            let stop = false
            const loops = Array.from({ length: 4 }, async () => {
              while (!stop) {
                try {
                  await (await phone.request(`${s.issuer}/session/end`)).text()
                } catch {
                  // a request cut by the end of the loop
                }
              }
            })
            await sleep(100)
            await end(laptop, page, s)
            await sleep(200)
            stop = true
            await Promise.all(loops)
            const after = await sessionUidsOf(db)
            const again = await silentToken(s, client, phone)
            outcomes.push(
              `stored again: ${phoneUids.filter((u) => after.includes(u)).length}, silent sign-in: ${again === undefined ? 'login_required' : 'a token'}`,
            )
            for (const c of cleanups.splice(0)) await c()
            await db.db.deleteFrom('oidc_payloads').where('model', '=', 'Session').execute()
          }
          t.same(
            outcomes,
            ['stored again: 0, silent sign-in: login_required', 'stored again: 0, silent sign-in: login_required'],
            'the ended session never comes back',
          )
        })
      }
    })
  },
)
