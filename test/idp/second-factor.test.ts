// Two-step sign-in for citizens (issue 14): enrolment in Akun Saya → Keamanan, the code
// step of the sign-in, recovery codes, and the levels in the tokens.
import * as oidc from 'openid-client'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { sql } from 'kysely'
import { Secret, TOTP } from 'otpauth'
import t from 'tap'
import { markEmailVerified } from '../../src/accounts/citizens.ts'
import { confirmTotpEnrolment, hasSecondFactor, pendingTotpEnrolment } from '../../src/accounts/second-factors.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import {
  Browser,
  csrfFrom,
  formAction,
  registerClient,
  signIn,
  signInAt,
  startIdp,
  testGatewayResource,
  testKek,
} from '../helpers/idp.ts'

const redirectUri = 'http://127.0.0.1:9/cb'
const insecure = { execute: [oidc.allowInsecureRequests] }
const keys = { sealer: testKek, recoveryKey: testKek.derive('recovery codes') }

function codeAt(secret: string, at: number): string {
  return new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) }).generate({
    timestamp: at,
  })
}

/** An account with the app confirmed two minutes ago: codes of now and the steps around it are unused. */
async function enrolledCitizen(db: TestDatabase) {
  const citizen = await addCitizen(db.db)
  await markEmailVerified(db.db, citizen.id, budi.email)
  const enrolment = await pendingTotpEnrolment(db.db, keys, citizen.id, budi.name)
  if (!enrolment) throw new Error('no enrolment')
  const past = new Date(Date.now() - 120_000)
  const confirmed = await confirmTotpEnrolment(db.db, keys, citizen.id, codeAt(enrolment.secret, past.getTime()), {
    now: past,
  })
  if (!confirmed.ok) throw new Error('not confirmed')
  return { citizen, secret: enrolment.secret, recoveryCodes: confirmed.recoveryCodes }
}

async function ageSignIn(db: TestDatabase, accountId: string, seconds: number): Promise<void> {
  await sql`update oidc_payloads set payload = jsonb_set(payload, '{loginTs}', to_jsonb((payload->>'loginTs')::bigint - ${seconds}::bigint))
    where model = 'Session' and account_id = ${accountId}`.execute(db.db)
}

/** Authorize → password; returns the page the password leads to. */
async function passwordStep(
  browser: Browser,
  issuer: string,
  config: oidc.Configuration,
  params: Record<string, string> = {},
) {
  const verifier = oidc.randomPKCECodeVerifier()
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...params,
  })
  const first = await browser.follow(url.href, issuer)
  const login = await first.res.text()
  const res = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
    form: { _csrf: csrfFrom(login), username: budi.nik, password: budi.password },
  })
  const next = await browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)
  return { verifier, status: res.status, page: next, html: await next.res.text() }
}

/** Follows a redirect on through the consent page (allowed), to the client's redirect URI. */
async function continueFlow(browser: Browser, issuer: string, location: string): Promise<string> {
  let step = await browser.follow(new URL(location, issuer).toString(), issuer)
  for (let i = 0; i < 3 && step.url.startsWith(issuer); i++) {
    const html = await step.res.text()
    if (!html.includes('/consent"')) throw new Error(`unexpected page at ${step.url}`)
    const res = await browser.request(new URL(formAction(html, '/consent'), issuer).toString(), {
      form: { _csrf: csrfFrom(html), decision: 'allow' },
    })
    step = await browser.follow(new URL(res.headers.get('location') ?? '', issuer).toString(), issuer)
  }
  return step.url
}

async function postCode(browser: Browser, issuer: string, html: string, code: string) {
  return browser.request(new URL(formAction(html, '/kode'), issuer).toString(), {
    form: { _csrf: csrfFrom(html), code },
  })
}

