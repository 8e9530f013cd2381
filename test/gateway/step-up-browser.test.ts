/**
 * The gateway's step-up loop in a real browser (Debian's Chromium, JavaScript off, a 360 px
 * phone), with a real second factor (issue 14): a citizen signed in with the password opens
 * a service that needs two factors; the gateway sends the browser to the idp asking for the
 * level; the idp says two-step sign-in is off, with the way to turn it on; the citizen turns
 * it on in Akun Saya with a code computed from the secret on the page; the same service then
 * asks for the password and the code and returns the browser to it, and the agency reads
 * the level it got. Screenshots go to test-artifacts/gateway/.
 */
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { Secret, TOTP } from 'otpauth'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { listenOnAnyPort, projectRoot } from '../helpers/process.ts'
import { chromiumMissing, phonePage, startQuickStack } from '../helpers/stack.ts'

const artifacts = path.join(projectRoot, 'test-artifacts', 'gateway')

function codeAt(secret: string, at: number): string {
  return new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) }).generate({
    timestamp: at,
  })
}

/** An agency backend that shows the level of sign-in the gateway vouches for. */
async function levelAgency(t: Test): Promise<number> {
  const server = http.createServer((req, res) => {
    const acr = String(req.headers['x-citizen-acr'] ?? '').replace(/[<>&"]/g, '')
    res.setHeader('content-type', 'text/html; charset=utf-8')
    res.end(
      `<!doctype html><html lang="id"><title>Izin</title><h1>Layanan ${req.url?.replace(/[<>&"]/g, '')}</h1><p id="acr">${acr}</p>`,
    )
  })
  const port = await listenOnAnyPort(server)
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return port
}

async function password(page: Page) {
  await page.fill('#username', '3201011201900001')
  await page.fill('#password', 'kopi tubruk di teras rumah')
  await page.click('button[type=submit]:has-text("Masuk")')
}

async function allowIfAsked(page: Page) {
  if ((await page.textContent('h1'))?.includes('Izinkan') || page.url().includes('/interaction/')) {
    const allow = await page.$('button:has-text("Izinkan")')
    if (allow) await allow.click()
  }
}

t.test(
  'SECURITY 39: a service that needs two factors sends a password-only session to step up, explains when the account has no second factor, and returns with the level once it has one, in Chromium without JavaScript',
  { skip: chromiumMissing() },
  async (t) => {
    fs.mkdirSync(artifacts, { recursive: true })
    const port = await levelAgency(t)
    const { idpPort, gwPort } = await startQuickStack(t, {
      extraAgencies: `
  - id: dinas-izin
    name: { id: Dinas Perizinan, en: Licensing Agency }
    upstream: http://127.0.0.1:${port}
    services:
      - id: beranda
        name: { id: Beranda Dinas Perizinan, en: Licensing home }
        path: /
        access: signed_in
        scopes: [openid, profile]
      - id: izin
        name: { id: Izin usaha, en: Business licence }
        path: /izin
        access: signed_in
        scopes: [openid, profile]
        minAcr: urn:satupintu:acr:mfa
`,
    })
    const idp = `http://localhost:${idpPort}`
    const agency = `http://dinas-izin.localhost:${gwPort}`
    const page = await phonePage(t)

    // Signed in with the password alone.
    await page.goto(`${agency}/`)
    t.match(page.url(), `${idp}/interaction/`)
    await password(page)
    await allowIfAsked(page)
    t.equal(page.url(), `${agency}/`)
    t.equal(await page.textContent('#acr'), 'urn:satupintu:acr:pwd')

    // The two-factor service: to the idp, asking for the level; no second factor yet.
    const toIdp: string[] = []
    const onRequest = (r: { url(): string }) => {
      if (r.url().startsWith(`${idp}/auth`)) toIdp.push(r.url())
    }
    page.on('request', onRequest)
    await page.goto(`${agency}/izin`)
    page.off('request', onRequest)
    const asked = new URL(toIdp[0] ?? 'http://x/')
    t.equal(asked.searchParams.get('acr_values'), 'urn:satupintu:acr:mfa', 'the gateway asks for the level')
    t.equal(asked.searchParams.get('prompt'), 'login')
    await password(page)
    const explained = (await page.textContent('main')) ?? ''
    t.match(explained, /verifikasi dua langkah/i, 'the idp says what is missing')
    t.notMatch(explained, /Error|at .*\.ts/, 'no stack trace')
    await page.screenshot({ path: path.join(artifacts, '10-naik-level-belum-aktif.png'), fullPage: true })

    // Turn on two-step sign-in in Akun Saya (the sign-in is fresh: no password again).
    await page.goto(`${idp}/akun/keamanan`)
    if (await page.$('#password')) await password(page)
    await page.click('text=Aktifkan verifikasi dua langkah')
    const secret = ((await page.textContent('#secret')) ?? '').replace(/\s+/g, '')
    t.match(secret, /^[A-Z2-7]{32}$/)
    await page.fill('#code', codeAt(secret, Date.now()))
    await page.click('button:has-text("Aktifkan")')
    t.equal(await page.textContent('h1'), 'Simpan kode pemulihan Anda')
    await page.click('text=Sudah saya simpan')

    // The same service now asks for the password and the code, and comes back.
    await page.goto(`${agency}/izin`)
    t.match(page.url(), `${idp}/interaction/`)
    await password(page)
    t.equal(await page.textContent('h1'), 'Verifikasi dua langkah')
    await page.screenshot({ path: path.join(artifacts, '11-naik-level-kode.png'), fullPage: true })
    // The confirming code's step is spent: the next step's code.
    await page.fill('#code', codeAt(secret, Date.now() + 30_000))
    await page.click('button:has-text("Lanjutkan")')
    await allowIfAsked(page)
    t.equal(page.url(), `${agency}/izin`, 'returned to the service')
    t.equal(await page.textContent('#acr'), 'urn:satupintu:acr:mfa', 'the agency reads the level it got')
    await page.screenshot({ path: path.join(artifacts, '12-naik-level-selesai.png'), fullPage: true })
    // And the password-level service is still served by the new session.
    await page.goto(`${agency}/`)
    t.equal(await page.textContent('#acr'), 'urn:satupintu:acr:mfa')
  },
)
