/**
 * Find a citizen in a real browser without JavaScript (issue 15): the counter officer signs
 * in, chooses the counter and searches by NIK with a reason, on a 360 px phone and a 1024 px
 * counter PC. The page fits the phone's width and its buttons are at least 44 px high;
 * screenshots go to test-artifacts/console/ for a person to look at.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { addCounter } from '../../src/accounts/counters.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { chromiumMissing, launchChromium, phone } from '../helpers/chromium.ts'
import { freshDatabase } from '../helpers/db.ts'
import { startIdp } from '../helpers/idp.ts'
import { addOfficer, officerPassword } from '../helpers/officers.ts'
import { projectRoot } from '../helpers/process.ts'
import { codeAt } from '../helpers/totp.ts'

const artifacts = path.join(projectRoot, 'test-artifacts', 'console')
const SECRET = 'JBSWY3DPEHPK3PXPSATUPINTUTEST234'

t.test('find a citizen at 360 px and 1024 px without JavaScript', { skip: chromiumMissing() }, async (t) => {
  fs.mkdirSync(artifacts, { recursive: true })
  const db = await freshDatabase(t, 'pglite')
  const { issuer } = await startIdp(t, db)
  await addCounter(db.db, { name: 'Loket 3', location: 'MPP Kabupaten Sukamaju', unit: 'Disdukcapil' })
  await addCitizen(db.db, budi)
  const browser = await launchChromium(t)
  const sizes = [
    ['360', phone],
    ['1024', { viewport: { width: 1024, height: 768 }, locale: 'id-ID' }],
  ] as const
  for (const [i, [name, size]] of sizes.entries()) {
    const username = `sri.loket${i}`
    await addOfficer(db.db, { username, name: 'Sri Wahyuni', roles: ['counter_officer'] })
    const page = await (await browser.newContext({ ...size, javaScriptEnabled: false })).newPage()
    await page.goto(`${issuer}/petugas/masuk`)
    await page.fill('#username', username)
    await page.fill('#password', officerPassword)
    await page.click('button[type=submit]')
    await page.fill('#code', codeAt(SECRET, Date.now()))
    await page.click('form[action="/petugas/masuk/kode"] button')
    await page.goto(`${issuer}/petugas/loket`)
    await page.check('#counter-first')
    await page.click('form[action="/petugas/loket"] button')
    await page.click('text=Cari warga')
    t.equal(new URL(page.url()).pathname, '/petugas/cari')
    await page.selectOption('#reason', 'ktp_el')
    await page.fill('#nik', budi.nik)
    await page.click('form[action="/petugas/cari"] button')
    t.match(await page.textContent('main'), /Budi Santoso/)
    t.notMatch(await page.content(), new RegExp(budi.nik))
    await page.screenshot({ path: path.join(artifacts, `cari-${name}.png`), fullPage: true })
    const width = await page.evaluate<number>('document.documentElement.scrollWidth')
    t.ok(width <= (size.viewport?.width ?? 0), `${name}: no sideways scrolling (${width} px)`)
    const small = await page.$$eval('button, .button', (els) =>
      els.filter((e) => e.getBoundingClientRect().height < 44).map((e) => e.textContent?.trim()),
    )
    t.strictSame(small, [], `${name}: every button at least 44 px high`)
  }
})
