/**
 * The direct (OIDC-only) integration's document request in a real browser (Debian's
 * Chromium, JavaScript off, phone size): the demo agency signs the citizen in, sends them
 * to the idp's question, the citizen allows it, uploads the missing KTP on the way, comes
 * back to the agency, and the agency downloads the KTP through the idp's signed link and
 * checks its SHA-256. Screenshots go to test-artifacts/documents-direct/.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { projectRoot } from '../helpers/process.ts'
import { chromiumMissing, phonePage, startQuickStack } from '../helpers/stack.ts'
import { png } from '../documents/fixtures.ts'

const artifacts = path.join(projectRoot, 'test-artifacts', 'documents-direct')

t.test(
  'an agency outside the gateway asks for the KTP through the idp, and verifies what it downloads, in Chromium without JavaScript',
  { skip: chromiumMissing() },
  async (t) => {
    fs.mkdirSync(artifacts, { recursive: true })
    const { dir, idpPort, agencyPort } = await startQuickStack(t)
    const ktp = path.join(dir, 'ktp-saya.png')
    fs.writeFileSync(ktp, png())
    const page = await phonePage(t)
    const shot = (name: string) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true })

    await page.goto(`http://localhost:${agencyPort}/oidc-langsung/`)
    await page.click('a:has-text("Masuk dengan Satu Pintu")')
    await page.fill('#username', '3201011201900001')
    await page.fill('#password', 'kopi tubruk di teras rumah')
    await page.click('button[type=submit]:has-text("Masuk")')
    if (page.url().includes('/interaction/')) await page.click('button:has-text("Izinkan")')
    t.match(await page.textContent('h1'), 'Halo, Budi Santoso')
    await page.click('a:has-text("Dokumen untuk izin usaha")')
    t.match(await page.textContent('main'), 'Belum ada dokumen yang boleh kami ambil')
    await page.click('a:has-text("Minta dokumen dari Satu Pintu")')

    t.match(page.url(), `http://localhost:${idpPort}/izin-dokumen?`, "the question is the idp's")
    // No KTP yet: the question says so up front and leads to the upload; nothing to allow yet.
    t.match(
      await page.textContent('main'),
      'meminta akses ke Kartu Tanda Penduduk (KTP) Anda untuk layanan Izin usaha mikro.',
    )
    t.match(await page.textContent('main'), 'Kartu Tanda Penduduk (KTP) belum Anda unggah')
    t.match(
      await page.textContent('main'),
      'Memeriksa identitas pemohon izin usaha mikro',
      "the purpose registered with the agency's client",
    )
    t.equal(await page.$('button:has-text("Izinkan")'), null, 'no "Izinkan" for a document that is not there')
    await shot('01-izin-dokumen-kurang')
    await page.click('a.button:has-text("Unggah")')
    t.match(page.url(), `http://localhost:${idpPort}/akun/dokumen/unggah/ktp`)
    await page.setInputFiles('input[type=file]', ktp)
    await page.click('form.upload-form button[type=submit]')
    await page.click('a:has-text("Lanjutkan")')

    // Back at the question, now with the KTP there: "Izinkan?".
    t.match(
      await page.textContent('main'),
      'meminta akses ke Kartu Tanda Penduduk (KTP) Anda untuk layanan Izin usaha mikro. Izinkan?',
    )
    await shot('02-izin-dokumen')
    await page.click('button:has-text("Izinkan")')

    t.match(page.url(), `http://localhost:${agencyPort}/oidc-langsung/dokumen?`, 'back at the agency')
    t.match(await page.textContent('#jawaban'), 'izin diberikan')
    t.match(await page.textContent('main'), 'KTP')
    await shot('03-kembali-di-instansi')
    await page.click('button:has-text("Unduh dan periksa")')
    t.match(
      await page.textContent('#hasil'),
      /^Cocok/,
      "downloaded through the idp's link, and its SHA-256 matches the listing's",
    )
    await shot('04-diperiksa')
  },
)
