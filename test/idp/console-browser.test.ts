/**
 * An officer in a real browser (Debian's Chromium, JavaScript off, a 360 × 740 phone):
 * sign in at /petugas/masuk, give the enrolment code, read the key off the enrolment page,
 * confirm with a code, reach the console and sign out. Each page fits the phone's width
 * and its buttons are large enough to touch (at least 44 px high). Screenshots go to
 * test-artifacts/console/ for a person to look at. The same walk once more with axe-core
 * (script on for axe alone, the pages' CSP bypassed): no serious or critical violation.
 */
import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { createOfficer } from '../../src/accounts/officers.ts'
import { chromiumMissing, launchChromium, phone } from '../helpers/chromium.ts'
import { freshDatabase } from '../helpers/db.ts'
import { startIdp } from '../helpers/idp.ts'
import { projectRoot } from '../helpers/process.ts'
import { codeAt } from '../helpers/totp.ts'

const artifacts = path.join(projectRoot, 'test-artifacts', 'console')
const axePath = createRequire(import.meta.url).resolve('axe-core')
const PASSWORD = 'Petugas loket yang ramah'

async function axeCheck(t: Test, page: Page, name: string) {
  await page.addScriptTag({ path: axePath })
  const result = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")) as {
    violations: { id: string; impact: string | null; help: string }[]
  }
  t.same(
    result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help}`),
    [],
    `${name}: no serious or critical axe-core violation`,
  )
}

async function check(t: Test, page: Page, name: string) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true })
  const width = await page.evaluate<number>('document.documentElement.scrollWidth')
  t.ok(width <= 360, `${name}: no sideways scrolling (${width} px)`)
  const small = await page.$$eval('button, .button', (els) =>
    els.filter((e) => e.getBoundingClientRect().height < 44).map((e) => e.textContent?.trim()),
  )
  t.strictSame(small, [], `${name}: every button at least 44 px high`)
}

t.test(
  'an officer enrols and signs in on a phone-sized Chromium without JavaScript',
  { skip: chromiumMissing() },
  async (t) => {
    fs.mkdirSync(artifacts, { recursive: true })
    const db = await freshDatabase(t, 'pglite')
    const { issuer } = await startIdp(t, db)
    const browser = await launchChromium(t)
    const newOfficer = (username: string) =>
      createOfficer(db.db, {
        username,
        name: 'Sri Wahyuni',
        roles: ['counter_officer'],
        password: PASSWORD,
        regencyName: 'Sukamaju',
      })

    async function walk(page: Page, username: string, enrolmentCode: string, at: (name: string) => Promise<void>) {
      await page.goto(`${issuer}/petugas`)
      t.equal(new URL(page.url()).pathname, '/petugas/masuk')
      await at('1-masuk')
      await page.fill('#username', username)
      await page.fill('#password', PASSWORD)
      await page.click('button[type=submit]')
      t.equal(new URL(page.url()).pathname, '/petugas/pasang-faktor')
      await at('2-kode-pendaftaran')
      await page.fill('#enrolmentCode', enrolmentCode)
      await page.click('form[action="/petugas/pasang-faktor/kode-pendaftaran"] button')
      t.ok(await page.isVisible('figure.qr svg'), 'the QR code shows without JavaScript')
      await at('3-qr')
      const secret = (await page.textContent('#secret'))?.replace(/\s/g, '') ?? ''
      await page.fill('#code', codeAt(secret, Date.now()))
      await page.click('form[action="/petugas/pasang-faktor"] button')
      t.equal(new URL(page.url()).pathname, '/petugas')
      t.match(await page.textContent('main'), /Anda masuk sebagai Sri Wahyuni/)
      await at('4-beranda')
      await page.click('text=Keluar')
      t.equal(new URL(page.url()).pathname, '/petugas/masuk')
      t.match(await page.textContent('main'), /Anda sudah keluar/)
      await page.goto(`${issuer}/petugas`)
      t.equal(new URL(page.url()).pathname, '/petugas/masuk', 'signed out for good')
    }

    const first = await newOfficer('sri.loket')
    const noScript = await (await browser.newContext({ ...phone, javaScriptEnabled: false })).newPage()
    await walk(noScript, 'sri.loket', first.enrolment.code, (name) => check(t, noScript, name))

    const second = await newOfficer('sri.axe')
    const withAxe = await (await browser.newContext({ ...phone, bypassCSP: true })).newPage()
    await walk(withAxe, 'sri.axe', second.enrolment.code, (name) => axeCheck(t, withAxe, name))
  },
)