t.test(
  'enrolment in Akun Saya → Keamanan: QR code and grouped secret, confirmed with a current code, then ten recovery codes once',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const citizen = await addCitizen(db.db)
      await markEmailVerified(db.db, citizen.id, budi.email)
      const browser = new Browser()
      const overview = await signInAt(browser, `${issuer}/akun/keamanan`, issuer, budi)
      t.equal(overview.res.status, 200)
      t.match(overview.html, /Belum aktif/)
      const page = await browser.request(`${issuer}/akun/keamanan/aplikasi`)
      t.equal(page.status, 200)
      t.equal(page.headers.get('cache-control'), 'no-store')
      const html = await page.text()
      t.match(
        html,
        /<figure class="qr"[^>]*><svg xmlns="http:\/\/www.w3.org\/2000\/svg"/,
        'the QR code is an inline SVG',
      )
      t.notMatch(html, /<script/, 'no script')
      const groups = /id="secret"[^>]*>(.*?)<\/p>/s.exec(html)?.[1]?.match(/<span>([A-Z2-7]{1,4})<\/span>/g) ?? []
      t.ok(groups.length >= 8, 'the secret in groups of four')
      const secret = groups.map((g) => g.replace(/<\/?span>/g, '')).join('')
      t.equal(secret.length, 32, '160 bits')

      const wrong = await browser.request(`${issuer}/akun/keamanan/aplikasi`, {
        form: { _csrf: csrfFrom(html), code: '000000' === codeAt(secret, Date.now()) ? '111111' : '000000' },
      })
      t.equal(wrong.status, 400)
      t.notOk(await hasSecondFactor(db.db, citizen.id), 'a wrong code does not turn it on')

      const ok = await browser.request(`${issuer}/akun/keamanan/aplikasi`, {
        form: { _csrf: csrfFrom(html), code: codeAt(secret, Date.now()) },
      })
      t.equal(ok.status, 200)
      t.equal(ok.headers.get('cache-control'), 'no-store')
      const codesHtml = await ok.text()
      const codes = [
        ...(/<ul class="recovery-codes"[^>]*>(.*?)<\/ul>/s.exec(codesHtml)?.[1] ?? '').matchAll(
          /<li>([0-9A-Z]{5}-[0-9A-Z]{5})<\/li>/g,
        ),
      ].map((m) => m[1])
      t.equal(codes.length, 10, 'ten recovery codes')
      t.ok(await hasSecondFactor(db.db, citizen.id))
      const again = await browser.request(`${issuer}/akun/keamanan/aplikasi`)
      t.equal(again.status, 303, 'the enrolment page is gone once the app is on')
      const status = await (await browser.request(`${issuer}/akun/keamanan`)).text()
      t.match(status, /Aktif sejak/)
      t.match(status, /Sisa 10 dari 10 kode/)
      t.notOk(
        codes.some((c) => status.includes(c ?? '')),
        'the codes are not shown again',
      )
      const notices = await db.db.selectFrom('outbox').select('kind').where('citizen_id', '=', citizen.id).execute()
      t.match(notices, [{ kind: 'second_factor_added' }], 'the citizen is told')
    })
  },
)

