// Issue 10 §5: the language switch on a page reached by POST lands on the same page in the
// other language, never on a 404.
import t from 'tap'
import { markPhoneVerified } from '../../src/accounts/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { Browser, csrfFrom, formAction, registerClient, signInAt, startIdp } from '../helpers/idp.ts'

const redirectUri = 'http://127.0.0.1:9/cb'

/** The English link of the layout's language switch, resolved against the page's URL. */
function englishLink(html: string, pageUrl: string): string {
  const m = /<a href="([^"]*)" hreflang="en"/.exec(html)
  if (!m?.[1]) throw new Error('no language switch on the page')
  return new URL(m[1].replace(/&amp;/g, '&'), pageUrl).toString()
}

async function authorizeUrl(issuer: string): Promise<string> {
  const url = new URL('/auth', issuer)
  url.search = new URLSearchParams({
    client_id: 'rp-bahasa',
    response_type: 'code',
    scope: 'openid',
    redirect_uri: redirectUri,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    state: 's1',
  }).toString()
  return url.toString()
}

t.test('the language switch after a failed sign-in shows the same sign-in page in English', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    await addCitizen(db.db)
    await registerClient(db, { clientId: 'rp-bahasa', redirectUris: [redirectUri] })
    const browser = new Browser()
    const step = await browser.follow(await authorizeUrl(issuer), issuer)
    const login = await step.res.text()
    const action = new URL(formAction(login, '/login'), issuer).toString()
    const failed = await browser.request(action, {
      form: { _csrf: csrfFrom(login), username: budi.nik, password: 'salah sekali kata sandinya' },
    })
    t.equal(failed.status, 401)
    const html = await failed.text()
    const link = englishLink(html, action)
    t.notOk(new URL(link).pathname.endsWith('/login'), `the link leaves the POST-only URL (${link})`)
    const english = await browser.request(link)
    t.equal(english.status, 200)
    const page = await english.text()
    t.match(page, /<html lang="en"/)
    t.match(page, /Sign in/)
    t.ok(page.includes(`action="${new URL(action).pathname}"`), 'the same sign-in form, still for this interaction')
  })
})

t.test(
  'the language switch on a registration form shown again with its errors stays on the registration page',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const browser = new Browser()
      const form = await (await browser.request(`${issuer}/daftar?kembali=%2Fakun`)).text()
      const action = new URL(formAction(form, '/daftar'), issuer).toString()
      const res = await browser.request(action, { form: { _csrf: csrfFrom(form), nik: '123' } })
      t.equal(res.status, 400)
      const link = englishLink(await res.text(), action)
      const english = await browser.request(link)
      t.equal(english.status, 200)
      t.match(await english.text(), /Create a Satu Pintu account/)
    })
  },
)

t.test('the language switch on error pages of POST-only account routes leads to the page of their form', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    // The phone verified (so the account may sign in), the e-mail not yet (its code page is one of the forms).
    const citizen = await addCitizen(db.db, budi, { verified: false })
    await markPhoneVerified(db.db, citizen.id, budi.phone)
    const browser = new Browser()
    const signed = await signInAt(browser, `${issuer}/akun/instansi`, issuer, budi)
    t.equal(signed.res.status, 200)
    const cases: Array<[string, RegExp]> = [
      ['/akun/instansi/cabut', /Agencies you have allowed/],
      ['/akun/perangkat/keluar-semua', /Devices signed in/],
      ['/akun/verifikasi/kirim?jenis=email', /Enter the verification code/],
    ]
    for (const [path, title] of cases) {
      // No CSRF token: the error page (403) of a route that has no GET of its own.
      const res = await browser.request(`${issuer}${path}`, { form: { instansi: 'rp-x', perangkat: 'x' } })
      t.equal(res.status, 403, `${path}: refused`)
      const link = englishLink(await res.text(), `${issuer}${path}`)
      const english = await browser.request(link)
      t.equal(english.status, 200, `${path}: the switch (${link}) leads to a page`)
      t.match(await english.text(), title, `${path}: the page of that form`)
    }
  })
})
