// Changing the factors themselves (issue 14, attacker's review): with a second factor on the
// account, only a sign-in that used one may add or remove factors; removing one ends what it
// signed in elsewhere; a passkey-only account asked for two factors is offered its passkey.
import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import * as oidc from 'openid-client'
import t from 'tap'
import { markEmailVerified } from '../../src/accounts/citizens.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, registerClient, signInAt, startIdp } from '../helpers/idp.ts'
import { codeAt, enrolTotp } from '../helpers/totp.ts'

const redirectUri = 'http://127.0.0.1:9/cb'
const insecure = { execute: [oidc.allowInsecureRequests] }

async function storedPasskey(db: TestDatabase, citizenId: string) {
  return db.db
    .insertInto('passkeys')
    .values({
      citizen_id: citizenId,
      credential_id: randomBytes(16).toString('base64url'),
      user_handle: randomBytes(32).toString('base64url'),
      public_key: randomBytes(77),
      counter: 0,
      transports: ['internal'],
      device_type: 'singleDevice',
      backed_up: false,
      aaguid: '00000000-0000-0000-0000-000000000000',
      name: 'Ponsel',
    })
    .returning(['id'])
    .executeTakeFirstOrThrow()
}

/** As if the browser's sign-in had used a second factor (the ceremony itself is tested elsewhere). */
async function setSessionAcr(db: TestDatabase, accountId: string, acr: string) {
  await sql`update oidc_payloads set payload = jsonb_set(payload, '{acr}', to_jsonb(${acr}::text))
    where model = 'Session' and account_id = ${accountId}`.execute(db.db)
}

async function count(db: TestDatabase, model: string, accountId: string): Promise<number> {
  const rows = await db.db
    .selectFrom('oidc_payloads')
    .select('id')
    .where('model', '=', model)
    .where('account_id', '=', accountId)
    .execute()
  return rows.length
}

t.test(
  'SECURITY 35: with a passkey or an app on the account, a password-only sign-in cannot add or remove factors: it is sent to sign in with one',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db, {}, { host: 'localhost' })
      const citizen = await addCitizen(db.db)
      await markEmailVerified(db.db, citizen.id, budi.email)
      const browser = new Browser()
      // No factor yet: the first one is added after the password alone.
      const first = await signInAt(browser, `${issuer}/akun/keamanan/aplikasi`, issuer, budi)
      t.equal(first.res.status, 200, 'the first factor needs only a fresh sign-in')

      const token = csrfFrom(first.html)
      const passkey = await storedPasskey(db, citizen.id)
      for (const [path, form] of [
        ['/akun/keamanan/passkey', undefined],
        ['/akun/keamanan/aplikasi', undefined],
        [`/akun/keamanan/passkey/${passkey.id}`, undefined],
        ['/akun/keamanan/passkey/opsi', { _csrf: token }],
        [`/akun/keamanan/passkey/${passkey.id}/hapus`, { _csrf: token }],
      ] as const) {
        const res = await browser.request(`${issuer}${path}`, form ? { form } : {})
        t.equal(res.status, 303, `${path}: not with the password alone`)
        const to = new URL(res.headers.get('location') ?? '', issuer)
        t.equal(to.pathname, '/auth', `${path}: through sign-in`)
        t.equal(to.searchParams.get('acr_values'), 'urn:satupintu:acr:mfa', `${path}: with a second factor`)
        t.equal(to.searchParams.get('prompt'), 'login')
      }
      t.equal(
        (await db.db.selectFrom('passkeys').select('id').where('citizen_id', '=', citizen.id).execute()).length,
        1,
        'the owner’s passkey is still there',
      )

      await setSessionAcr(db, citizen.id, 'urn:satupintu:acr:mfa')
      t.equal(
        (await browser.request(`${issuer}/akun/keamanan/passkey`)).status,
        200,
        'signed in with a factor: allowed',
      )
    })
  },
)