t.test(
  'sign-in with an authenticator app: the code on its own page, no session before it, then acr mfa and amr pwd+otp in the ID token and the access token',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const { citizen, secret } = await enrolledCitizen(db)
      const client = await registerClient(db, { redirectUris: [redirectUri] })
      const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
      const browser = new Browser()
      const step = await passwordStep(browser, issuer, config, { resource: testGatewayResource })
      t.equal(step.status, 303)
      t.match(step.html, /Verifikasi dua langkah/)
      t.match(step.html, /action="\/interaction\/[^"]+\/kode"/)
      t.equal(
        (
          await db.db
            .selectFrom('oidc_payloads')
            .select('id')
            .where('model', '=', 'Session')
            .where('account_id', '=', citizen.id)
            .execute()
        ).length,
        0,
        'no session after the password alone',
      )

      const res = await postCode(browser, issuer, step.html, codeAt(secret, Date.now()))
      t.equal(res.status, 303)
      const back = await continueFlow(browser, issuer, res.headers.get('location') ?? '')
      t.ok(back.startsWith(redirectUri), `back at the client (${back})`)
      const tokens = await oidc.authorizationCodeGrant(
        config,
        new URL(back),
        { pkceCodeVerifier: step.verifier },
        { resource: testGatewayResource },
      )
      t.equal(tokens.claims()?.acr, 'urn:satupintu:acr:mfa')
      t.same(tokens.claims()?.amr, ['pwd', 'otp'])
      const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${issuer}/jwks`)), {
        issuer,
        audience: testGatewayResource,
      })
      t.equal(payload.acr, 'urn:satupintu:acr:mfa')
      t.same(payload.amr, ['pwd', 'otp'])
    })
  },
)

t.test(
  'acr_values is enforced: a citizen without a second factor is told what the service needs, and the service gets unmet_authentication_requirements, never a lower level',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      await addCitizen(db.db)
      const client = await registerClient(db, { redirectUris: [redirectUri] })
      const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
      for (const asked of ['urn:satupintu:acr:mfa', 'urn:satupintu:loa:2']) {
        const browser = new Browser()
        const verifier = oidc.randomPKCECodeVerifier()
        const url = oidc.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: 'openid',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          acr_values: asked,
        })
        const first = await browser.follow(url.href, issuer)
        const login = await first.res.text()
        const res = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
          form: { _csrf: csrfFrom(login), username: budi.nik, password: budi.password },
        })
        t.equal(res.status, 403, `${asked}: no sign-in at a lower level`)
        const page = await res.text()
        t.match(page, /Layanan ini meminta verifikasi dua langkah/)
        t.match(page, /href="\/akun\/keamanan"/, 'the way to turn it on')
        const back = /<a href="([^"]+)">Kembali ke /.exec(page)?.[1]?.replaceAll('&amp;', '&')
        t.ok(back, 'and a way back to the service')
        const answer = await browser.follow(new URL(back ?? '/', issuer).toString(), issuer)
        const callback = new URL(answer.url)
        t.equal(callback.origin + callback.pathname, redirectUri)
        t.equal(callback.searchParams.get('error'), 'unmet_authentication_requirements', `${asked}: a clear refusal`)
        t.equal(callback.searchParams.get('code'), null)
      }
    })
  },
)

t.test(
  'step-up: a session signed in with the password alone is asked for the code when a client needs two factors; prompt=none gets unmet_authentication_requirements',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const { secret } = await enrolledCitizen(db)
      const client = await registerClient(db, { redirectUris: [redirectUri] })
      const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
      const browser = new Browser()
      // A password-only session: signed in through the first step, the code step abandoned
      // is not a session, so sign in fully once at mfa, then make the session password-only.
      const step = await passwordStep(browser, issuer, config)
      const res = await postCode(browser, issuer, step.html, codeAt(secret, Date.now()))
      await continueFlow(browser, issuer, res.headers.get('location') ?? '')
      await sql`update oidc_payloads set payload = jsonb_set(payload, '{acr}', '"urn:satupintu:acr:pwd"') where model = 'Session'`.execute(
        db.db,
      )

      const ask = async (params: Record<string, string>) => {
        const verifier = oidc.randomPKCECodeVerifier()
        const url = oidc.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: 'openid',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          ...params,
        })
        return { verifier, step: await browser.follow(url.href, issuer) }
      }

      const silent = await ask({ acr_values: 'urn:satupintu:acr:mfa', prompt: 'none' })
      const silentUrl = new URL(silent.step.url)
      t.equal(silentUrl.searchParams.get('error'), 'unmet_authentication_requirements', 'prompt=none: refused')
      t.equal(silentUrl.searchParams.get('code'), null)

      const enough = await ask({ acr_values: 'urn:satupintu:acr:pwd', prompt: 'none' })
      t.ok(new URL(enough.step.url).searchParams.get('code'), 'the level the session has: no prompt')

      const up = await ask({ acr_values: 'urn:satupintu:acr:mfa' })
      t.ok(up.step.url.startsWith(issuer), 'sent to sign in again')
      const login = await up.step.res.text()
      const pw = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
        form: { _csrf: csrfFrom(login), username: budi.nik, password: budi.password },
      })
      const codeStep = await browser.follow(new URL(pw.headers.get('location') ?? '', issuer).toString(), issuer)
      const codeHtml = await codeStep.res.text()
      t.match(codeHtml, /action="\/interaction\/[^"]+\/kode"/, 'the code is asked')
      const coded = await postCode(browser, issuer, codeHtml, codeAt(secret, Date.now() + 30_000))
      const back = await continueFlow(browser, issuer, coded.headers.get('location') ?? '')
      const tokens = await oidc.authorizationCodeGrant(config, new URL(back), { pkceCodeVerifier: up.verifier })
      t.equal(tokens.claims()?.acr, 'urn:satupintu:acr:mfa')
      t.same(tokens.claims()?.amr, ['pwd', 'otp'])

      const phr = await ask({ acr_values: 'urn:satupintu:acr:phr', prompt: 'none' })
      t.equal(
        new URL(phr.step.url).searchParams.get('error'),
        'unmet_authentication_requirements',
        'a level above the new session (phishing-resistant): refused too',
      )
    })
  },
)

t.test('SECURITY 39: a code accepted at one sign-in is refused at the next, within its time step', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const { citizen, secret } = await enrolledCitizen(db)
    const client = await registerClient(db, { redirectUris: [redirectUri] })
    const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
    const code = codeAt(secret, Date.now())
    const firstBrowser = new Browser()
    const a = await passwordStep(firstBrowser, issuer, config)
    const accepted = await postCode(firstBrowser, issuer, a.html, code)
    t.equal(accepted.status, 303, 'the first use passes')
    t.ok((await continueFlow(firstBrowser, issuer, accepted.headers.get('location') ?? '')).startsWith(redirectUri))
    const otherBrowser = new Browser()
    const b = await passwordStep(otherBrowser, issuer, config)
    const replay = await postCode(otherBrowser, issuer, b.html, code)
    t.equal(replay.status, 401, 'the same code again is refused')
    t.match(await replay.text(), /Kode salah atau sudah dipakai/)
    const sessions = await db.db
      .selectFrom('oidc_payloads')
      .select('id')
      .where('model', '=', 'Session')
      .where('account_id', '=', citizen.id)
      .execute()
    t.equal(sessions.length, 1, 'one session only')
  })
})

t.test('wrong codes at sign-in are throttled: 429 with Retry-After, even for the right code', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const { citizen, secret } = await enrolledCitizen(db)
    const client = await registerClient(db, { redirectUris: [redirectUri] })
    const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
    const browser = new Browser()
    const step = await passwordStep(browser, issuer, config)
    const right = codeAt(secret, Date.now())
    const wrong = right === '123456' ? '654321' : '123456'
    for (let i = 0; i < 5; i++) t.equal((await postCode(browser, issuer, step.html, wrong)).status, 401)
    const held = await postCode(browser, issuer, step.html, right)
    t.equal(held.status, 429)
    t.ok(Number(held.headers.get('retry-after')) >= 1)
    t.match(await held.text(), /Terlalu banyak kode yang salah/)
    const failed = await db.db
      .selectFrom('audit_events')
      .select('id')
      .where('subject_id', '=', citizen.id)
      .where('event', '=', 'auth.second_factor.failed')
      .execute()
    t.equal(failed.length, 5)
  })
})

t.test(
  'SECURITY 39: a recovery code signs in once, tells the citizen, and the page says to set the factor up again',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const { citizen, recoveryCodes } = await enrolledCitizen(db)
      const client = await registerClient(db, { redirectUris: [redirectUri] })
      const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
      const code = recoveryCodes[0] ?? ''
      const browser = new Browser()
      const step = await passwordStep(browser, issuer, config)
      const res = await postCode(browser, issuer, step.html, code)
      t.equal(res.status, 200)
      const html = await res.text()
      t.match(html, /Anda masuk dengan kode pemulihan/)
      t.match(html, /Sisa kode pemulihan: 9/)
      t.match(html, /Keamanan/)
      const resume = /class="button" href="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&') ?? ''
      const back = await continueFlow(browser, issuer, resume)
      t.ok(back.startsWith(redirectUri), 'continuing finishes the sign-in')
      const tokens = await oidc.authorizationCodeGrant(config, new URL(back), { pkceCodeVerifier: step.verifier })
      t.equal(tokens.claims()?.acr, 'urn:satupintu:acr:mfa')
      t.same(tokens.claims()?.amr, ['pwd', 'otp'])
      const notices = await db.db
        .selectFrom('outbox')
        .select(['kind', 'body'])
        .where('citizen_id', '=', citizen.id)
        .where('kind', '=', 'recovery_code_used')
        .execute()
      t.equal(notices.length, 1, 'the citizen is told')

      const other = new Browser()
      const again = await passwordStep(other, issuer, config)
      t.equal((await postCode(other, issuer, again.html, code)).status, 401, 'the same recovery code twice is refused')
      const account = await signInAt(new Browser(), `${issuer}/akun/keamanan`, issuer, budi)
      t.match(account.html, /action="\/interaction\/[^"]+\/kode"/, 'the account pages ask for the second factor too')
    })
  },
)

t.test('removing the app and renewing the codes need a fresh sign-in; removal tells the citizen', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const { citizen, secret } = await enrolledCitizen(db)
    const browser = new Browser()
    const first = await browser.follow(`${issuer}/akun/keamanan/aplikasi/hapus`, issuer)
    const login = await first.res.text()
    const pw = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
      form: { _csrf: csrfFrom(login), username: budi.nik, password: budi.password },
    })
    const codeStep = await browser.follow(new URL(pw.headers.get('location') ?? '', issuer).toString(), issuer)
    const codeHtml = await codeStep.res.text()
    const signed = await postCode(browser, issuer, codeHtml, codeAt(secret, Date.now()))
    const page = await browser.follow(new URL(signed.headers.get('location') ?? '', issuer).toString(), issuer)
    t.equal(page.res.status, 200)
    t.ok(page.url.endsWith('/akun/keamanan/aplikasi/hapus'))
    const token = csrfFrom(await page.res.text())
    await ageSignIn(db, citizen.id, 3600)
    for (const path of ['/akun/keamanan/aplikasi/hapus', '/akun/keamanan/pemulihan']) {
      const stale = await browser.request(`${issuer}${path}`, { form: { _csrf: token } })
      t.equal(stale.status, 303, `${path}: a stale sign-in is sent to sign in again`)
      const location = new URL(stale.headers.get('location') ?? '', issuer)
      t.equal(location.pathname, '/auth')
      t.equal(location.searchParams.get('prompt'), 'login')
    }
    t.ok(await hasSecondFactor(db.db, citizen.id), 'nothing was removed')
    t.equal((await browser.request(`${issuer}/akun/keamanan/aplikasi/hapus`)).status, 303, 'the confirmation page too')
    await sql`update oidc_payloads set payload = jsonb_set(payload, '{loginTs}', to_jsonb(extract(epoch from now())::bigint)) where model = 'Session' and account_id = ${citizen.id}`.execute(
      db.db,
    )
    const removed = await browser.request(`${issuer}/akun/keamanan/aplikasi/hapus`, { form: { _csrf: token } })
    t.equal(removed.status, 303)
    t.equal(removed.headers.get('location'), '/akun/keamanan?pesan=dihapus')
    t.notOk(await hasSecondFactor(db.db, citizen.id))
    t.equal(
      (await db.db.selectFrom('recovery_codes').select('id').where('citizen_id', '=', citizen.id).execute()).length,
      0,
    )
    const notices = await db.db
      .selectFrom('outbox')
      .select('kind')
      .where('citizen_id', '=', citizen.id)
      .where('kind', '=', 'second_factor_removed')
      .execute()
    t.equal(notices.length, 1)
  })
})

t.test(
  'an elevated level lasts a bounded time (issue 14): two factors 12 h ago, or after 30 minutes idle, stand for the password level; acr_values asks again and prompt=none is refused',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const { citizen, secret } = await enrolledCitizen(db)
      const client = await registerClient(db, { redirectUris: [redirectUri] })
      const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
      const mfa = 'urn:satupintu:acr:mfa'
      const signInWithCode = async (browser: Browser, offset: number) => {
        const step = await passwordStep(browser, issuer, config)
        const res = await postCode(browser, issuer, step.html, codeAt(secret, Date.now() + offset))
        await continueFlow(browser, issuer, res.headers.get('location') ?? '')
      }
      const ask = async (browser: Browser, params: Record<string, string>) => {
        const verifier = oidc.randomPKCECodeVerifier()
        const url = oidc.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: 'openid profile',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          ...params,
        })
        const step = await browser.follow(url.href, issuer)
        return { verifier, url: new URL(step.url) }
      }
      const acrOf = async (got: { verifier: string; url: URL }) =>
        (await oidc.authorizationCodeGrant(config, got.url, { pkceCodeVerifier: got.verifier })).claims()?.acr

      // By age: 12 hours after the sign-in.
      const browser = new Browser()
      await signInWithCode(browser, 0)
      t.equal(await acrOf(await ask(browser, { acr_values: mfa, prompt: 'none' })), mfa, 'fresh: two factors')
      await ageSignIn(db, citizen.id, 43_200)
      const refused = await ask(browser, { acr_values: mfa, prompt: 'none' })
      t.equal(refused.url.searchParams.get('error'), 'unmet_authentication_requirements', 'aged: prompt=none refused')
      t.equal(refused.url.searchParams.get('code'), null)
      t.equal(
        await acrOf(await ask(browser, { prompt: 'none' })),
        'urn:satupintu:acr:pwd',
        'the session lives on, at the password level',
      )
      const stored = await sql<{ acr: string }>`select payload->>'acr' as acr from oidc_payloads
        where model = 'Session' and account_id = ${citizen.id}`.execute(db.db)
      t.equal(stored.rows[0]?.acr, 'urn:satupintu:acr:pwd', 'and is saved so')
      const again = await ask(browser, { acr_values: mfa })
      t.ok(again.url.href.startsWith(issuer), 'asking for two factors again signs the citizen in again')

      // By idle time: signed in 32 minutes ago and unused for 30 of them (a session's
      // expiry says when it was last used; the last use is never before the sign-in).
      const idle = new Browser()
      await signInWithCode(idle, 30_000)
      await ageSignIn(db, citizen.id, 1_920)
      await sql`update oidc_payloads set payload = jsonb_set(payload, '{exp}', to_jsonb(extract(epoch from now())::bigint + 7200 - 1810))
        where model = 'Session' and account_id = ${citizen.id} and payload->>'acr' = ${mfa}`.execute(db.db)
      const idled = await ask(idle, { acr_values: mfa, prompt: 'none' })
      t.equal(idled.url.searchParams.get('error'), 'unmet_authentication_requirements', 'idle: prompt=none refused')
    })
  },
)

t.test('acr_values naming no level of ours is refused, never silently ignored', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    await addCitizen(db.db)
    const client = await registerClient(db, { redirectUris: [redirectUri] })
    const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
    const ask = async (acr: string) => {
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        acr_values: acr,
      })
      return new Browser().follow(url.href, issuer)
    }
    const unknown = await ask('urn:other:gold http://idmanagement.gov/ns/assurance/ial/2')
    const answer = new URL(unknown.url)
    t.equal(answer.origin + answer.pathname, redirectUri, 'told at the redirect URI')
    t.equal(answer.searchParams.get('error'), 'invalid_request')
    t.match(answer.searchParams.get('error_description'), /acr_values.*urn:satupintu:acr:pwd/)
    const mixed = await ask('urn:other:gold urn:satupintu:acr:pwd')
    t.ok(mixed.url.startsWith(issuer), 'an unknown value beside a known one: the known one is the bar')
  })
})
