/**
 * A citizen in a real browser (Debian's Chromium through playwright-core, JavaScript off):
 * register, verify the e-mail with the code from the outbox, sign in through a relying
 * party, consent, see the relying party's page, sign out. Screenshots go to
 * test-artifacts/idp/ for a person to look at.
 */
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import * as oidc from 'openid-client'
import type { Browser as Chromium, Page } from 'playwright-core'
import t from 'tap'
import { freshDatabase } from '../helpers/db.ts'
import { registerClient, startIdp } from '../helpers/idp.ts'
import { freePort, projectRoot } from '../helpers/process.ts'
import { chromiumMissing, launchChromium } from '../helpers/chromium.ts'

const artifacts = path.join(projectRoot, 'test-artifacts', 'idp')

/** A relying party an agency might write: sign-in, a page with the citizen's name, sign-out. */
async function startRp(t: Tap, issuer: string, clientId: string, clientSecret: string, port: number) {
  const base = `http://127.0.0.1:${port}`
  const config = await oidc.discovery(new URL(issuer), clientId, clientSecret, undefined, {
    execute: [oidc.allowInsecureRequests],
  })
  const pending = new Map<string, { verifier: string; nonce: string }>()
  let signedIn: { name: string; idToken: string } | undefined
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', base)
      if (url.pathname === '/login') {
        const verifier = oidc.randomPKCECodeVerifier()
        const state = oidc.randomState()
        const nonce = oidc.randomNonce()
        pending.set(state, { verifier, nonce })
        const to = oidc.buildAuthorizationUrl(config, {
          redirect_uri: `${base}/cb`,
          scope: 'openid profile',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          nonce,
        })
        res.writeHead(303, { location: to.href }).end()
      } else if (url.pathname === '/cb') {
        const state = url.searchParams.get('state') ?? ''
        const p = pending.get(state)
        if (!p) return void res.writeHead(400).end('unknown state')
        const tokens = await oidc.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: p.verifier,
          expectedState: state,
          expectedNonce: p.nonce,
        })
        const info = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()?.sub ?? '')
        signedIn = { name: String(info.name), idToken: tokens.id_token ?? '' }
        res.writeHead(303, { location: '/' }).end()
      } else if (url.pathname === '/logout') {
        const to = oidc.buildEndSessionUrl(config, {
          id_token_hint: signedIn?.idToken ?? '',
          post_logout_redirect_uri: `${base}/`,
        })
        signedIn = undefined
        res.writeHead(303, { location: to.href }).end()
      } else {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        res.end(
          signedIn
            ? `<h1>Selamat datang, ${signedIn.name}</h1><a href="/logout">Keluar</a>`
            : '<h1>Layanan Uji</h1><a href="/login">Masuk</a>',
        )
      }
    })().catch((err: unknown) => res.writeHead(500).end(String(err)))
  })
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return base
}
type Tap = { teardown: (fn: () => unknown) => void }

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true })
}

t.test(
  'a citizen registers, verifies the e-mail, signs in through a relying party, consents and signs out, in Chromium without JavaScript',
  { skip: chromiumMissing() },
  async (t) => {
    fs.mkdirSync(artifacts, { recursive: true })
    const db = await freshDatabase(t, 'pglite')
    const { issuer } = await startIdp(t, db)
    const rpPort = await freePort()
    const client = await registerClient(db, {
      redirectUris: [`http://127.0.0.1:${rpPort}/cb`],
      postLogoutRedirectUris: [`http://127.0.0.1:${rpPort}/`],
      name: 'Layanan Uji Dinas',
      scopes: ['openid', 'profile'],
      // An agency: it asks for consent (the regency's own clients do not).
      firstParty: false,
    })
    const rp = await startRp(t, issuer, client.clientId, client.secret as string, rpPort)

    const browser: Chromium = await launchChromium()
    t.teardown(() => browser.close())
    const context = await browser.newContext({
      viewport: { width: 360, height: 740 },
      javaScriptEnabled: false,
      locale: 'id-ID',
    })
    const page = await context.newPage()

    await page.goto(`${rp}/`)
    await page.click('text=Masuk')
    t.match(await page.textContent('h1'), 'Masuk', 'the idp sign-in page')
    t.equal(await page.getAttribute('#username', 'autocomplete'), 'username')
    t.equal(await page.getAttribute('#password', 'autocomplete'), 'current-password')
    await shot(page, '01-masuk')

    await page.click('text=Daftar akun baru')
    await page.fill('#nik', '3201014303850002')
    await page.fill('#name', 'Siti Aminah')
    await page.fill('#birth-day', '03')
    await page.fill('#birth-month', '03')
    await page.fill('#birth-year', '1985')
    await page.check('#gender-female')
    await page.fill('#email', 'siti@contoh.id')
    await page.fill('#password', 'sepeda biru ke pasar pagi')
    await page.fill('#password2', 'sepeda biru ke pasar pagi')
    t.equal(await page.getAttribute('#password', 'autocomplete'), 'new-password')
    await shot(page, '02-daftar')
    await page.click('button:has-text("Daftar")')
    await shot(page, '03-verifikasi')

    const message = await db.db
      .selectFrom('outbox')
      .select('body')
      .where('recipient', '=', 'siti@contoh.id')
      .executeTakeFirstOrThrow()
    const code = /\b(\d{6})\b/.exec(message.body)?.[1] ?? ''
    t.match(code, /^\d{6}$/, 'a code was sent to the outbox')
    await page.fill('#code', code)
    await page.click('button:has-text("Verifikasi")')
    await shot(page, '04-terverifikasi')
    const citizen = await db.db
      .selectFrom('citizens')
      .select(['email_verified'])
      .where('nik', '=', '3201014303850002')
      .executeTakeFirstOrThrow()
    t.equal(citizen.email_verified, true, 'the e-mail is verified')

    // Back to the sign-in the relying party started.
    await page.click('a.button:has-text("Masuk")')
    await page.fill('#username', 'siti@contoh.id')
    await page.fill('#password', 'sepeda biru ke pasar pagi')
    await page.click('button[type=submit]:has-text("Masuk")')
    t.match(await page.textContent('h1'), 'Izinkan akses', 'the consent page')
    t.match(await page.textContent('main'), 'Layanan Uji Dinas')
    await shot(page, '05-izin')
    await page.click('button:has-text("Izinkan")')
    t.equal(await page.textContent('h1'), 'Selamat datang, Siti Aminah', "the relying party's page")

    await page.click('text=Keluar')
    t.match(await page.textContent('h1'), 'Keluar dari Satu Pintu?', 'our own logout confirmation')
    await shot(page, '06-keluar')
    await page.click('button:has-text("Ya, keluar")')
    t.equal(page.url(), `${rp}/`, 'back at the relying party')
    t.equal(await page.textContent('h1'), 'Layanan Uji')
  },
)
