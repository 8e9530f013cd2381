/**
 * Passkeys in a real browser (Debian's Chromium through playwright-core, a 360 px phone),
 * with Chromium's virtual authenticators over the DevTools protocol (WebAuthn domain):
 * one device-bound (not backup eligible) and one synced (backup eligible and backed up),
 * both CTAP2 with resident keys and user verification. Added in Akun Saya → Keamanan,
 * then used for a passwordless sign-in at a relying party and as the second factor after
 * the password; the no-JavaScript path still signs in with the password and a code.
 * Then the attacker's questions, with real assertions from the authenticator: a replayed
 * or unknown challenge, a challenge of another interaction, another account's passkey, a
 * forged user handle, a counter that went backwards, another relying party.
 * Screenshots go to the temp folder for a person to look at.
 */
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { generateAuthenticationOptions } from '@simplewebauthn/server'
import * as oidc from 'openid-client'
import { Secret, TOTP } from 'otpauth'
import type { Browser as Chromium, BrowserContext, Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { markEmailVerified } from '../../src/accounts/citizens.ts'
import { authenticationOptions, verifyPasskey } from '../../src/accounts/passkeys.ts'
import { confirmTotpEnrolment, pendingTotpEnrolment } from '../../src/accounts/second-factors.ts'
import { relyingPartyOf } from '../../src/idp/passkey-party.ts'
import { addCitizen, budi, siti } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { registerClient, startIdp, testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'
import { chromiumMissing, launchChromium } from '../helpers/chromium.ts'

const shots = path.join(os.tmpdir(), 'satupintu-passkeys')
const keys = { sealer: testKek, recoveryKey: testKek.derive('recovery codes') }

function codeAt(secret: string, at: number): string {
  return new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) }).generate({
    timestamp: at,
  })
}

/** Turns the authenticator app on for an account, two minutes ago; returns the secret. */
async function enrolTotp(db: TestDatabase, citizenId: string): Promise<string> {
  const enrolment = await pendingTotpEnrolment(db.db, keys, citizenId, 'x')
  if (!enrolment) throw new Error('no enrolment')
  const past = new Date(Date.now() - 120_000)
  const ok = await confirmTotpEnrolment(db.db, keys, citizenId, codeAt(enrolment.secret, past.getTime()), {
    now: past,
  })
  if (!ok.ok) throw new Error('not confirmed')
  return enrolment.secret
}

/** A relying party that shows the acr and amr of the sign-in it got. */
async function startRp(
  t: { teardown: (fn: () => unknown) => void },
  issuer: string,
  clientId: string,
  clientSecret: string,
  port: number,
) {
  const base = `http://127.0.0.1:${port}`
  const config = await oidc.discovery(new URL(issuer), clientId, clientSecret, undefined, {
    execute: [oidc.allowInsecureRequests],
  })
  const pending = new Map<string, string>()
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', base)
      if (url.pathname === '/login') {
        const verifier = oidc.randomPKCECodeVerifier()
        const state = oidc.randomState()
        pending.set(state, verifier)
        const to = oidc.buildAuthorizationUrl(config, {
          redirect_uri: `${base}/cb`,
          scope: 'openid profile',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          // /login?acr=…: the level the service asks for.
          ...(url.searchParams.get('acr') ? { acr_values: url.searchParams.get('acr') ?? '' } : {}),
        })
        res.writeHead(303, { location: to.href }).end()
      } else if (url.pathname === '/cb') {
        const state = url.searchParams.get('state') ?? ''
        const verifier = pending.get(state)
        if (!verifier) return void res.writeHead(400).end('unknown state')
        const tokens = await oidc.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: verifier,
          expectedState: state,
        })
        const c = tokens.claims()
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        res.end(
          `<h1>Masuk</h1><p id="sub">${String(c?.sub)}</p><p id="acr">${String(c?.acr)}</p><p id="amr">${JSON.stringify(c?.amr)}</p>`,
        )
      } else {
        res
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end('<h1>Layanan Uji</h1><a href="/login">Masuk</a>')
      }
    })().catch((err: unknown) => res.writeHead(500).end(String(err)))
  })
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return base
}

