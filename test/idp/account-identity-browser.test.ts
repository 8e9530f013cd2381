// Akun Saya's identity section in Chromium on a 360 px phone without JavaScript (issue 14):
// readable, no sideways scrolling, before and after the NIK is proven at the counter.
import t from 'tap'
import { addCitizen, budi, proveInPerson } from '../helpers/citizens.ts'
import { chromiumMissing, launchChromium, phone } from '../helpers/chromium.ts'
import { freshDatabase } from '../helpers/db.ts'
import { startIdp } from '../helpers/idp.ts'

t.test('the identity section on a phone, without script', { skip: chromiumMissing() }, async (t) => {
  const db = await freshDatabase(t, 'pglite')
  const { issuer } = await startIdp(t, db)
  const citizen = await addCitizen(db.db)
  const browser = await launchChromium(t)

  async function identityText(): Promise<string> {
    const context = await browser.newContext({ ...phone, javaScriptEnabled: false })
    const page = await context.newPage()
    await page.goto(`${issuer}/akun`)
    await page.fill('input[name="username"]', budi.nik)
    await page.fill('input[name="password"]', budi.password)
    await Promise.all([page.waitForURL(/\/akun$/), page.click('form[action$="/login"] button[type="submit"]')])
    const section = page.locator('section[aria-labelledby="akun-identitas"]')
    t.ok(await section.isVisible(), 'the identity section is shown')
    const width = await page.evaluate<number>('document.documentElement.scrollWidth')
    t.ok(width <= 360, `no sideways scrolling (${width} px)`)
    const text = (await section.innerText()).replace(/\s+/g, ' ')
    await context.close()
    return text
  }

  const claimed = await identityText()
  t.match(claimed, 'NIK belum terverifikasi')
  t.match(claimed, 'mobil layanan keliling')
  await proveInPerson(db.db, citizen.id, 'MPP Sukamaju, loket 2')
  const proven = await identityText()
  t.match(proven, 'NIK terverifikasi')
  t.match(proven, 'MPP Sukamaju, loket 2')
})
