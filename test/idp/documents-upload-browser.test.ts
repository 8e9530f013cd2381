/**
 * Issue 20, uploads, in a real browser (Debian's Chromium through playwright-core, a 360 px
 * phone). With JavaScript: a phone photo over the KTP's 5 MB is caught before it is sent,
 * "Perkecil foto" shrinks it on the phone, and the upload that follows is stored under the
 * limit; an oversized PDF gets its own words. Without JavaScript: the limit stands beside
 * the field, and the oversized photo gets the server's clear page, early, on a slow link.
 * Screenshots go to the temp folder for a person to look at.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Browser as Chromium, Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { startIdp } from '../helpers/idp.ts'
import { countRows, tempDir } from '../documents/fixtures.ts'
import { chromiumMissing, chromiumPath, launchChromium } from '../helpers/chromium.ts'

const shots = path.join(os.tmpdir(), 'satupintu-uploads')
const MiB = 1024 * 1024

async function launch(t: Test): Promise<Chromium> {
  const browser = await launchChromium()
  t.teardown(() => browser.close())
  return browser
}

/**
 * A 4000 × 3000 "phone photo" of a card with text and sensor-like noise, as a JPEG of
 * quality 0.97: over 5 MB, like the photos citizens send. Made by Chromium's own encoder.
 */
async function bigPhoto(browser: Chromium, file: string): Promise<number> {
  const page = await (await browser.newContext()).newPage()
  // Browser code, as text: the test's TypeScript has no DOM types.
  const b64 = (await page.evaluate(`(async () => {
    const canvas = document.createElement('canvas')
    canvas.width = 4000
    canvas.height = 3000
    const ctx = canvas.getContext('2d')
    const g = ctx.createLinearGradient(0, 0, 4000, 3000)
    g.addColorStop(0, '#8fb3d9')
    g.addColorStop(1, '#e8d6b0')
    ctx.fillStyle = g
    ctx.fillRect(0, 0, 4000, 3000)
    ctx.fillStyle = '#fff'
    ctx.fillRect(400, 500, 3200, 2000)
    ctx.fillStyle = '#123'
    ctx.font = 'bold 120px sans-serif'
    ctx.fillText('KARTU TANDA PENDUDUK', 600, 800)
    ctx.font = '90px sans-serif'
    for (let i = 0; i < 12; i++) ctx.fillText('NIK 9999 0000 0000 ' + String(i).padStart(4, '0'), 600, 1000 + i * 120)
    const img = ctx.getImageData(0, 0, 4000, 3000)
    let seed = 7
    for (let i = 0; i < img.data.length; i += 4) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      const n = (seed % 49) - 24
      img.data[i] = img.data[i] + n
      img.data[i + 1] = img.data[i + 1] + n
      img.data[i + 2] = img.data[i + 2] + n
    }
    ctx.putImageData(img, 0, 0)
    const blob = await new Promise((r) => canvas.toBlob(r, 'image/jpeg', 0.97))
    const bytes = new Uint8Array(await blob.arrayBuffer())
    let s = ''
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
    return btoa(s)
  })()`)) as string
  await page.context().close()
  const data = Buffer.from(b64, 'base64')
  fs.writeFileSync(file, data)
  return data.length
}

async function phone(browser: Chromium, javaScriptEnabled: boolean): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: 360, height: 740 },
    javaScriptEnabled,
    locale: 'id-ID',
  })
  return context.newPage()
}

async function signIn(page: Page, url: string): Promise<void> {
  await page.goto(url)
  await page.fill('#username', budi.nik)
  await page.fill('#password', budi.password)
  await page.click('button[type=submit]')
  await page.waitForURL(url)
}

async function setup(t: Test, db: TestDatabase) {
  const dir = tempDir(t)
  const idp = await startIdp(t, db, { dataDir: dir })
  await addCitizen(db.db, budi)
  return { ...idp, dir, uploadUrl: `${idp.issuer}/akun/dokumen/unggah/ktp` }
}