interface Phone {
  context: BrowserContext
  page: Page
}

const phoneOptions = { viewport: { width: 360, height: 740 }, locale: 'id-ID' }

/** A phone with a virtual authenticator: device-bound, or synced (backup eligible and backed up). */
async function phoneWithAuthenticator(browser: Chromium, synced: boolean): Promise<Phone> {
  const context = await browser.newContext(phoneOptions)
  const page = await context.newPage()
  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
      defaultBackupEligibility: synced,
      defaultBackupState: synced,
    },
  })
  return { context, page }
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true })
}

async function password(page: Page, who: typeof budi) {
  await page.fill('#username', who.nik)
  await page.fill('#password', who.password)
  await page.click('button[type=submit]:has-text("Masuk"):not(:has-text("passkey"))')
}

/** Waits for the relying party's page, allowing the consent page on the way. */
async function landAtRp(page: Page): Promise<{ acr: string; amr: unknown; sub: string }> {
  await page.waitForSelector('#acr, button:has-text("Izinkan")', { timeout: 15_000 }).catch(async (err: unknown) => {
    throw new Error(
      `not at the relying party: ${page.url()} ${(await page.textContent('main').catch(() => '')) ?? ''}`,
      {
        cause: err,
      },
    )
  })
  if (await page.isVisible('button:has-text("Izinkan")')) {
    await page.click('button:has-text("Izinkan")')
    await page.waitForSelector('#acr')
  }
  return {
    acr: (await page.textContent('#acr')) ?? '',
    amr: JSON.parse((await page.textContent('#amr')) ?? 'null'),
    sub: (await page.textContent('#sub')) ?? '',
  }
}

async function addPasskey(t: Test, page: Page, issuer: string, name: string, screenshot: string) {
  const res = await page.goto(`${issuer}/akun/keamanan/passkey`)
  t.match(
    res?.headers()['content-security-policy'],
    /script-src 'self'; connect-src 'self'/,
    'our own script may run here',
  )
  t.notMatch(res?.headers()['content-security-policy'], /unsafe-inline/)
  await page.waitForSelector('form[data-passkey="register"]:not([hidden])')
  await page.fill('#name', name)
  await shot(page, `${screenshot}-tambah`)
  await page.click('button:has-text("Buat passkey")')
  await page.waitForURL(/pesan=passkey-ditambah/)
}

