/**
 * Two-step sign-in in a real browser (Debian's Chromium through playwright-core,
 * JavaScript off, a 360 px phone): turn it on in Akun Saya → Keamanan with a code computed
 * from the secret read off the page, sign in to a relying party with a code, then with a
 * recovery code. Screenshots go to the temp folder for a person to look at.
 */
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import * as oidc from 'openid-client'
import { Secret, TOTP } from 'otpauth'
import type { Browser as Chromium, Page } from 'playwright-core'
import t from 'tap'
import { markEmailVerified } from '../../src/accounts/citizens.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { freshDatabase } from '../helpers/db.ts'
import { registerClient, startIdp } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'
import { chromiumMissing, launchChromium } from '../helpers/chromium.ts'

const shots = path.join(os.tmpdir(), 'satupintu-second-factor')

function codeAt(secret: string, at: number): string {
  return new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) }).generate({
    timestamp: at,
  })
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
        res.end(`<h1>Masuk</h1><p id="acr">${String(c?.acr)}</p><p id="amr">${JSON.stringify(c?.amr)}</p>`)
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

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true })
}

async function password(page: Page) {
  await page.fill('#username', budi.nik)
  await page.fill('#password', budi.password)
  await page.click('button[type=submit]:has-text("Masuk")')
}

t.test(
  'SECURITY 39: two-step sign-in end to end in Chromium without JavaScript: enrol with the QR page, sign in with a code, then once with a recovery code',
  { skip: chromiumMissing() },
  async (t) => {
    fs.mkdirSync(shots, { recursive: true })
    const db = await freshDatabase(t, 'pglite')
    const { issuer } = await startIdp(t, db)
    const citizen = await addCitizen(db.db)
    await markEmailVerified(db.db, citizen.id, budi.email)
    const rpPort = await freePort()
    const client = await registerClient(db, {
      redirectUris: [`http://127.0.0.1:${rpPort}/cb`],
      name: 'Layanan Uji Dinas',
      scopes: ['openid', 'profile'],
    })
    const rp = await startRp(t, issuer, client.clientId, client.secret as string, rpPort)

    const browser: Chromium = await launchChromium()
    t.teardown(() => browser.close())
    const phone = { viewport: { width: 360, height: 740 }, javaScriptEnabled: false, locale: 'id-ID' }

    // Enrolment
    const own = await (await browser.newContext(phone)).newPage()
    await own.goto(`${issuer}/akun/keamanan`)
    await password(own)
    t.equal(await own.textContent('h1'), 'Keamanan')
    await shot(own, '01-keamanan')
    await own.click('text=Aktifkan verifikasi dua langkah')
    t.equal(await own.textContent('h1'), 'Aktifkan verifikasi dua langkah')
    t.ok(await own.isVisible('figure.qr svg'), 'the QR code shows without JavaScript')
    const box = await own.locator('figure.qr').boundingBox()
    t.ok(box !== null && box.width <= 360 && box.width >= 150, `the QR code fits the phone (${box?.width} px)`)
    const secret = ((await own.textContent('#secret')) ?? '').replace(/\s+/g, '')
    t.match(secret, /^[A-Z2-7]{32}$/, 'the secret, read off the page')
    await shot(own, '02-aktifkan')
    await own.fill('#code', codeAt(secret, Date.now()))
    await own.click('button:has-text("Aktifkan")')
    t.equal(await own.textContent('h1'), 'Simpan kode pemulihan Anda')
    const codes = (await own.locator('#recovery-codes li').allTextContents()).map((c) => c.trim())
    t.equal(codes.length, 10)
    await shot(own, '03-kode-pemulihan')
    await own.click('text=Sudah saya simpan')
    t.match(await own.textContent('main'), /Aktif sejak/)
    const width = await own.evaluate(
      () =>
        (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement
          .scrollWidth,
    )
    t.ok(width <= 360, `no sideways scrolling (${width} px)`)

    // Sign-in to an agency with a code (the next step's: the confirming code's step is spent).
    const rpPage = await (await browser.newContext(phone)).newPage()
    await rpPage.goto(`${rp}/`)
    await rpPage.click('text=Masuk')
    await password(rpPage)
    t.equal(await rpPage.textContent('h1'), 'Verifikasi dua langkah', 'the code is asked on its own page')
    await shot(rpPage, '04-kode-masuk')
    await rpPage.fill('#code', codeAt(secret, Date.now() + 30_000))
    await rpPage.click('button:has-text("Lanjutkan")')
    if ((await rpPage.textContent('h1'))?.includes('Izinkan')) await rpPage.click('button:has-text("Izinkan")')
    t.equal(await rpPage.textContent('#acr'), 'urn:satupintu:acr:mfa')
    t.equal(await rpPage.textContent('#amr'), '["pwd","otp"]')

    // And with a recovery code, once.
    const lost = await (await browser.newContext(phone)).newPage()
    await lost.goto(`${rp}/`)
    await lost.click('text=Masuk')
    await password(lost)
    await lost.fill('#code', codes[0] ?? '')
    await lost.click('button:has-text("Lanjutkan")')
    t.equal(await lost.textContent('h1'), 'Anda masuk dengan kode pemulihan')
    await shot(lost, '05-kode-pemulihan-dipakai')
    await lost.click('a.button:has-text("Lanjutkan")')
    if ((await lost.textContent('h1'))?.includes('Izinkan')) await lost.click('button:has-text("Izinkan")')
    t.equal(await lost.textContent('#acr'), 'urn:satupintu:acr:mfa')
    const again = await (await browser.newContext(phone)).newPage()
    await again.goto(`${rp}/`)
    await again.click('text=Masuk')
    await password(again)
    await again.fill('#code', codes[0] ?? '')
    await again.click('button:has-text("Lanjutkan")')
    t.match(await again.textContent('main'), /Kode salah atau sudah dipakai/, 'a recovery code works once')
    await shot(again, '06-kode-ditolak')
    const told = await db.db.selectFrom('outbox').select('kind').where('citizen_id', '=', citizen.id).execute()
    t.ok(
      told.some((n) => n.kind === 'recovery_code_used'),
      'the citizen was told',
    )
  },
)
