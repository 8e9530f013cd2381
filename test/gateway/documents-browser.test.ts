/**
 * Upload once, in a real browser (Debian's Chromium, JavaScript off): a service of the
 * demo agency (at its own origin) needs the KTP; the citizen allows it on the idp's consent
 * page, is sent to upload it on the account page, comes back, and the agency shows the document and checks its
 * SHA-256 after downloading it through its signed link. Screenshots go to
 * test-artifacts/documents/.
 */
import { deflateSync } from 'node:zlib'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { projectRoot } from '../helpers/process.ts'
import { chromiumMissing, phonePage, startQuickStack } from '../helpers/stack.ts'

const artifacts = path.join(projectRoot, 'test-artifacts', 'documents')

/** A real (tiny, grey) PNG, as a phone camera scan would be, only smaller. */
function png(): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (b: Buffer) => {
    let c = 0xffffffff
    for (const x of b) c = (crcTable[(c ^ x) & 0xff] as number) ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const sum = Buffer.alloc(4)
    sum.writeUInt32BE(crc(body))
    return Buffer.concat([len, body, sum])
  }
  const w = 64
  const h = 40
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(h, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 0 // greyscale
  const raw = Buffer.concat(Array.from({ length: h }, () => Buffer.concat([Buffer.from([0]), Buffer.alloc(w, 0x99)])))
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

t.test(
  'upload a KTP on the account page, open a service that needs it, allow it, and see the agency verify it, in Chromium without JavaScript',
  { skip: chromiumMissing() },
  async (t) => {
    fs.mkdirSync(artifacts, { recursive: true })
    const { dir, idpPort, gwPort } = await startQuickStack(t)
    const ktp = path.join(dir, 'ktp-saya.png')
    fs.writeFileSync(ktp, png())

    const page = await phonePage(t)
    const shot = (name: string) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true })

    const contoh = `http://dinas-contoh.localhost:${gwPort}`
    await page.goto(`http://localhost:${gwPort}/`)
    await page.click('a.service-link:has-text("Izin usaha mikro")')
    await page.fill('#username', '3201011201900001')
    await page.fill('#password', 'kopi tubruk di teras rumah')
    await page.click('button[type=submit]:has-text("Masuk")')
    if (page.url().includes('/interaction/')) await page.click('button:has-text("Izinkan")')

    // First the consent page, in plain words — on the idp's origin, never the agency's (issue 10 §2).
    t.match(page.url(), `http://localhost:${idpPort}/izin-dokumen?`, 'the question is asked at the idp')
    t.match(
      await page.textContent('main'),
      'Dinas Contoh meminta akses ke Kartu Tanda Penduduk (KTP) Anda untuk layanan Izin usaha mikro',
      'the agency asks, by name, for the KTP',
    )
    // No KTP yet: the question says so up front and leads to the upload.
    t.match(await page.textContent('main'), 'Kartu Tanda Penduduk (KTP) belum Anda unggah')
    await shot('01-izin-dokumen-kurang')
    await page.click('a.button:has-text("Unggah")')
    t.match(page.url(), `http://localhost:${idpPort}/akun/dokumen/unggah/ktp`, 'the upload page of the account')
    await page.setInputFiles('input[type=file]', ktp)
    await shot('03-unggah')
    await page.click('form.upload-form button[type=submit]')
    await shot('04-terunggah')
    await page.click('a:has-text("Lanjutkan")')
    // The KTP is there now: the question itself.
    await shot('02-izin-dokumen')
    await page.click('button:has-text("Izinkan")')
    t.equal(page.url(), `${contoh}/izin`, "back at the service, on the agency's origin")
    t.match(await page.textContent('main'), 'KTP', 'the agency lists the attached KTP')
    await page.click('button:has-text("Unduh dan periksa")')
    t.match(
      await page.textContent('#hasil'),
      /^Cocok/,
      "the agency downloaded it and its SHA-256 matches the assertion's",
    )
    await shot('05-diperiksa')
  },
)
