/**
 * The portal journey in a real browser (Debian's Chromium, JavaScript off): the portal,
 * a protected service of the demo agency, sign-in at the idp, the agency greeting the
 * citizen by name (from the verified assertion), sign-out. Screenshots go to
 * test-artifacts/gateway/.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { projectRoot } from '../helpers/process.ts'
import { chromiumMissing, phonePage, startQuickStack } from '../helpers/stack.ts'

const artifacts = path.join(projectRoot, 'test-artifacts', 'gateway')

t.test(
  'from the portal to a protected agency page and back out, in Chromium without JavaScript',
  { skip: chromiumMissing() },
  async (t) => {
    fs.mkdirSync(artifacts, { recursive: true })
    const { idpPort, gwPort } = await startQuickStack(t)

    const page = await phonePage(t)

    await page.goto(`http://localhost:${gwPort}/`)
    t.match(await page.textContent('h1'), 'Layanan publik Kabupaten Sukamaju')
    await page.screenshot({ path: path.join(artifacts, '01-portal.png'), fullPage: true })

    await page.click('a.service-link:has-text("Permohonan surat keterangan")')
    t.match(page.url(), `http://localhost:${idpPort}/interaction/`, 'sent to sign in at the idp')
    await page.fill('#username', '3201011201900001')
    await page.fill('#password', 'kopi tubruk di teras rumah')
    await page.click('button[type=submit]:has-text("Masuk")')
    if (page.url().includes('/interaction/')) await page.click('button:has-text("Izinkan")')
    t.equal(page.url(), `http://localhost:${gwPort}/layanan/dinas-contoh/`, 'back at the service it asked for')
    t.equal(await page.textContent('h1'), 'Halo, Budi Santoso', 'the agency read the verified assertion')
    await page.screenshot({ path: path.join(artifacts, '02-layanan.png'), fullPage: true })

    await page.goto(`http://localhost:${gwPort}/`)
    t.match(await page.textContent('main'), 'Anda masuk sebagai Budi Santoso.')
    await page.click('a:has-text("Keluar")')
    t.match(await page.textContent('h1'), 'Keluar dari Satu Pintu?')
    await page.click('button:has-text("Ya, keluar")')
    t.equal(page.url(), `http://localhost:${gwPort}/`)
    t.notMatch(await page.textContent('main'), 'Anda masuk sebagai', 'signed out at the portal too')
    await page.goto(`http://localhost:${gwPort}/layanan/dinas-contoh/`)
    t.match(page.url(), `http://localhost:${idpPort}/interaction/`, 'the service asks for a sign-in again')
  },
)
