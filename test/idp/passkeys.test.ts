// Passkeys over plain HTTP (issue 14): the pages and routes around the WebAuthn ceremonies,
// which test/idp/passkeys-browser.test.ts drives with real authenticators in Chromium.
// Here: fresh sign-in for every change, notices, another account's passkey, what the
// options reveal and to whom, the CSP of the pages with and without script, and refusals
// that stay ordinary pages.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { isoCBOR } from '@simplewebauthn/server/helpers'
import * as oidc from 'openid-client'
import { sql } from 'kysely'
import { Secret, TOTP } from 'otpauth'
import t from 'tap'
import { markEmailVerified } from '../../src/accounts/citizens.ts'
import { authenticationOptions, passkeyFailurePolicy, verifyPasskey } from '../../src/accounts/passkeys.ts'
import { confirmTotpEnrolment, pendingTotpEnrolment } from '../../src/accounts/second-factors.ts'
import { addCitizen, budi, siti } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, registerClient, signInAt, startIdp, testKek } from '../helpers/idp.ts'

const redirectUri = 'http://127.0.0.1:9/cb'
const insecure = { execute: [oidc.allowInsecureRequests] }
const keys = { sealer: testKek, recoveryKey: testKek.derive('recovery codes') }

/** A stored passkey (its key is never used here: these tests stop before any signature). */
async function storedPasskey(db: TestDatabase, citizenId: string, name: string, synced = false) {
  const row = await db.db
    .insertInto('passkeys')
    .values({
      citizen_id: citizenId,
      credential_id: randomBytes(16).toString('base64url'),
      user_handle: randomBytes(32).toString('base64url'),
      public_key: randomBytes(77),
      counter: 0,
      transports: ['internal'],
      device_type: synced ? 'multiDevice' : 'singleDevice',
      backed_up: synced,
      aaguid: '00000000-0000-0000-0000-000000000000',
      name,
    })
    .returning(['id', 'credential_id'])
    .executeTakeFirstOrThrow()
  return row
}

async function setSignInAge(db: TestDatabase, accountId: string, seconds: number) {
  await sql`update oidc_payloads set payload = jsonb_set(payload, '{loginTs}', to_jsonb(extract(epoch from now())::bigint - ${seconds}::bigint))
    where model = 'Session' and account_id = ${accountId}`.execute(db.db)
}

async function enrolTotp(db: TestDatabase, citizenId: string) {
  const enrolment = await pendingTotpEnrolment(db.db, keys, citizenId, 'x')
  if (!enrolment) throw new Error('no enrolment')
  const past = new Date(Date.now() - 120_000)
  const code = new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(enrolment.secret) })
  await confirmTotpEnrolment(db.db, keys, citizenId, code.generate({ timestamp: past.getTime() }), { now: past })
}

