// SECURITY.md line 36: a consent lasts until the citizen withdraws it or it expires;
// signing out (at an agency, or everywhere from Akun Saya) ends sessions only.
import { sql } from 'kysely'
import * as oidc from 'openid-client'
import t from 'tap'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, codeFlowTokens, csrfFrom, formAction, registerClient, startIdp } from '../helpers/idp.ts'

const redirectUri = 'http://127.0.0.1:9/cb'
const insecure = { execute: [oidc.allowInsecureRequests] }
const credentials = { username: budi.nik, password: budi.password }

async function grantsOf(db: TestDatabase, accountId: string): Promise<number> {
  const r = await sql<{
    n: number | string
  }>`select count(*) as n from oidc_payloads where model = 'Grant' and account_id = ${accountId}
    and payload->>'clientId' <> 'satupintu-akun'`.execute(db.db)
  return Number(r.rows[0]?.n ?? 0)
}

async function logoutAtAgency(
  browser: Browser,
  issuer: string,
  config: oidc.Configuration,
  idToken: string,
): Promise<void> {
  const url = oidc.buildEndSessionUrl(config, { id_token_hint: idToken })
  const html = await (await browser.request(url.href)).text()
  const xsrf = /name="xsrf" value="([0-9a-f]+)"/.exec(html)?.[1] ?? ''
  const done = await browser.request(`${issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } })
  if (done.status !== 303) throw new Error(`logout answered ${done.status}`)
}

/** Signs in again through the agency's authorization request; the pages seen on the way. */
async function signInAgain(
  browser: Browser,
  issuer: string,
  config: oidc.Configuration,
): Promise<{ landed: string; pages: string[] }> {
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  })
  const pages: string[] = []
  const first = await browser.follow(url.href, issuer)
  const login = await first.res.text()
  pages.push(login)
  const posted = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
    form: { _csrf: csrfFrom(login), ...credentials },
  })
  const step = await browser.follow(new URL(posted.headers.get('location') ?? '', issuer).toString(), issuer)
  if (step.url.startsWith(issuer)) pages.push(await step.res.text())
  return { landed: step.url, pages }
}

t.test(
  'SECURITY 36: signing out through an agency keeps the consent: the next sign-in does not ask again, and Akun Saya still lists it',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const citizen = await addCitizen(db.db)
      const client = await registerClient(db, { redirectUris: [redirectUri], name: 'Dinas Perizinan' })
      const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
      const browser = new Browser()
      const tokens = await codeFlowTokens(issuer, { clientId: client.clientId, secret: client.secret }, browser, {
        redirectUri,
        credentials,
        scope: 'openid profile',
      })
      t.equal(await grantsOf(db, citizen.id), 1, 'the consent is stored')

      await logoutAtAgency(browser, issuer, config, tokens.id_token as string)
      t.equal(await grantsOf(db, citizen.id), 1, 'signing out did not delete the consent')
      const userinfo = await fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
      t.equal(userinfo.status, 401, "the session's access token ended with the session")

      const again = await signInAgain(browser, issuer, config)
      t.ok(again.landed.startsWith(`${redirectUri}?`), `back at the agency (${again.landed.slice(0, 60)})`)
      t.ok(new URL(again.landed).searchParams.get('code'), 'with a code')
      t.notOk(
        again.pages.some((p) => p.includes('/consent"')),
        'no consent page on the way',
      )
      t.equal(await grantsOf(db, citizen.id), 1, 'the same consent, not a second one')

      const listed = await browser.request(`${issuer}/akun/instansi`)
      const html = await listed.text()
      t.equal(listed.status, 200)
      t.match(html, /Dinas Perizinan/, '"Instansi yang Anda beri izin" still lists the agency')
    })
  },
)

t.test('SECURITY 36: signing out every device from Akun Saya keeps the consents', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db)
    const client = await registerClient(db, { redirectUris: [redirectUri] })
    const browser = new Browser()
    await codeFlowTokens(issuer, { clientId: client.clientId, secret: client.secret }, browser, {
      redirectUri,
      credentials,
      scope: 'openid profile',
    })
    const devices = await (await browser.follow(`${issuer}/akun/perangkat`, issuer)).res.text()
    const res = await browser.request(`${issuer}/akun/perangkat/keluar-semua`, { form: { _csrf: csrfFrom(devices) } })
    t.equal(res.status, 303)
    t.equal(await grantsOf(db, citizen.id), 1)
  })
})

t.test('SECURITY 36: withdrawing a consent in Akun Saya is what removes it: the next sign-in asks again', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db)
    // An agency's client: the regency's own (first-party) clients are not asked at all.
    const client = await registerClient(db, { redirectUris: [redirectUri], firstParty: false })
    const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
    const browser = new Browser()
    await codeFlowTokens(issuer, { clientId: client.clientId, secret: client.secret }, browser, {
      redirectUri,
      credentials,
      scope: 'openid profile',
    })
    const page = await (await browser.follow(`${issuer}/akun/instansi`, issuer)).res.text()
    const res = await browser.request(`${issuer}/akun/instansi/cabut`, {
      form: { _csrf: csrfFrom(page), instansi: client.clientId },
    })
    t.equal(res.status, 303)
    t.equal(await grantsOf(db, citizen.id), 0)
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    })
    const step = await browser.follow(url.href, issuer)
    t.match(await step.res.text(), /\/consent"/, 'the consent page')
  })
})

t.test(
  "signing out on one device ends that session's tokens only: another device of the citizen keeps its tokens",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      await addCitizen(db.db)
      const client = await registerClient(db, { redirectUris: [redirectUri] })
      const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
      const phone = new Browser()
      const laptop = new Browser()
      const scope = 'openid profile'
      const onPhone = await codeFlowTokens(issuer, { clientId: client.clientId, secret: client.secret }, phone, {
        redirectUri,
        credentials,
        scope,
      })
      const onLaptop = await codeFlowTokens(issuer, { clientId: client.clientId, secret: client.secret }, laptop, {
        redirectUri,
        credentials,
        scope,
      })

      await logoutAtAgency(phone, issuer, config, onPhone.id_token as string)
      const me = (token: string) => fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${token}` } })
      t.equal((await me(onPhone.access_token)).status, 401, "the phone's access token ended with its session")
      t.equal((await me(onLaptop.access_token)).status, 200, "the laptop's access token still works")
      await logoutAtAgency(laptop, issuer, config, onLaptop.id_token as string)
      t.equal((await me(onLaptop.access_token)).status, 401, 'until the laptop signs out too')
    })
  },
)
