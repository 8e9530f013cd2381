/**
 * Walks the idp's citizen pages in a real Chromium with JavaScript turned off — register,
 * verify, sign in, consent, Akun Saya and its sub-pages, password reset — and saves
 * screenshots at a cheap phone's size and a laptop's, for a person to look at. Not part
 * of the tap suite (it needs Chromium). Run by hand:
 *
 *   export PATH="$PWD/node_modules/.bin:$PATH"   (from the project root)
 *   node test/idp/screenshot-pages.ts            # writes /tmp/sp-shots/idp/*.png
 */
import { mkdir } from 'node:fs/promises'
import { PGlite } from '@electric-sql/pglite'
import type { Page } from 'playwright-core'
import { wrapPglite } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { buildIdp } from '../../src/idp/app.ts'
import { insertClient, prepareClient } from '../../src/idp/oidc/clients.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { testKek } from '../helpers/idp.ts'
import { freePort } from '../helpers/process.ts'
import { launchChromium } from '../helpers/chromium.ts'

const outDir = '/tmp/sp-shots/idp'
const sizes = [
  { name: '360', width: 360, height: 740 },
  { name: '1280', width: 1280, height: 800 },
] as const

const citizen = {
  nik: '3201014303850002',
  name: 'Siti Aminah',
  day: '3',
  month: '3',
  year: '1985',
  email: 'siti@contoh.id',
  phone: '0812 9876 5432',
  password: 'sepeda biru ke pasar pagi',
}

async function main(): Promise<void> {
  await mkdir(outDir, { recursive: true })
  const database = wrapPglite(await PGlite.create(), 'memory')
  await migrateToLatestOrThrow(database.db)
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const config = testConfig({ idp: { issuer, port }, gateway: { publicUrl: 'http://127.0.0.1:1', port: 1 } })
  const app = await buildIdp({ config, database, logger: silentLogger(), keyEncryption: testKek })
  await app.listen({ host: '127.0.0.1', port })
  const client = prepareClient(
    {
      name: 'Layanan Perizinan Usaha — DPMPTSP',
      agencyId: 'dpmptsp',
      authMethod: 'client_secret_basic',
      redirectUris: ['http://127.0.0.1:9/cb'],
      scopes: ['openid', 'profile', 'email', 'phone', 'nik', 'offline_access'],
    },
    { allowLoopbackHttp: true },
  )
  await insertClient(database.db, client)

  const browser = await launchChromium()
  const context = await browser.newContext({
    javaScriptEnabled: false,
    viewport: { width: 360, height: 740 },
    locale: 'id-ID',
  })
  let page = await context.newPage()

  async function shot(name: string, p: Page = page): Promise<void> {
    for (const size of sizes) {
      await p.setViewportSize({ width: size.width, height: size.height })
      await p.screenshot({ path: `${outDir}/${name}-${size.name}.png`, fullPage: true })
    }
    await p.setViewportSize({ width: 360, height: 740 })
    console.log(`${name}: ${p.url()}`)
  }

  async function latestCode(recipient: string): Promise<string> {
    const row = await database.db
      .selectFrom('outbox')
      .select('body')
      .where('recipient', '=', recipient)
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow()
    return /\b([0-9]{6})\b/.exec(row.body)?.[1] ?? ''
  }

  try {
    // Registration: first a refused form, then the real one.
    await page.goto(`${issuer}/daftar`)
    await shot('register')
    await page.fill('#nik', '3201 0143 0385')
    await page.fill('#name', citizen.name)
    await page.fill('#birth-day', '4')
    await page.fill('#birth-month', citizen.month)
    await page.fill('#birth-year', citizen.year)
    await page.fill('#password', 'password123')
    await page.click('button[type=submit]')
    await shot('register-errors')
    await page.fill('#nik', citizen.nik)
    await page.fill('#birth-day', citizen.day)
    await page.check('#gender-female')
    await page.fill('#email', citizen.email)
    await page.fill('#phone', citizen.phone)
    await page.fill('#password', citizen.password)
    await page.fill('#password2', citizen.password)
    await page.click('form[action^="/daftar"] button[type=submit]')
    await shot('verify')
    await page.fill('#code', '000000')
    await page.click('form[action^="/daftar/verifikasi"] button[type=submit]')
    await shot('verify-wrong')
    await page.fill('#code', await latestCode(citizen.email))
    await page.click('form[action^="/daftar/verifikasi"] button[type=submit]')
    await shot('register-done')

    // An agency's sign-in: login and consent.
    const auth = new URL('/auth', issuer)
    auth.search = new URLSearchParams({
      client_id: client.clientId,
      response_type: 'code',
      scope: 'openid profile email nik offline_access',
      redirect_uri: 'http://127.0.0.1:9/cb',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'screenshot',
      prompt: 'consent',
    }).toString()
    await page.goto(auth.toString())
    await shot('login')
    await page.fill('#username', citizen.email)
    await page.fill('#password', 'salah sekali')
    await page.click('form[action$="/login"] button[type=submit]')
    await shot('login-failed')
    await page.fill('#password', citizen.password)
    await page.click('form[action$="/login"] button[type=submit]')
    await shot('consent')
    // The agency's callback is not running: the browser's error page is expected.
    await page.click('button[value=allow]').catch(() => undefined)
    await page.waitForTimeout(500)
    await page.close()

    // Akun Saya, signed in through the same provider session (a new tab, same cookies).
    page = await context.newPage()
    await page.goto(`${issuer}/akun`)
    await shot('akun')
    await page.goto(`${issuer}/akun/perangkat`)
    await shot('akun-sessions')
    await page.goto(`${issuer}/akun/instansi`)
    await shot('akun-agencies')
    await page.goto(`${issuer}/akun/aktivitas`)
    await shot('akun-activity')
    await page.goto(`${issuer}/akun/sandi`)
    await shot('akun-password')
    await page.goto(`${issuer}/akun/kontak`)
    await shot('akun-contact')
    await page.goto(`${issuer}/akun/data`)
    await shot('akun-data')
    await page.goto(`${issuer}/akun?lang=en`)
    await shot('akun-en')
    await page.goto(`${issuer}/akun?lang=id`)

    // Password reset, in a fresh browser.
    const other = await (
      await browser.newContext({ javaScriptEnabled: false, viewport: { width: 360, height: 740 }, locale: 'id-ID' })
    ).newPage()
    await other.goto(`${issuer}/lupa-sandi`)
    await shot('reset', other)
    await other.fill('#identifier', citizen.nik)
    await other.click('form[action^="/lupa-sandi"] button[type=submit]')
    await shot('reset-code', other)
  } finally {
    await browser.close()
    await app.close()
    await database.close()
  }
}

await main()