t.test(
  'SECURITY 35: adding, renaming and removing a passkey need a fresh sign-in, each is told to the citizen, and another account’s passkey is out of reach',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db, {}, { host: 'localhost' })
      const citizen = await addCitizen(db.db)
      await markEmailVerified(db.db, citizen.id, budi.email)
      const other = await addCitizen(db.db, siti)
      const mine = await storedPasskey(db, citizen.id, 'Ponsel <lama>')
      await storedPasskey(db, citizen.id, 'Laptop kantor', true)
      const theirs = await storedPasskey(db, other.id, 'Milik Siti')
      const browser = new Browser()
      const page = await signInAt(browser, `${issuer}/akun/keamanan`, issuer, budi)
      // The account has passkeys: changing them needs a sign-in with a factor (test/idp/
      // factor-changes.test.ts); here, as if this one had used a passkey.
      await sql`update oidc_payloads set payload = jsonb_set(payload, '{acr}', '"urn:satupintu:acr:mfa"')
        where model = 'Session' and account_id = ${citizen.id}`.execute(db.db)
      t.equal(page.res.status, 200)
      t.match(page.html, /Ponsel &lt;lama&gt;/, 'the name is shown, escaped')
      t.match(page.html, /Hanya di satu perangkat/)
      t.match(page.html, /Disinkronkan/)
      t.match(page.html, /Belum pernah dipakai untuk masuk/)
      t.notMatch(page.html, /Milik Siti/)
      t.notMatch(page.html, /<script/, 'Keamanan itself runs no script')
      t.notMatch(page.res.headers.get('content-security-policy') ?? '', /script-src/)

      const edit = await browser.request(`${issuer}/akun/keamanan/passkey/${mine.id}`)
      t.equal(edit.status, 200)
      const token = csrfFrom(await edit.text())
      t.equal(
        (await browser.request(`${issuer}/akun/keamanan/passkey/${theirs.id}`)).headers.get('location'),
        '/akun/keamanan',
        "another account's passkey has no page here",
      )
      const notMine = await browser.request(`${issuer}/akun/keamanan/passkey/${theirs.id}/hapus`, {
        form: { _csrf: token },
      })
      t.equal(notMine.status, 303)
      t.equal(notMine.headers.get('location'), '/akun/keamanan')
      const renamedTheirs = await browser.request(`${issuer}/akun/keamanan/passkey/${theirs.id}/nama`, {
        form: { _csrf: token, name: 'Diambil' },
      })
      t.equal(renamedTheirs.status, 303)
      t.match(
        await db.db.selectFrom('passkeys').select('name').where('id', '=', theirs.id).executeTakeFirst(),
        { name: 'Milik Siti' },
        "another account's passkey is neither removed nor renamed",
      )

      await setSignInAge(db, citizen.id, 3600)
      for (const [path, form] of [
        [`/akun/keamanan/passkey/${mine.id}/hapus`, { _csrf: token }],
        [`/akun/keamanan/passkey/${mine.id}/nama`, { _csrf: token, name: 'Baru' }],
        ['/akun/keamanan/passkey/opsi', { _csrf: token }],
        ['/akun/keamanan/passkey', { _csrf: token, name: 'X', response: '{}' }],
      ] as const) {
        const stale = await browser.request(`${issuer}${path}`, { form })
        t.equal(stale.status, 303, `${path}: a stale sign-in is sent to sign in again`)
        const location = new URL(stale.headers.get('location') ?? '', issuer)
        t.equal(location.pathname, '/auth')
        t.equal(location.searchParams.get('prompt'), 'login')
      }
      for (const path of [`/akun/keamanan/passkey/${mine.id}`, `/akun/keamanan/passkey/${mine.id}/hapus`]) {
        const location = (await browser.request(`${issuer}${path}`)).headers.get('location') ?? ''
        t.match(location, /prompt=login/, `${path}: the pages too`)
      }
      t.equal(
        (await db.db.selectFrom('passkeys').select('id').where('citizen_id', '=', citizen.id).execute()).length,
        2,
        'nothing was removed',
      )
      t.equal(
        (await db.db.selectFrom('webauthn_challenges').select('challenge').execute()).length,
        0,
        'no challenge was made for a stale sign-in',
      )

      await setSignInAge(db, citizen.id, 0)
      const empty = await browser.request(`${issuer}/akun/keamanan/passkey/${mine.id}/nama`, {
        form: { _csrf: token, name: ' \u200b ' },
      })
      t.equal(empty.status, 400, 'an empty name is refused with the form again')
      t.match(await empty.text(), /Isi nama passkey/)
      const renamed = await browser.request(`${issuer}/akun/keamanan/passkey/${mine.id}/nama`, {
        form: { _csrf: token, name: '  Ponsel   baru  ' },
      })
      t.equal(renamed.headers.get('location'), '/akun/keamanan?pesan=passkey-diganti')
      t.match(await db.db.selectFrom('passkeys').select('name').where('id', '=', mine.id).executeTakeFirst(), {
        name: 'Ponsel baru',
      })
      const removed = await browser.request(`${issuer}/akun/keamanan/passkey/${mine.id}/hapus`, {
        form: { _csrf: token },
      })
      t.equal(removed.headers.get('location'), '/akun/keamanan?pesan=passkey-dihapus')
      t.equal(await db.db.selectFrom('passkeys').select('id').where('id', '=', mine.id).executeTakeFirst(), undefined)
      const told = await db.db
        .selectFrom('outbox')
        .select('kind')
        .where('citizen_id', '=', citizen.id)
        .where('kind', 'in', ['passkey_renamed', 'second_factor_removed'])
        .orderBy('created_at')
        .execute()
      t.same(
        told.map((n) => n.kind),
        ['passkey_renamed', 'second_factor_removed'],
        'the citizen is told of both changes',
      )
      const renamedNotice = await db.db
        .selectFrom('outbox')
        .select('body')
        .where('citizen_id', '=', citizen.id)
        .where('kind', '=', 'passkey_renamed')
        .execute()
      t.notMatch(
        JSON.stringify(renamedNotice),
        /Ponsel baru/,
        "the notice does not carry the typed name: a stranger's words never reach the owner in the regency's name",
      )
      const activity = await (await browser.request(`${issuer}/akun/aktivitas`)).text()
      t.match(activity, /Passkey dihapus/)
      t.match(activity, /Nama passkey diganti/)
      const after = await (await browser.request(`${issuer}/akun/keamanan?pesan=passkey-dihapus`)).text()
      t.match(after, /Passkey dihapus\./)
      t.notMatch(after, /Ponsel baru/)
    })
  },
)