function noSideways(page: Page) {
  return page.evaluate(
    () =>
      (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement
        .scrollWidth,
  )
}

t.test(
  'SECURITY 39: passkeys end to end in Chromium with virtual authenticators (device-bound and synced): added on Keamanan, passwordless sign-in, second factor, no-JavaScript path, and refusals',
  { skip: chromiumMissing() },
  async (t) => {
    fs.mkdirSync(shots, { recursive: true })
    const browser: Chromium = await launchChromium()
    t.teardown(() => browser.close())

    await eachDatabase(t, async (t, db) => {
      // A WebAuthn RP ID is a domain, never an IP address: the issuer is on localhost.
      const { issuer, config } = await startIdp(t, db, {}, { host: 'localhost' })
      const rpParty = relyingPartyOf(config)
      t.equal(rpParty.id, 'localhost')
      const citizen = await addCitizen(db.db)
      await markEmailVerified(db.db, citizen.id, budi.email)
      const other = await addCitizen(db.db, siti)
      await markEmailVerified(db.db, other.id, siti.email)
      const rpPort = await freePort()
      const client = await registerClient(db, {
        redirectUris: [`http://127.0.0.1:${rpPort}/cb`],
        name: 'Layanan Uji Dinas',
        scopes: ['openid', 'profile'],
      })
      const rp = await startRp(t, issuer, client.clientId, client.secret as string, rpPort)
      const prefix = db.kind

      // 1. A device-bound passkey, added on Keamanan.
      const bound = await phoneWithAuthenticator(browser, false)
      await bound.page.goto(`${issuer}/akun/keamanan`)
      await password(bound.page, budi)
      t.equal(await bound.page.textContent('h1'), 'Keamanan')
      t.match(await bound.page.textContent('main'), /Belum ada passkey/)
      await addPasskey(t, bound.page, issuer, 'Kunci di ponsel ini', `${prefix}-01-device-bound`)
      t.match(await bound.page.textContent('main'), /Passkey ditambahkan/)
      t.match(await bound.page.textContent('main'), /Kunci di ponsel ini/)
      t.match(await bound.page.textContent('main'), /Hanya di satu perangkat/)
      t.match(await bound.page.textContent('main'), /Belum pernah dipakai/)
      t.ok((await noSideways(bound.page)) <= 360, 'no sideways scrolling on Keamanan')
      await shot(bound.page, `${prefix}-02-keamanan-satu-passkey`)

      // Its own page: rename it (without script), and the removal asks first. The account
      // has a factor now: changing it needs a sign-in with one, here the passkey itself.
      await bound.page.click('a:has-text("Ubah nama atau hapus")')
      await bound.page.waitForSelector('form[data-passkey]:not([hidden])')
      t.ok(new URL(bound.page.url()).pathname.startsWith('/interaction/'), 'sent to sign in with a factor')
      await bound.page.click('button:has-text("Masuk dengan passkey")')
      await bound.page.waitForURL(/\/akun\/keamanan\/passkey\//)
      t.equal(await bound.page.textContent('h1'), 'Ubah passkey')
      await shot(bound.page, `${prefix}-02b-ubah-passkey`)
      await bound.page.fill('#name', 'Ponsel kerja')
      await bound.page.click('button:has-text("Simpan nama")')
      await bound.page.waitForURL(/pesan=passkey-diganti/)
      t.match(await bound.page.textContent('main'), /Ponsel kerja/)
      await bound.page.click('a:has-text("Ubah nama atau hapus")')
      await bound.page.click('a:has-text("Hapus passkey ini")')
      t.match(await bound.page.textContent('h1'), /Hapus passkey "Ponsel kerja"\?/)
      await shot(bound.page, `${prefix}-02c-hapus-passkey`)
      await bound.page.click('a:has-text("Batal")')

      // 2. A synced passkey for the same account, from another phone: that phone has no
      // passkey yet, so the citizen signs in there with the password and the app's code.
      const secret = await enrolTotp(db, citizen.id)
      const synced = await phoneWithAuthenticator(browser, true)
      await synced.page.goto(`${issuer}/akun/keamanan`)
      await password(synced.page, budi)
      await synced.page.fill('#code', codeAt(secret, Date.now()))
      await synced.page.click('button:has-text("Lanjutkan")')
      await synced.page.waitForURL(/\/akun\/keamanan/)
      await addPasskey(t, synced.page, issuer, 'Ponsel (tersinkron)', `${prefix}-03-synced`)
      t.match(await synced.page.textContent('main'), /Disinkronkan/)
      await shot(synced.page, `${prefix}-04-keamanan-dua-passkey`)
      const rows = await db.db
        .selectFrom('passkeys')
        .select(['name', 'device_type', 'backed_up', 'counter', 'transports'])
        .where('citizen_id', '=', citizen.id)
        .orderBy('created_at')
        .execute()
      t.match(
        rows.map((r) => [r.name, r.device_type, r.backed_up]),
        [
          ['Ponsel kerja', 'singleDevice', false],
          ['Ponsel (tersinkron)', 'multiDevice', true],
        ],
        'device type and backup state as the authenticators said',
      )
      const added = await db.db
        .selectFrom('outbox')
        .select('kind')
        .where('citizen_id', '=', citizen.id)
        .where('kind', '=', 'second_factor_added')
        .execute()
      t.equal(added.length, 3, 'the citizen is told of each passkey added, and of the app')

      // 3. Passwordless sign-in at a relying party with each: hwk vs swk.
      for (const [phone, amr, name, level] of [
        [bound, ['hwk', 'user', 'mfa'], 'device-bound', 'urn:satupintu:acr:phr'],
        [synced, ['swk', 'user', 'mfa'], 'synced', 'urn:satupintu:acr:mfa'],
      ] as const) {
        await phone.context.clearCookies()
        await phone.page.goto(`${rp}/`)
        await phone.page.click('text=Masuk')
        await phone.page.waitForSelector('form[data-passkey]:not([hidden])')
        await shot(phone.page, `${prefix}-05-masuk-${name}`)
        await phone.page.click('button:has-text("Masuk dengan passkey")')
        const got = await landAtRp(phone.page)
        t.equal(got.sub, citizen.id, `${name}: signed in as the owner`)
        // A device-bound passkey is phishing-resistant; a synced one never reaches the top.
        t.equal(got.acr, level, `${name}: ${level}`)
        t.same(got.amr, amr, `${name}: amr ${JSON.stringify(amr)}`)
      }
      // A service that asks for the phishing-resistant level: the synced passkey is told
      // plainly that it cannot give it, with the way to add a device-bound one; the
      // device-bound one gives it.
      await synced.context.clearCookies()
      await synced.page.goto(`${rp}/login?acr=urn:satupintu:acr:phr`)
      await synced.page.waitForSelector('form[data-passkey]:not([hidden])')
      await synced.page.click('button:has-text("Masuk dengan passkey")')
      await synced.page.waitForSelector('h1:has-text("passkey di perangkat ini")', { timeout: 15_000 })
      t.match(await synced.page.textContent('main'), /Tambah passkey/, 'synced asked for phr: the way to get there')
      await shot(synced.page, `${prefix}-05b-tersinkron-tidak-cukup`)
      await bound.context.clearCookies()
      await bound.page.goto(`${rp}/login?acr=urn:satupintu:acr:phr`)
      await bound.page.waitForSelector('form[data-passkey]:not([hidden])')
      await bound.page.click('button:has-text("Masuk dengan passkey")')
      t.equal((await landAtRp(bound.page)).acr, 'urn:satupintu:acr:phr', 'device-bound asked for phr: phr')

      const used = await db.db
        .selectFrom('passkeys')
        .select(['device_type', 'last_used_at', 'counter'])
        .where('citizen_id', '=', citizen.id)
        .execute()
      t.ok(
        used.every((u) => u.last_used_at !== null),
        'last use recorded',
      )
      const boundCounter = Number(used.find((u) => u.device_type === 'singleDevice')?.counter)
      t.ok(boundCounter > 0, `the device-bound authenticator counts its signatures (${boundCounter})`)

      // 4. As the second factor after the password (the app is on, the passkey instead of its code).
      await bound.context.clearCookies()
      await bound.page.goto(`${rp}/`)
      await bound.page.click('text=Masuk')
      await password(bound.page, budi)
      t.equal(await bound.page.textContent('h1'), 'Verifikasi dua langkah')
      await bound.page.waitForSelector('form[data-passkey]:not([hidden])')
      await shot(bound.page, `${prefix}-06-kode-atau-passkey`)
      await bound.page.click('button:has-text("Pakai passkey")')
      const second = await landAtRp(bound.page)
      t.equal(second.acr, 'urn:satupintu:acr:phr', 'password and a device-bound passkey: phishing-resistant')
      t.same(second.amr, ['pwd', 'hwk', 'user'])

      // 5. Without JavaScript: no passkey button anywhere, the password and a code still work.
      const plain = await browser.newContext({ ...phoneOptions, javaScriptEnabled: false })
      const nojs = await plain.newPage()
      await nojs.goto(`${rp}/`)
      await nojs.click('text=Masuk')
      t.notOk(await nojs.isVisible('button:has-text("Masuk dengan passkey")'), 'no passkey button without JavaScript')
      await password(nojs, budi)
      t.notOk(await nojs.isVisible('button:has-text("Pakai passkey")'))
      await shot(nojs, `${prefix}-07-tanpa-js-kode`)
      await nojs.fill('#code', codeAt(secret, Date.now() + 30_000))
      await nojs.click('button:has-text("Lanjutkan")')
      const plainLanded = await landAtRp(nojs)
      t.same(plainLanded.amr, ['pwd', 'otp'])
      const add = await nojs.goto(`${issuer}/akun/keamanan/passkey`)
      t.equal(add?.status(), 200, `the add page shows (${nojs.url()})`)
      t.match(await nojs.textContent('main'), /perlu menjalankan JavaScript/, 'the add page says why without script')
      t.notOk(await nojs.isVisible('button:has-text("Buat passkey")'), 'no button to make one')
      await shot(nojs, `${prefix}-08-tanpa-js-tambah`)
      await plain.close()

      // 6. The attacker's look, with real assertions of the device-bound authenticator,
      //    made on a page of the idp's origin (the sign-in page loads the library).
      await bound.context.clearCookies()
      await bound.page.goto(`${rp}/`)
      await bound.page.click('text=Masuk')
      await bound.page.waitForSelector('form[data-passkey]:not([hidden])')
      const assertion = (options: unknown): Promise<string> =>
        bound.page.evaluate(
          (o) =>
            (
              globalThis as unknown as {
                SimpleWebAuthnBrowser: { startAuthentication(a: { optionsJSON: unknown }): Promise<unknown> }
              }
            ).SimpleWebAuthnBrowser.startAuthentication({ optionsJSON: o }).then((r) => JSON.stringify(r)),
          options,
        )
      const signIn = { purpose: 'sign_in' } as const

      const first = await assertion(await authenticationOptions(db.db, rpParty, 'test:replay', signIn))
      t.match(await verifyPasskey(db.db, rpParty, 'test:replay', first, signIn), { ok: true, citizenId: citizen.id })
      t.same(
        await verifyPasskey(db.db, rpParty, 'test:replay', first, signIn),
        { ok: false, reason: 'challenge' },
        'a replayed assertion is refused: its challenge was spent',
      )

      const unknown = await assertion(
        await generateAuthenticationOptions({ rpID: rpParty.id, userVerification: 'required' }),
      )
      t.same(
        await verifyPasskey(db.db, rpParty, 'test:unknown', unknown, signIn),
        { ok: false, reason: 'challenge' },
        'an answer to a challenge we never made is refused',
      )

      const elsewhere = await assertion(await authenticationOptions(db.db, rpParty, 'interaction:a', signIn))
      t.same(
        await verifyPasskey(db.db, rpParty, 'interaction:b', elsewhere, signIn),
        { ok: false, reason: 'challenge' },
        "another interaction's challenge is refused",
      )

      // Siti has the app on and no passkey; her password is right; Budi's passkey is offered.
      const sitiStep = { purpose: 'second_factor', citizenId: other.id } as const
      const sitiOptions = await authenticationOptions(db.db, rpParty, 'test:siti', sitiStep)
      t.same(sitiOptions.allowCredentials, [], "the second-factor options list only the account's own passkeys")
      const budisKey = await assertion(sitiOptions)
      t.same(
        await verifyPasskey(db.db, rpParty, 'test:siti', budisKey, sitiStep),
        { ok: false, reason: 'other_account' },
        "another account's passkey is no second factor",
      )
      const budiOptions = await authenticationOptions(db.db, rpParty, 'test:budi-at-siti', sitiStep)
      const sitiForBudi = await assertion(budiOptions)
      t.same(
        await verifyPasskey(db.db, rpParty, 'test:budi-at-siti', sitiForBudi, {
          purpose: 'second_factor',
          citizenId: citizen.id,
        }),
        { ok: false, reason: 'challenge' },
        "a challenge made for one account's second step does not serve another's",
      )

      const forged = JSON.parse(
        await assertion(await authenticationOptions(db.db, rpParty, 'test:handle', signIn)),
      ) as { response: { userHandle?: string } }
      forged.response.userHandle = Buffer.alloc(32, 7).toString('base64url')
      t.same(
        await verifyPasskey(db.db, rpParty, 'test:handle', JSON.stringify(forged), signIn),
        { ok: false, reason: 'user_handle' },
        'a user handle that is not the credential owner’s is refused (it is not signed)',
      )

      const otherParty = { id: 'satupintu.example', origin: 'https://satupintu.example', name: 'Satu Pintu' }
      const wrongParty = await assertion(await authenticationOptions(db.db, rpParty, 'test:rp', signIn))
      await db.db
        .updateTable('webauthn_challenges')
        .set({ binding: 'test:rp2' })
        .where('binding', '=', 'test:rp')
        .execute()
      t.same(
        await verifyPasskey(db.db, otherParty, 'test:rp2', wrongParty, signIn),
        { ok: false, reason: 'invalid' },
        'an assertion for our origin and RP ID does not pass for another relying party',
      )

      const before = await db.db
        .selectFrom('passkeys')
        .select('counter')
        .where('citizen_id', '=', citizen.id)
        .where('device_type', '=', 'singleDevice')
        .executeTakeFirstOrThrow()
      await db.db
        .updateTable('passkeys')
        .set({ counter: 1_000_000 })
        .where('citizen_id', '=', citizen.id)
        .where('device_type', '=', 'singleDevice')
        .execute()
      const cloned = await assertion(await authenticationOptions(db.db, rpParty, 'test:counter', signIn))
      t.same(
        await verifyPasskey(db.db, rpParty, 'test:counter', cloned, signIn),
        { ok: false, reason: 'counter' },
        'a counter that went backwards (a cloned authenticator?) is refused',
      )
      const counterAudit = await db.db
        .selectFrom('audit_events')
        .select('data')
        .where('subject_id', '=', citizen.id)
        .where('event', '=', 'auth.passkey.failed')
        .execute()
      t.ok(
        counterAudit.some((a) => (a.data as { reason?: string } | null)?.reason === 'counter'),
        'and audited for the account',
      )
      const after = await db.db
        .selectFrom('passkeys')
        .select('counter')
        .where('citizen_id', '=', citizen.id)
        .where('device_type', '=', 'singleDevice')
        .executeTakeFirstOrThrow()
      t.equal(Number(after.counter), 1_000_000, 'the stored counter is not moved by a refused assertion')
      t.ok(Number(before.counter) < 1_000_000)

      // The page itself, with a refused passkey: an ordinary error on the sign-in page.
      await bound.page.click('button:has-text("Masuk dengan passkey")')
      await bound.page.waitForSelector('.alert-error')
      t.match(await bound.page.textContent('main'), /Passkey ini tidak dapat dipakai untuk masuk/)
      await shot(bound.page, `${prefix}-09-passkey-ditolak`)

      // A disabled account does not sign in with its passkey either; enabled again, it does.
      await db.db
        .updateTable('passkeys')
        .set({ counter: Number(before.counter) })
        .where('citizen_id', '=', citizen.id)
        .where('device_type', '=', 'singleDevice')
        .execute()
      await db.db.updateTable('citizens').set({ status: 'disabled' }).where('id', '=', citizen.id).execute()
      await bound.page.click('button:has-text("Masuk dengan passkey")')
      await bound.page.waitForSelector('.alert-error')
      t.match(await bound.page.textContent('main'), /Passkey ini tidak dapat dipakai untuk masuk/, 'disabled: refused')
      await db.db.updateTable('citizens').set({ status: 'active' }).where('id', '=', citizen.id).execute()
      await bound.page.click('button:has-text("Masuk dengan passkey")')
      t.equal((await landAtRp(bound.page)).sub, citizen.id, 'enabled again: signed in')

      await bound.context.close()
      await synced.context.close()
    })
  },
)