t.test('removing a factor signs out every other device and withdraws the tokens issued until now', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db, {}, { host: 'localhost' })
    const citizen = await addCitizen(db.db)
    await markEmailVerified(db.db, citizen.id, budi.email)
    const here = new Browser()
    const elsewhere = new Browser()
    await signInAt(elsewhere, `${issuer}/akun`, issuer, budi)
    await signInAt(here, `${issuer}/akun`, issuer, budi)
    t.equal(await count(db, 'Session', citizen.id), 2, 'signed in on two devices')
    // Then the factors were added (as if with a sign-in that used one).
    const passkey = await storedPasskey(db, citizen.id)
    await enrolTotp(db, citizen.id)
    await setSessionAcr(db, citizen.id, 'urn:satupintu:acr:mfa')
    const page = await here.request(`${issuer}/akun/keamanan/passkey/${passkey.id}/hapus`)
    const removed = await here.request(`${issuer}/akun/keamanan/passkey/${passkey.id}/hapus`, {
      form: { _csrf: csrfFrom(await page.text()) },
    })
    t.equal(removed.status, 303)
    t.equal(await count(db, 'Session', citizen.id), 1, 'only this browser is still signed in')
    const other = await elsewhere.request(`${issuer}/akun`)
    t.equal(other.status, 303, 'the other device is signed out')
  })
})

t.test(
  'a passkey-only account asked for two factors is offered its passkey after the password, with no code field',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const citizen = await addCitizen(db.db)
      await storedPasskey(db, citizen.id)
      const client = await registerClient(db, { redirectUris: [redirectUri] })
      const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
      const ask = async (acr?: string) => {
        const browser = new Browser()
        const url = oidc.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: 'openid',
          code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
          code_challenge_method: 'S256',
          ...(acr ? { acr_values: acr } : {}),
        })
        const first = await browser.follow(url.href, issuer)
        const login = await first.res.text()
        const res = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
          form: { _csrf: csrfFrom(login), username: budi.nik, password: budi.password },
        })
        return { browser, res }
      }
      const up = await ask('urn:satupintu:acr:mfa')
      t.equal(up.res.status, 303)
      const step = await up.browser.follow(new URL(up.res.headers.get('location') ?? '', issuer).toString(), issuer)
      const html = await step.res.text()
      t.match(html, /data-passkey="authenticate"/, 'the passkey is offered')
      t.notMatch(html, /name="code"/, 'no code field: the account has no app')
      t.match(html, /Passkey memerlukan JavaScript/, 'and it says what to do without script')
      t.equal(await count(db, 'Session', citizen.id), 0, 'not signed in after the password alone')

      const plain = await ask()
      t.equal(plain.res.status, 303)
      t.notMatch(plain.res.headers.get('location') ?? '', /\/interaction\//, 'asked for nothing: the password alone')
    })
  },
)

t.test(
  'a service that asks for a phishing-resistant sign-in is told, after a right code, that a code is not enough, and gets unmet_authentication_requirements',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const citizen = await addCitizen(db.db)
      const secret = await enrolTotp(db, citizen.id)
      const client = await registerClient(db, { redirectUris: [redirectUri] })
      const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
      const browser = new Browser()
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        acr_values: 'urn:satupintu:acr:phr',
      })
      const first = await browser.follow(url.href, issuer)
      const login = await first.res.text()
      const pw = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
        form: { _csrf: csrfFrom(login), username: budi.nik, password: budi.password },
      })
      const step = await browser.follow(new URL(pw.headers.get('location') ?? '', issuer).toString(), issuer)
      const html = await step.res.text()
      const coded = await browser.request(new URL(formAction(html, '/kode'), issuer).toString(), {
        form: { _csrf: csrfFrom(html), code: codeAt(secret, Date.now()) },
      })
      t.equal(coded.status, 403)
      const page = await coded.text()
      t.match(page, /passkey di perangkat ini/)
      t.equal(await count(db, 'Session', citizen.id), 0, 'no session at the lower level')
      const back = /<a href="([^"]+)">Kembali ke /.exec(page)?.[1]?.replaceAll('&amp;', '&') ?? '/'
      const answer = await browser.follow(new URL(back, issuer).toString(), issuer)
      t.equal(new URL(answer.url).searchParams.get('error'), 'unmet_authentication_requirements')
    })
  },
)