t.test(
  'the passwordless options name no account and no credential; the second-step options, only after the password, list that account’s own; rpId is the issuer’s host',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db, {}, { host: 'localhost' })
      const citizen = await addCitizen(db.db)
      await markEmailVerified(db.db, citizen.id, budi.email)
      const other = await addCitizen(db.db, siti)
      await markEmailVerified(db.db, other.id, siti.email)
      const mine = await storedPasskey(db, citizen.id, 'Ponsel')
      await storedPasskey(db, other.id, 'Milik Siti')
      await enrolTotp(db, citizen.id)
      const client = await registerClient(db, { redirectUris: [redirectUri] })
      const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        // Even when the client names the account, nothing about it is in the options.
        login_hint: budi.nik,
      })
      const browser = new Browser()
      const first = await browser.follow(url.href, issuer)
      const login = await first.res.text()
      const csp = first.res.headers.get('content-security-policy') ?? ''
      t.match(csp, /script-src 'self'; connect-src 'self'/, 'the sign-in page may run our own script')
      t.notMatch(csp, /unsafe-inline|unsafe-eval/)
      t.match(login, /<script src="\/assets\/simplewebauthn-browser\.js" defer><\/script>/)
      t.match(
        login,
        /<form[^>]+data-passkey="authenticate"[^>]+hidden>/,
        'the passkey form is hidden until script shows it',
      )
      const optionsUrl = new URL(/data-passkey-options="([^"]+)"/.exec(login)?.[1] ?? '', issuer).toString()
      const uid = /\/interaction\/([^/]+)\/passkey\/opsi/.exec(optionsUrl)?.[1] ?? ''

      t.equal(
        (await browser.request(optionsUrl, { form: { x: '1' } })).status,
        403,
        'no options without the CSRF token',
      )
      const res = await browser.request(optionsUrl, {
        form: { _csrf: csrfFrom(login) },
        headers: { accept: 'application/json' },
      })
      t.equal(res.status, 200)
      t.equal(res.headers.get('cache-control'), 'no-store')
      const options = (await res.json()) as Record<string, unknown>
      t.equal(options.rpId, 'localhost', "the RP ID is the issuer's host")
      t.equal(options.userVerification, 'required')
      t.same(options.allowCredentials, [], 'no credential of any account is listed')
      t.notMatch(JSON.stringify(options), new RegExp(mine.credential_id))
      const stored = await db.db.selectFrom('webauthn_challenges').selectAll().execute()
      t.match(stored, [
        { challenge: options.challenge, purpose: 'sign_in', binding: `interaction:${uid}`, citizen_id: null },
      ])
      const expiresIn = (new Date(stored[0]?.expires_at ?? 0).getTime() - Date.now()) / 1000
      t.ok(expiresIn > 60 && expiresIn <= 300, `a short-lived challenge (${Math.round(expiresIn)} s)`)

      // Asking again replaces the challenge: one live row per interaction, the old one dead.
      const again = (await (await browser.request(optionsUrl, { form: { _csrf: csrfFrom(login) } })).json()) as {
        challenge: string
      }
      t.not(again.challenge, options.challenge)
      t.match(
        (await db.db.selectFrom('webauthn_challenges').select('challenge').execute()).map((r) => r.challenge),
        [again.challenge],
        'one live challenge per interaction',
      )

      // Rubbish and answers to nothing at the passkey step: the sign-in page again, 401.
      const passkeyUrl = new URL(formAction(login, '/passkey'), issuer).toString()
      for (const response of [
        'not json',
        '{}',
        JSON.stringify({ id: 'x', rawId: 'x', type: 'public-key', response: { clientDataJSON: 'e30' } }),
        JSON.stringify({
          id: mine.credential_id,
          rawId: mine.credential_id,
          type: 'public-key',
          response: {
            clientDataJSON: Buffer.from(
              JSON.stringify({ type: 'webauthn.get', challenge: again.challenge, origin: issuer }),
            ).toString('base64url'),
            authenticatorData: 'AAAA',
            signature: 'AAAA',
            userHandle: 'AAAA',
          },
          clientExtensionResults: {},
        }),
      ]) {
        const refused = await browser.request(passkeyUrl, { form: { _csrf: csrfFrom(login), response } })
        t.equal(refused.status, 401, `refused: ${response.slice(0, 40)}`)
        t.match(await refused.text(), /Passkey ini tidak dapat dipakai untuk masuk/)
      }
      t.equal(
        (await db.db.selectFrom('webauthn_challenges').select('challenge').execute()).length,
        0,
        'the challenge was spent by the refused answer',
      )
      t.equal(
        (await db.db.selectFrom('oidc_payloads').select('id').where('model', '=', 'Session').execute()).length,
        0,
        'no session',
      )

      // After Budi's password: his own passkey only, bound to him.
      const pw = await browser.request(new URL(formAction(login, '/login'), issuer).toString(), {
        form: { _csrf: csrfFrom(login), username: budi.nik, password: budi.password },
      })
      const codeStep = await browser.follow(new URL(pw.headers.get('location') ?? '', issuer).toString(), issuer)
      const codeHtml = await codeStep.res.text()
      t.match(codeHtml, /Verifikasi dua langkah/)
      t.match(codeHtml, /data-passkey="authenticate"/, 'the code step offers his passkey')
      const second = (await (await browser.request(optionsUrl, { form: { _csrf: csrfFrom(codeHtml) } })).json()) as {
        allowCredentials: { id: string }[]
      }
      t.same(
        second.allowCredentials.map((c) => c.id),
        [mine.credential_id],
        "only the account's own passkey",
      )
      t.match(await db.db.selectFrom('webauthn_challenges').selectAll().execute(), [
        { purpose: 'second_factor', citizen_id: citizen.id },
      ])
    })
  },
)

