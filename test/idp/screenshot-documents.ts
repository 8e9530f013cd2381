/**
 * "Akun Saya → Dokumen" in a real Chromium with JavaScript turned off: the list (with one
 * document uploaded through the page, verified by an officer), a refused upload, the
 * detail page (two versions, accesses by agencies) and the grants page, at a cheap
 * phone's width (360 px) and a laptop's. For a person to look at; not part of the tap
 * suite (it needs Chromium). Run by hand:
 *
 *   export PATH="$PWD/node_modules/.bin:$PATH"   (from the project root)
 *   node test/idp/screenshot-documents.ts        # writes /tmp/sp-shots/docs/*.png
 */
import fs from 'node:fs'
import { mkdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import type { Page } from 'playwright-core'
import { createCitizen, markEmailVerified } from '../../src/accounts/citizens.ts'
import { wrapPglite } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { createGrant } from '../../src/documents/grants.ts'
import { createLink, createLinkKeyring, resolveLink } from '../../src/documents/links.ts'
import { verifyDocumentVersion } from '../../src/documents/vault.ts'
import { buildIdp } from '../../src/idp/app.ts'
import { insertClient, prepareClient } from '../../src/idp/oidc/clients.ts'
import { jpeg, pdf, png } from '../documents/fixtures.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'
import { launchChromium } from '../helpers/chromium.ts'

const outDir = '/tmp/sp-shots/docs'
const sizes = [
  { name: '360', width: 360, height: 740 },
  { name: '1280', width: 1280, height: 800 },
] as const

const citizen = {
  nik: '3201014303850002',
  name: 'Siti Aminah',
  birthDate: '1985-03-03',
  gender: 'female' as const,
  email: 'siti@contoh.id',
  phone: '081298765432',
  password: 'sepeda biru ke pasar pagi',
}

async function main(): Promise<void> {
  await mkdir(outDir, { recursive: true })
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-shots-docs-'))
  const database = wrapPglite(await PGlite.create(), 'memory')
  await migrateToLatestOrThrow(database.db)
  const db = database.db
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const config = testConfig({ dataDir, idp: { issuer, port }, gateway: { publicUrl: 'http://127.0.0.1:1', port: 1 } })
  const app = await buildIdp({ config, database, logger: silentLogger(), keyEncryption: testKek })
  await app.listen({ host: '127.0.0.1', port })
  const person = await createCitizen(db, { ...citizen, regencyName: 'Sukamaju' })
  if (citizen.email) await markEmailVerified(db, person.id, citizen.email)
  await insertClient(
    db,
    prepareClient(
      {
        name: 'Dinas Kependudukan dan Pencatatan Sipil',
        agencyId: 'disdukcapil',
        authMethod: 'client_secret_basic',
        redirectUris: ['http://127.0.0.1:9/cb'],
      },
      { allowLoopbackHttp: true },
    ),
  )
  const officer = await db
    .insertInto('officers')
    .values({ username: 'petugas.mpp', name: 'Petugas MPP', roles: ['counter_officer'], password_hash: 'not-a-hash' })
    .returning('id')
    .executeTakeFirstOrThrow()

  const files = {
    ktp: path.join(dataDir, 'ktp-siti.jpg'),
    ktpBaru: path.join(dataDir, 'ktp siti (scan baru).png'),
    kk: path.join(dataDir, 'kartu-keluarga.pdf'),
    html: path.join(dataDir, 'foto.jpg'),
  }
  fs.writeFileSync(files.ktp, jpeg())
  fs.writeFileSync(files.ktpBaru, png())
  fs.writeFileSync(files.kk, pdf())
  fs.writeFileSync(files.html, '<!doctype html><script>alert(1)</script>')

  const browser = await launchChromium()
  const context = await browser.newContext({
    javaScriptEnabled: false,
    viewport: { width: 360, height: 740 },
    locale: 'id-ID',
  })
  const page = await context.newPage()

  async function shot(name: string, p: Page = page): Promise<void> {
    for (const size of sizes) {
      await p.setViewportSize({ width: size.width, height: size.height })
      await p.screenshot({ path: `${outDir}/${name}-${size.name}.png`, fullPage: true })
    }
    // Long phone pages also in 1400 px slices, readable at full size.
    await p.setViewportSize({ width: 360, height: 740 })
    const height = await p.evaluate('document.documentElement.scrollHeight')
    for (let y = 0, i = 1; typeof height === 'number' && height > 1400 && y < height; y += 1400, i++) {
      await p.screenshot({
        path: `${outDir}/${name}-360-part${i}.png`,
        fullPage: true,
        clip: { x: 0, y, width: 360, height: Math.min(1400, height - y) },
      })
    }
    await p.setViewportSize({ width: 360, height: 740 })
    console.log(`${name}: ${p.url()}`)
  }

  try {
    // Sign in through the provider, as a citizen would.
    await page.goto(`${issuer}/akun/dokumen`)
    await page.fill('#username', citizen.nik)
    await page.fill('#password', citizen.password)
    await page.click('button[type=submit]')
    await page.waitForURL(`${issuer}/akun/dokumen`)
    await shot('01-list-empty')

    // Upload a KTP from the list, a KK from its own page (as the gateway sends a citizen).
    await page.setInputFiles('#berkas-ktp', files.ktp)
    await page.click('#jenis-ktp button[type=submit]')
    await page.waitForURL(/\/akun\/dokumen\/[A-Za-z0-9_-]{22}\?pesan=diunggah/)
    await shot('02-detail-uploaded')
    const ktpUrl = page.url().split('?')[0] as string
    const documentId = ktpUrl.split('/').pop() as string

    await page.goto(
      `${issuer}/akun/dokumen/unggah/kk?kembali=${encodeURIComponent('http://127.0.0.1:1/layanan/disdukcapil/pindah')}`,
    )
    await page.setInputFiles('#berkas-kk', files.html)
    await page.click('form.upload-form button[type=submit]')
    await shot('03-upload-refused')
    await page.setInputFiles('#berkas-kk', files.kk)
    await page.click('form.upload-form button[type=submit]')
    await page.waitForURL(/pesan=diunggah/)
    await shot('04-detail-continue')

    // An officer verifies the first KTP, the citizen replaces it, agencies fetch it.
    const first = await db
      .selectFrom('document_versions')
      .select('id')
      .where('document_id', '=', documentId)
      .executeTakeFirstOrThrow()
    await verifyDocumentVersion(db, first.id, officer.id)
    await page.goto(ktpUrl)
    await page.setInputFiles('#berkas-ktp', files.ktpBaru)
    await page.click('form.upload-form button[type=submit]')
    await page.waitForURL(/pesan=diganti/)
    const current = await db
      .selectFrom('document_versions')
      .select('id')
      .where('document_id', '=', documentId)
      .where('superseded_at', 'is', null)
      .executeTakeFirstOrThrow()
    await verifyDocumentVersion(db, current.id, officer.id)
    const keyring = createLinkKeyring([testKek.derive('document links').toString('base64url')])
    for (const [agencyId, serviceId] of [
      ['disdukcapil', 'surat-pindah'],
      ['dinas-sosial', null],
    ] as const) {
      await createGrant(db, config.documents, {
        citizenId: person.id,
        agencyId,
        serviceId,
        documentTypes: ['ktp', 'kk'],
        purpose:
          agencyId === 'disdukcapil'
            ? 'Memproses permohonan surat pindah Anda'
            : 'Memeriksa kelayakan bantuan sosial keluarga Anda',
        expiresAt: new Date(Date.now() + 90 * 86_400_000),
      })
      const link = createLink(keyring, config.documents, { versionId: current.id, agencyId, serviceId })
      await resolveLink(db, keyring, link.token, { agencyId })
    }
    await page.goto(ktpUrl)
    await shot('05-detail-versions-accesses')
    await page.goto(`${issuer}/akun/dokumen`)
    await shot('06-list-filled')
    await page.goto(`${issuer}/akun/dokumen/izin`)
    await shot('07-grants')
    await page.click('form[action="/akun/dokumen/izin/cabut"] button')
    await page.waitForURL(/pesan=dicabut/)
    await shot('08-grants-revoked')
    await page.goto(`${ktpUrl}/hapus`)
    await shot('09-delete-confirm')
    await page.goto(`${issuer}/akun/dokumen?lang=en`)
    await shot('10-list-en')
  } finally {
    await browser.close()
    await app.close()
    await database.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

await main()
