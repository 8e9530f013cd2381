// SECURITY.md line 35 (issue 10 §4): CSRF tokens are bound to the session; forms from
// another site are refused by Sec-Fetch-Site / Origin; the secret's cookie is __Host- over https.
import t, { type Test } from 'tap'
import { findCitizenById } from '../../src/accounts/citizens.ts'
import { buildIdp } from '../../src/idp/app.ts'
import { addCitizen, budi, siti } from '../helpers/citizens.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { eachDatabase, freshDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, registerClient, signInAt, startIdp, testKek } from '../helpers/idp.ts'

/** The CSRF secret cookie of a browser and a token for it, as an attacker gets them for themself. */
function csrfPair(browser: Browser, html: string): { secret: string; token: string } {
  const secret = browser.cookies.get('sp_csrf')?.value
  if (!secret) throw new Error('no CSRF secret cookie')
  return { secret, token: csrfFrom(html) }
}

/** Plants `secret` as the victim's CSRF cookie, as a page on a same-site host can (cookie tossing). */
function plant(victim: Browser, secret: string): void {
  victim.cookies.set('sp_csrf', { value: secret, path: '/' })
}

t.test(
  "SECURITY 35: a CSRF secret and token pair made in another browser is refused on a signed-in citizen's form",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const victimAccount = await addCitizen(db.db, budi)
      await addCitizen(db.db, siti)
      const victim = new Browser()
      t.equal((await signInAt(victim, `${issuer}/akun/kontak`, issuer, budi)).res.status, 200)

      // The attacker's pairs: anonymous (any page of the idp) and from their own signed-in session.
      const anonymous = new Browser()
      const anonPair = csrfPair(anonymous, await (await anonymous.request(`${issuer}/daftar`)).text())
      const attacker = new Browser()
      const own = await signInAt(attacker, `${issuer}/akun/kontak`, issuer, siti)
      const ownPair = csrfPair(attacker, own.html)

      for (const [what, pair] of [
        ['anonymous', anonPair],
        ["the attacker's own session", ownPair],
      ] as const) {
        plant(victim, pair.secret)
        const res = await victim.request(`${issuer}/akun/kontak`, {
          form: { _csrf: pair.token, email: 'penyerang@contoh.id', phone: '' },
        })
        t.equal(res.status, 403, `a pair from ${what} is refused`)
        const after = await findCitizenById(db.db, victimAccount.id)
        t.equal(after?.email, budi.email, 'the e-mail address is unchanged')
      }

      // The victim's own page still works after the planted cookie: a fresh token for the
      // (planted) secret is bound to the victim's session, as the form shows it.
      const page = await (await victim.request(`${issuer}/akun/kontak`)).text()
      const ok = await victim.request(`${issuer}/akun/kontak`, {
        form: { _csrf: csrfFrom(page), email: budi.email, phone: budi.phone },
      })
      t.equal(ok.status, 303, "a token made for the victim's own session is accepted")
    })
  },
)

t.test(
  "SECURITY 35: a sign-in form's token is bound to its interaction: another interaction's token is refused",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      await addCitizen(db.db)
      await registerClient(db, { clientId: 'rp-csrf', redirectUris: ['http://127.0.0.1:9/cb'] })
      const auth = `${issuer}/auth?${new URLSearchParams({
        client_id: 'rp-csrf',
        response_type: 'code',
        scope: 'openid',
        redirect_uri: 'http://127.0.0.1:9/cb',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      }).toString()}`
      const attacker = new Browser()
      const attackerPage = await (await attacker.follow(auth, issuer)).res.text()
      const pair = csrfPair(attacker, attackerPage)
      const victim = new Browser()
      const victimPage = await (await victim.follow(auth, issuer)).res.text()
      plant(victim, pair.secret)
      const res = await victim.request(new URL(formAction(victimPage, '/login'), issuer).toString(), {
        form: { _csrf: pair.token, username: budi.nik, password: budi.password },
      })
      t.equal(res.status, 403)
      t.notOk(victim.cookies.has('sp_session'), 'nobody was signed in')
    })
  },
)

t.test(
  'SECURITY 35: a form posted from another site is refused by Sec-Fetch-Site or Origin, even with a valid token',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const account = await addCitizen(db.db)
      const browser = new Browser()
      const signed = await signInAt(browser, `${issuer}/akun/kontak`, issuer, budi)
      const token = csrfFrom(signed.html)
      const form = { _csrf: token, email: 'baru@contoh.id', phone: budi.phone }
      const refused: Record<string, string>[] = [
        { 'sec-fetch-site': 'cross-site' },
        { 'sec-fetch-site': 'same-site' },
        { origin: 'http://dinas-contoh.localhost:8080' },
        { 'sec-fetch-site': 'cross-site', origin: 'null' },
        { 'sec-fetch-site': 'same-site', origin: issuer },
      ]
      for (const headers of refused) {
        const res = await browser.request(`${issuer}/akun/kontak`, { form, headers })
        t.equal(res.status, 403, `refused: ${JSON.stringify(headers)}`)
      }
      t.equal((await findCitizenById(db.db, account.id))?.email, budi.email, 'nothing changed')
      const ok = await browser.request(`${issuer}/akun/kontak`, {
        form,
        headers: { 'sec-fetch-site': 'same-origin', origin: 'null' },
      })
      t.equal(ok.status, 303, 'same-origin is accepted (with the Origin: null of our no-referrer pages)')
      t.equal((await findCitizenById(db.db, account.id))?.email, 'baru@contoh.id')
    })
  },
)

t.test(
  'SECURITY 35: a form from an old browser that sends neither Sec-Fetch-Site nor Origin still works with its token',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      await addCitizen(db.db)
      const browser = new Browser()
      const signed = await signInAt(browser, `${issuer}/akun/kontak`, issuer, budi)
      const res = await browser.request(`${issuer}/akun/kontak`, {
        form: { _csrf: csrfFrom(signed.html), email: budi.email, phone: budi.phone },
      })
      t.equal(res.status, 303)
    })
  },
)

async function httpsIdp(t: Test) {
  const db = await freshDatabase(t, 'pglite')
  const config = testConfig({
    idp: { issuer: 'https://id.sukamaju.go.id', port: 3000 },
    gateway: { publicUrl: 'https://layanan.sukamaju.go.id', port: 1 },
  })
  const app = await buildIdp({ config, database: db, logger: silentLogger(), keyEncryption: testKek })
  t.teardown(() => app.close())
  return app
}

t.test('SECURITY 35: over https the CSRF secret is a __Host- cookie: Secure, Path=/, no Domain', async (t) => {
  const app = await httpsIdp(t)
  const res = await app.inject({ url: '/daftar', headers: { host: 'id.sukamaju.go.id' } })
  t.equal(res.statusCode, 200)
  const cookies = [res.headers['set-cookie']].flat().map(String)
  const csrf = cookies.find((c) => c.startsWith('__Host-sp_csrf='))
  t.ok(csrf, `the secret's cookie (${cookies.map((c) => c.split('=')[0]).join(', ')})`)
  t.match(csrf, /; Secure/i)
  t.match(csrf, /; Path=\/(;|$)/)
  t.notMatch(csrf, /; Domain=/i)
  t.notOk(
    cookies.some((c) => c.startsWith('sp_csrf=')),
    'no unprefixed secret cookie',
  )
})