t.test('an account without a passkey gets no script on its code step; the scripts are served as files', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db, {}, { host: 'localhost' })
    const citizen = await addCitizen(db.db)
    await markEmailVerified(db.db, citizen.id, budi.email)
    await enrolTotp(db, citizen.id)
    const browser = new Browser()
    const codeStep = await signInAt(browser, `${issuer}/akun`, issuer, budi)
    t.match(codeStep.html, /action="\/interaction\/[^"]+\/kode"/)
    t.notMatch(codeStep.html, /<script|data-passkey=/)
    t.notMatch(codeStep.res.headers.get('content-security-policy') ?? '', /script-src/)
    for (const name of ['passkey.js', 'simplewebauthn-browser.js']) {
      const res = await fetch(`${issuer}/assets/${name}`)
      t.equal(res.status, 200)
      t.equal(res.headers.get('content-type'), 'text/javascript; charset=utf-8')
      t.equal(res.headers.get('x-content-type-options'), 'nosniff')
    }
    t.match(await (await fetch(`${issuer}/assets/simplewebauthn-browser.js`)).text(), /SimpleWebAuthnBrowser/)
  })
})

t.test('refused passkey answers are throttled per address: past the allowance, 429 with Retry-After', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db, {}, { host: 'localhost' })
    const client = await registerClient(db, { redirectUris: [redirectUri] })
    const config = await oidc.discovery(new URL(issuer), client.clientId, client.secret, undefined, insecure)
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    })
    const browser = new Browser()
    const login = await (await browser.follow(url.href, issuer)).res.text()
    const passkeyUrl = new URL(formAction(login, '/passkey'), issuer).toString()
    const post = () => browser.request(passkeyUrl, { form: { _csrf: csrfFrom(login), response: 'not json' } })
    for (let i = 0; i < passkeyFailurePolicy.maxFailures; i++) {
      const res = await post()
      if (res.status !== 401) t.fail(`attempt ${i + 1}: ${res.status}`)
    }
    const stopped = await post()
    t.equal(stopped.status, 429, 'the next one is not even checked')
    t.ok(Number(stopped.headers.get('retry-after')) > 0, 'with Retry-After')
    t.match(await stopped.text(), /Terlalu banyak percobaan masuk/)
    const audited = await db.db
      .selectFrom('audit_events')
      .select('id')
      .where('event', '=', 'auth.passkey.failed')
      .execute()
    t.equal(audited.length, passkeyFailurePolicy.maxFailures, 'the throttled one writes no audit row')
  })
})

