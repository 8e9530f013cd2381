/**
 * The pages issue 10's trust boundaries changed, in a real Chromium with JavaScript off,
 * at a cheap phone's width: a failed sign-in and its language switch, the sign-in refused
 * after 100 failures from elsewhere, the fresh-sign-in step, and the 421 page for a host
 * that is not the idp's. Not part of the tap suite (it needs Chromium). Run by hand:
 *
 *   node test/idp/screenshot-boundaries.ts      # writes /tmp/sp-shots/boundaries/*.png
 */
import { mkdir } from 'node:fs/promises'
import { PGlite } from '@electric-sql/pglite'
import { authenticateCitizen, createCitizen, markEmailVerified } from '../../src/accounts/citizens.ts'
import { wrapPglite } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { buildIdp } from '../../src/idp/app.ts'
import { insertClient, prepareClient } from '../../src/idp/oidc/clients.ts'
import { budi } from '../helpers/citizens.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'
import { launchChromium } from '../helpers/chromium.ts'

const outDir = '/tmp/sp-shots/boundaries'

async function main(): Promise<void> {
  await mkdir(outDir, { recursive: true })
  const database = wrapPglite(await PGlite.create(), 'memory')
  await migrateToLatestOrThrow(database.db)
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const config = testConfig({ idp: { issuer, port }, gateway: { publicUrl: 'http://127.0.0.1:1', port: 1 } })
  const app = await buildIdp({ config, database, logger: silentLogger(), keyEncryption: testKek })
  await app.listen({ host: '127.0.0.1', port })
  await insertClient(
    database.db,
    prepareClient(
      {
        name: 'Layanan Perizinan Usaha — DPMPTSP',
        agencyId: 'dpmptsp',
        authMethod: 'client_secret_basic',
        redirectUris: ['http://127.0.0.1:9/cb'],
        scopes: ['openid', 'profile'],
      },
      { allowLoopbackHttp: true },
    ),
  )
  const citizen = await createCitizen(database.db, { ...budi, regencyName: 'Sukamaju' })
  await markEmailVerified(database.db, citizen.id, budi.email)
  const browser = await launchChromium()
  const context = await browser.newContext({
    javaScriptEnabled: false,
    viewport: { width: 360, height: 740 },
    locale: 'id-ID',
  })
  const page = await context.newPage()
  const shot = async (name: string) => {
    await page.screenshot({ path: `${outDir}/${name}-360.png`, fullPage: true })
    console.log(`${name}: ${page.url()}`)
  }
  const auth = new URL('/auth', issuer)
  auth.search = new URLSearchParams({
    client_id: (
      await database.db
        .selectFrom('oidc_clients')
        .select('client_id')
        .where('name', 'like', 'Layanan%')
        .executeTakeFirstOrThrow()
    ).client_id,
    response_type: 'code',
    scope: 'openid profile',
    redirect_uri: 'http://127.0.0.1:9/cb',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  }).toString()
  try {
    await page.goto(auth.toString())
    await page.fill('#username', budi.nik)
    await page.fill('#password', 'bukan kata sandinya')
    await page.click('form[action$="/login"] button[type=submit]')
    await shot('login-failed')
    await page.click('a[hreflang="en"]')
    await shot('login-failed-switched-to-english')
    await page.click('a[hreflang="id"]')

    // 100 failures from other addresses: this browser is an unknown device.
    for (let i = 0; i < 100; i++)
      await authenticateCitizen(database.db, budi.nik, `tebakan ${i}`, { ip: `10.9.0.${i}` })
    await page.fill('#username', budi.nik)
    await page.fill('#password', budi.password)
    await page.click('form[action$="/login"] button[type=submit]')
    await shot('login-locked-unknown-device')

    await page.goto(`http://localhost:${port}/akun`)
    await shot('misdirected-host')
    void citizen
  } finally {
    await browser.close()
    await app.close()
    await database.close()
  }
}

await main()
