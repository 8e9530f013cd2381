/**
 * The portal journey in a real browser (Debian's Chromium, JavaScript off), with each
 * agency at its own origin (issue 10 §2): the portal, a protected service of the demo
 * agency on http://dinas-contoh.localhost:<port>/, sign-in at the idp, the agency greeting
 * the citizen by name (from the verified assertion); then a second agency on its own
 * origin signs the citizen in without a password (single sign-on through the idp), its
 * session is its own, and one sign-out ends both. Screenshots go to test-artifacts/gateway/.
 */
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import t, { type Test } from 'tap'
import { listenOnAnyPort, projectRoot } from '../helpers/process.ts'
import { chromiumMissing, phonePage, startQuickStack } from '../helpers/stack.ts'

const artifacts = path.join(projectRoot, 'test-artifacts', 'gateway')

/** A second agency's backend: a page greeting whoever the gateway says is signed in. */
async function secondAgency(t: Test): Promise<number> {
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent(String(req.headers['x-citizen-name'] ?? ''))
    res.setHeader('content-type', 'text/html; charset=utf-8')
    res.end(
      `<!doctype html><html lang="id"><title>Dinas Kedua</title><h1>${name ? `Selamat datang, ${name.replace(/[<>&"]/g, '')}` : 'Tamu'}</h1><p>Cookie: ${String(req.headers.cookie ?? '').replace(/[<>&"]/g, '')}</p><form method="post" action="/keluar"><button>x</button></form>`,
    )
  })
  const port = await listenOnAnyPort(server)
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return port
}

t.test(
  'SECURITY 32: agency-origin sign-in, single sign-on to a second agency without a password, separate sessions, and single sign-out, in Chromium without JavaScript',
  { skip: chromiumMissing() },
  async (t) => {
    fs.mkdirSync(artifacts, { recursive: true })
    const kedua = await secondAgency(t)
    const { idpPort, gwPort } = await startQuickStack(t, {
      extraAgencies: `
  - id: dinas-kedua
    name: { id: Dinas Kedua, en: Second Agency }
    upstream: http://127.0.0.1:${kedua}
    services:
      - id: beranda
        name: { id: Beranda Dinas Kedua, en: Second Agency home }
        path: /
        access: signed_in
        scopes: [openid, profile]
        minAcr: urn:satupintu:loa:1
`,
    })
    const contoh = `http://dinas-contoh.localhost:${gwPort}`
    const second = `http://dinas-kedua.localhost:${gwPort}`

    const page = await phonePage(t)
    await page.goto(`http://localhost:${gwPort}/`)
    t.match(await page.textContent('h1'), 'Layanan publik Kabupaten Sukamaju')
    t.equal(
      await page.getAttribute('a.service-link:has-text("Permohonan surat keterangan")', 'href'),
      `${contoh}/`,
      "the portal links to the agency's own origin",
    )
    await page.screenshot({ path: path.join(artifacts, '01-portal.png'), fullPage: true })

    await page.click('a.service-link:has-text("Permohonan surat keterangan")')
    t.match(page.url(), `http://localhost:${idpPort}/interaction/`, 'sent to sign in at the idp')
    await page.fill('#username', '3201011201900001')
    await page.fill('#password', 'kopi tubruk di teras rumah')
    await page.click('button[type=submit]:has-text("Masuk")')
    if (page.url().includes('/interaction/')) await page.click('button:has-text("Izinkan")')
    t.equal(page.url(), `${contoh}/`, "back at the service, on the agency's own origin")
    t.equal(await page.textContent('h1'), 'Halo, Budi Santoso', 'the agency read the verified assertion')
    await page.screenshot({ path: path.join(artifacts, '02-layanan.png'), fullPage: true })

    // The old address moves to the agency's origin.
    await page.goto(`http://localhost:${gwPort}/layanan/dinas-contoh/`)
    t.equal(page.url(), `${contoh}/`, "an old /layanan/dinas-contoh/ link lands on the agency's origin")

    // A session of one agency's host is never accepted on another's: the first agency's
    // cookie planted on the second host does not sign anyone in there (its row is bound
    // to the first host); the second host sends the browser to the idp all the same.
    const first = (await page.context().cookies(contoh)).find((c) => c.name === 'sp_gw')
    t.ok(first, "the first agency's session cookie")
    await page.context().addCookies([
      {
        name: 'sp_gw',
        value: first?.value ?? '',
        domain: 'dinas-kedua.localhost',
        path: '/',
        httpOnly: true,
        sameSite: 'Lax',
      },
    ])
    const toIdp: string[] = []
    const onRequest = (r: { url(): string }) => {
      if (r.url().startsWith(`http://localhost:${idpPort}/auth`)) toIdp.push(r.url())
    }
    page.on('request', onRequest)
    // Single sign-on: the second agency signs the citizen in through the idp, no password.
    await page.goto(`${second}/`)
    page.off('request', onRequest)
    t.equal(toIdp.length, 1, 'the planted cookie was refused: the second host asked the idp')
    t.match(toIdp[0] ?? '', `redirect_uri=${encodeURIComponent(`${second}/oidc/callback`)}`, 'with its own callback')
    if (page.url().includes('/interaction/')) {
      t.notOk(await page.$('#password'), 'no password asked: the idp session signs the citizen in')
      await page.click('button:has-text("Izinkan")')
    }
    t.equal(page.url(), `${second}/`)
    t.equal(await page.textContent('h1'), 'Selamat datang, Budi Santoso')
    t.notMatch(await page.textContent('p'), /sp_gw/, 'no gateway cookie reaches the agency')

    // Each host its own session: cookies are host-only.
    const cookies = await page.context().cookies()
    const sessions = cookies.filter((c) => c.name === 'sp_gw')
    t.same(
      sessions.map((c) => c.domain).sort(),
      ['dinas-contoh.localhost', 'dinas-kedua.localhost'],
      'one session cookie per agency host, none shared',
    )
    t.not(sessions[0]?.value, sessions[1]?.value, 'two different sessions')

    // Single sign-out from the second agency: the question (GET), the answer (POST), the idp's confirmation.
    await page.goto(`${second}/keluar`)
    t.match(await page.textContent('h1'), 'Keluar dari Dinas Kedua?')
    await page.screenshot({ path: path.join(artifacts, '03-keluar.png'), fullPage: true })
    await page.click('button:has-text("Ya, keluar")')
    t.match(
      await page.textContent('h1'),
      'Keluar dari Satu Pintu?',
      'the idp asks whether to end the sign-in everywhere',
    )
    await page.screenshot({ path: path.join(artifacts, '04-keluar-idp.png'), fullPage: true })
    await page.click('button:has-text("Ya, keluar")')
    // Back to the second agency's home, which now asks for a sign-in again.
    t.match(page.url(), `http://localhost:${idpPort}/interaction/`, "the second agency's session is over")
    // Both agencies now ask for a sign-in again: back-channel logout ended the other session too.
    await page.goto(`${contoh}/`)
    t.match(page.url(), `http://localhost:${idpPort}/interaction/`, 'the first agency asks for a sign-in again')
    t.ok(await page.$('#password'), 'with a password: the idp session is over too')
  },
)
