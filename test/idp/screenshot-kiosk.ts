/**
 * The phone's side of a kiosk sign-in (issue 16) in a real Chromium with JavaScript turned
 * off: the code page the kiosk's QR opens, the confirmation naming the kiosk with Batal
 * first, the sign-in, the end; and a wrong code. Screenshots at a cheap phone's size, for a
 * person to look at. Not part of the tap suite (it needs Chromium). Run by hand:
 *
 *   export PATH="$PWD/node_modules/.bin:$PATH"   (from the project root)
 *   node test/idp/screenshot-kiosk.ts            # writes /tmp/sp-shots/kiosk/*.png
 */
import { randomUUID } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { PGlite } from '@electric-sql/pglite'
import { importJWK, SignJWT } from 'jose'
import { wrapPglite } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { buildIdp } from '../../src/idp/app.ts'
import { addKiosk } from '../../src/idp/oidc/kiosks.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { launchChromium } from '../helpers/chromium.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'

const outDir = '/tmp/sp-shots/kiosk'

async function main(): Promise<void> {
  await mkdir(outDir, { recursive: true })
  const database = wrapPglite(await PGlite.create(), 'memory')
  await migrateToLatestOrThrow(database.db)
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const config = testConfig({ idp: { issuer, port }, gateway: { publicUrl: 'http://127.0.0.1:1', port: 1 } })
  const app = await buildIdp({ config, database, logger: silentLogger(), keyEncryption: testKek })
  await app.listen({ host: '127.0.0.1', port })
  await addCitizen(database.db)
  const { kiosk, key } = await addKiosk(
    database.db,
    { name: 'Kiosk Lantai 1', location: 'MPP Kabupaten Sukamaju, lantai 1' },
    { gatewayResource: 'http://127.0.0.1:1', policy: { allowLoopbackHttp: true } },
  )
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: key.privateJwk.kid as string })
    .setIssuer(kiosk.client_id)
    .setSubject(kiosk.client_id)
    .setAudience(issuer)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('60s')
    .sign(await importJWK(key.privateJwk, 'ES256'))
  const res = await fetch(`${issuer}/device/auth`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: kiosk.client_id,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      scope: 'openid profile',
    }),
  })
  const da = (await res.json()) as { verification_uri_complete: string; verification_uri: string }

  const browser = await launchChromium()
  const context = await browser.newContext({
    javaScriptEnabled: false,
    viewport: { width: 360, height: 740 },
    locale: 'id-ID',
  })
  const page = await context.newPage()
  const shot = async (name: string) => {
    await page.screenshot({ path: `${outDir}/${name}-360.png`, fullPage: true })
    const wide = await page.evaluate<number>('document.documentElement.scrollWidth')
    console.log(`${name}: ${page.url()} (scroll width ${wide})`)
  }
  try {
    await page.goto(da.verification_uri)
    await page.fill('#user_code', 'BCDF-GHJK')
    await page.click('form[action$="/device"] button[type=submit]')
    await shot('kode-salah')
    await page.goto(da.verification_uri_complete)
    await shot('kode')
    await page.click('form[action$="/device"] button[type=submit]')
    await shot('setuju')
    await page.click('button[name=confirm]')
    await shot('masuk')
    await page.fill('#username', budi.nik)
    await page.fill('#password', budi.password)
    await page.click('form[action$="/login"] button[type=submit]')
    await shot('selesai')
  } finally {
    await browser.close()
    await app.close()
    await database.close()
  }
}

await main()