t.test(
  'a passkey registered as device-bound that now says it can be synced (backup eligible) is refused, never phishing-resistant',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const citizen = await addCitizen(db.db)
      const rp = { id: 'localhost', origin: 'http://localhost:3000', name: 'Satu Pintu' }
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const jwk = publicKey.export({ format: 'jwk' })
      const cose = isoCBOR.encode(
        new Map<number, number | Uint8Array>([
          [1, 2],
          [3, -7],
          [-1, 1],
          [-2, Buffer.from(jwk.x as string, 'base64url')],
          [-3, Buffer.from(jwk.y as string, 'base64url')],
        ]),
      )
      const credId = randomBytes(16).toString('base64url')
      const userHandle = randomBytes(32).toString('base64url')
      await db.db
        .insertInto('passkeys')
        .values({
          citizen_id: citizen.id,
          credential_id: credId,
          user_handle: userHandle,
          public_key: Buffer.from(cose),
          counter: 0,
          transports: ['internal'],
          device_type: 'singleDevice',
          backed_up: false,
          aaguid: '00000000-0000-0000-0000-000000000000',
          name: 'Kunci',
        })
        .execute()
      const answer = async (flags: number) => {
        const binding = `interaction:${randomBytes(12).toString('base64url')}`
        const options = await authenticationOptions(db.db, rp, binding, { purpose: 'sign_in' })
        const clientData = Buffer.from(
          JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin: rp.origin }),
        )
        const authData = Buffer.concat([
          createHash('sha256').update(rp.id).digest(),
          Buffer.from([flags]),
          Buffer.from([0, 0, 0, 0]),
        ])
        const signature = sign(
          'sha256',
          Buffer.concat([authData, createHash('sha256').update(clientData).digest()]),
          privateKey,
        )
        const b64 = (b: Buffer) => b.toString('base64url')
        const response = JSON.stringify({
          id: credId,
          rawId: credId,
          type: 'public-key',
          clientExtensionResults: {},
          response: {
            clientDataJSON: b64(clientData),
            authenticatorData: b64(authData),
            signature: b64(signature),
            userHandle,
          },
        })
        return verifyPasskey(db.db, rp, binding, response, { purpose: 'sign_in' }, { ip: '192.0.2.1' })
      }
      const [UP, UV, BE, BS] = [0x01, 0x04, 0x08, 0x10]
      const bound = await answer(UP | UV)
      t.match(bound, { ok: true, synced: false }, 'the key as registered: device-bound')
      t.match(await answer(UP | UV | BE | BS), { ok: false, reason: 'invalid' }, 'backup eligible now: refused')
      t.match(await answer(UP | UV | BE), { ok: false, reason: 'invalid' }, 'eligible but not backed up: refused too')
    })
  },
)