t.test(
  'with JavaScript: an oversized phone photo is caught before sending, shrunk on the phone, and stored under the limit',
  { skip: chromiumMissing() },
  async (t) => {
    fs.mkdirSync(shots, { recursive: true })
    const browser = await launch(t)
    const photo = path.join(tempDir(t), 'IMG_20261203_0712.jpg')
    const size = await bigPhoto(browser, photo)
    t.ok(size > 5 * MiB, `the photo is ${size} bytes, over 5 MB`)
    const bigPdf = path.join(tempDir(t), 'kk-scan.pdf')
    fs.writeFileSync(bigPdf, Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(6 * MiB, 0x20)]))

    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const page = await phone(browser, true)
      const posts: string[] = []
      page.on('request', (r) => {
        if (r.method() === 'POST') posts.push(r.url())
      })
      const errors: string[] = []
      page.on('pageerror', (e) => errors.push(e.message))
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text())
      })
      await signIn(page, s.uploadUrl)
      posts.length = 0
      t.match(await page.textContent('#berkas-ktp-hint'), 'paling besar 5 MB')

      await page.setInputFiles('#berkas-ktp', photo)
      const check = page.locator('#berkas-ktp-check')
      await check.locator('.error-message').waitFor()
      t.match(await check.textContent(), /Foto ini \d+,\d MB, lebih besar dari batas 5 MB\. Tekan "Perkecil foto"/)
      t.equal(await page.getAttribute('#berkas-ktp', 'aria-invalid'), 'true')
      await page.screenshot({ path: path.join(shots, `js-01-terlalu-besar-${db.kind}.png`), fullPage: true })
      await page.click('form.upload-form button[type=submit]')
      await page.waitForTimeout(300)
      t.same(posts, [], 'the oversized photo is not sent')

      await page.click('button:has-text("Perkecil foto")')
      await check.locator('.upload-check-ok').waitFor({ timeout: 20_000 })
      const said = (await check.textContent()) ?? ''
      t.match(said, /Foto sudah diperkecil menjadi [\d,]+ (MB|KB) \((\d+) × (\d+) piksel\)/)
      const [, w = '0', h = '0'] = /\((\d+) × (\d+) piksel\)/.exec(said) ?? []
      t.ok(Math.max(Number(w), Number(h)) >= 1600, `still readable: ${w} × ${h}`)
      t.ok(await page.locator('.upload-preview').isVisible(), 'a preview of the result')
      const chosen = (await page.evaluate(
        `(() => { const f = document.getElementById('berkas-ktp').files[0]; return f ? { name: f.name, size: f.size, type: f.type } : null })()`,
      )) as { name: string; size: number; type: string } | null
      t.ok(chosen && chosen.size <= 5 * MiB, `the field now holds ${JSON.stringify(chosen)}`)
      t.equal(chosen?.name, 'IMG_20261203_0712.jpg')
      await page.screenshot({ path: path.join(shots, `js-02-diperkecil-${db.kind}.png`), fullPage: true })

      await page.click('form.upload-form button[type=submit]')
      await page.waitForURL(/\/akun\/dokumen\/[A-Za-z0-9_-]{22}\?pesan=diunggah$/)
      t.match(await page.textContent('main'), 'Dokumen sudah diunggah.')
      const version = await db.db.selectFrom('document_versions').selectAll().executeTakeFirstOrThrow()
      t.equal(version.media_type, 'image/jpeg')
      t.ok(Number(version.size) <= 5 * MiB, `stored ${version.size} bytes, under the limit`)
      t.equal(Number(version.size), chosen?.size, 'the shrunk photo, byte for byte')
      await page.screenshot({ path: path.join(shots, `js-03-tersimpan-${db.kind}.png`), fullPage: true })

      // A PDF over the limit cannot be shrunk here: it says what to do instead.
      await page.goto(`${s.issuer}/akun/dokumen/unggah/kk`)
      posts.length = 0
      await page.setInputFiles('#berkas-kk', bigPdf)
      await page.locator('#berkas-kk-check .error-message').waitFor()
      t.match(
        await page.textContent('#berkas-kk-check'),
        /Berkas PDF ini 6 MB, lebih besar dari batas 5 MB\. Pindai ulang dengan resolusi lebih rendah/,
      )
      t.equal(await page.locator('button:has-text("Perkecil foto")').count(), 0, 'no shrinking for a PDF')
      await page.click('form.upload-form button[type=submit]')
      await page.waitForTimeout(300)
      t.same(posts, [], 'nor is it sent')
      await page.screenshot({ path: path.join(shots, `js-04-pdf-terlalu-besar-${db.kind}.png`), fullPage: true })
      t.same(errors, [], 'no script errors, no CSP violations')
      await page.context().close()
    })
  },
)

t.test(
  "without JavaScript: the limit beside the field, and an oversized photo gets the server's clear page before it is all sent",
  { skip: chromiumMissing() },
  async (t) => {
    fs.mkdirSync(shots, { recursive: true })
    const browser = await launch(t)
    const photo = path.join(tempDir(t), 'IMG_20261203_0713.jpg')
    const size = await bigPhoto(browser, photo)
    await eachDatabase(t, async (t, db) => {
      const s = await setup(t, db)
      const page = await phone(browser, false)
      await signIn(page, s.uploadUrl)
      const hint = (await page.textContent('#berkas-ktp-hint')) ?? ''
      t.match(hint, 'Foto (JPG atau PNG) atau PDF, paling besar 5 MB.')
      t.match(hint, 'perkecil dulu di aplikasi galeri')
      t.ok(await page.locator('#berkas-ktp-hint').isVisible(), 'the hint is visible')
      await page.screenshot({ path: path.join(shots, `nojs-01-petunjuk-${db.kind}.png`), fullPage: true })

      // A slow phone link: 512 KB/s up, so the whole photo would take over 10 s.
      const cdp = await page.context().newCDPSession(page)
      await cdp.send('Network.enable')
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: 50,
        downloadThroughput: 1024 * 1024,
        uploadThroughput: 512 * 1024,
      })
      await page.setInputFiles('#berkas-ktp', photo)
      const started = Date.now()
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST'),
        page.click('form.upload-form button[type=submit]'),
      ])
      await page.waitForLoadState()
      const took = Date.now() - started
      t.equal(response.status(), 413)
      t.match(await page.textContent('.alert'), 'Ukuran berkas melebihi 5 MB.', 'the reason, in the summary')
      t.match(await page.textContent('#berkas-ktp-error'), 'Ukuran berkas melebihi 5 MB.', 'and at the field')
      t.ok(took < (size / (512 * 1024)) * 500, `the page came after ${took} ms, not after the whole photo was sent`)
      t.same(await countRows(db.db), { documents: 0, versions: 0, accesses: 0 })
      await page.screenshot({ path: path.join(shots, `nojs-02-ditolak-${db.kind}.png`), fullPage: true })
      await page.context().close()
    })
  },
)
