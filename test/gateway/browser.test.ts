/**
 * The portal journey in a real browser (Debian's Chromium, JavaScript off): the portal,
 * a protected service of the demo agency, sign-in at the idp, the agency greeting the
 * citizen by name (from the verified assertion), sign-out. Screenshots go to
 * test-artifacts/gateway/.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { chromium } from 'playwright-core'
import t from 'tap'
import { loadConfig } from '../../src/config/load.ts'
import { startServices } from '../../src/main.ts'
import { silentLogger } from '../helpers/config.ts'
import { projectRoot, withFreshPorts } from '../helpers/process.ts'

const chromiumPath = '/usr/bin/chromium'
const artifacts = path.join(projectRoot, 'test-artifacts', 'gateway')

t.test(
  'from the portal to a protected agency page and back out, in Chromium without JavaScript',
  { skip: fs.existsSync(chromiumPath) ? false : 'Debian chromium is not installed (.ci/run installs it)' },
  async (t) => {
    fs.mkdirSync(artifacts, { recursive: true })
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-gw-browser-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    const { running, idpPort, gwPort, agencyPort } = await withFreshPorts(3, async ([idpPort = 0, gwPort = 0, agencyPort = 0]) => {
      const agencies = path.join(dir, 'agencies.yaml')
      const shipped = fs.readFileSync(path.join(projectRoot, 'config', 'agencies.yaml'), 'utf8')
      fs.writeFileSync(agencies, shipped.replace('http://127.0.0.1:8081', `http://127.0.0.1:${agencyPort}`))
      const config = loadConfig({
        env: { NODE_ENV: 'development' },
        overrides: {
          dataDir: dir,
          demo: true,
          log: { level: 'silent' },
          database: { pgliteDir: path.join(dir, 'pglite') },
          idp: { issuer: `http://localhost:${idpPort}`, port: idpPort },
          gateway: { publicUrl: `http://localhost:${gwPort}`, port: gwPort, agenciesFile: agencies },
          demoAgency: { port: agencyPort },
        },
      })
      return { running: await startServices(config, ['idp', 'gateway', 'demo-agency'], { logger: silentLogger() }), idpPort, gwPort, agencyPort }
    })
    t.teardown(() => running.stop())

    const browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    t.teardown(() => browser.close())
    const page = await (await browser.newContext({ viewport: { width: 360, height: 740 }, javaScriptEnabled: false, locale: 'id-ID' })).newPage()

    await page.goto(`http://localhost:${gwPort}/`)
    t.match(await page.textContent('h1'), 'Layanan publik Kabupaten Sukamaju')
    await page.screenshot({ path: path.join(artifacts, '01-portal.png'), fullPage: true })

    await page.click('a.service-link:has-text("Permohonan surat keterangan")')
    t.match(page.url(), `http://localhost:${idpPort}/interaction/`, 'sent to sign in at the idp')
    await page.fill('#username', '3201011201900001')
    await page.fill('#password', 'kopi tubruk di teras rumah')
    await page.click('button[type=submit]:has-text("Masuk")')
    if (page.url().includes('/interaction/')) await page.click('button:has-text("Izinkan")')
    t.equal(page.url(), `http://localhost:${gwPort}/layanan/dinas-contoh/`, 'back at the service it asked for')
    t.equal(await page.textContent('h1'), 'Halo, Budi Santoso', 'the agency read the verified assertion')
    await page.screenshot({ path: path.join(artifacts, '02-layanan.png'), fullPage: true })

    await page.goto(`http://localhost:${gwPort}/`)
    t.match(await page.textContent('main'), 'Anda masuk sebagai Budi Santoso.')
    await page.click('a:has-text("Keluar")')
    t.match(await page.textContent('h1'), 'Keluar dari Satu Pintu?')
    await page.click('button:has-text("Ya, keluar")')
    t.equal(page.url(), `http://localhost:${gwPort}/`)
    t.notMatch(await page.textContent('main'), 'Anda masuk sebagai', 'signed out at the portal too')
    await page.goto(`http://localhost:${gwPort}/layanan/dinas-contoh/`)
    t.match(page.url(), `http://localhost:${idpPort}/interaction/`, 'the service asks for a sign-in again')
  },
)
