/**
 * The whole quick-start stack (idp, gateway, demo agency) on fresh ports and a fresh
 * PGlite folder, with the shipped agencies file pointed at the demo agency's port, and a
 * Chromium page configured as the browser tests use it (phone size, JavaScript off).
 */
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import type { Page } from 'playwright-core'
import type { Test } from 'tap'
import { loadConfig } from '../../src/config/load.ts'
import { startServices } from '../../src/main.ts'
import { launchChromium } from './chromium.ts'
import { silentLogger } from './config.ts'
import { listenOnAnyPort, projectRoot, withFreshPorts } from './process.ts'

export { chromiumMissing, chromiumPath } from './chromium.ts'

export interface QuickStack {
  dir: string
  idpPort: number
  gwPort: number
  agencyPort: number
}

/**
 * `extraAgencies`: YAML list entries appended to the shipped agencies file (a second
 * agency behind the gateway, for the isolation tests); `{agencyPort}` is replaced.
 */
export async function startQuickStack(t: Test, opts: { extraAgencies?: string } = {}): Promise<QuickStack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-stack-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const stack = await withFreshPorts(3, async ([idpPort = 0, gwPort = 0, agencyPort = 0]) => {
    const agencies = path.join(dir, 'agencies.yaml')
    const shipped = fs.readFileSync(path.join(projectRoot, 'config', 'agencies.yaml'), 'utf8')
    fs.writeFileSync(
      agencies,
      shipped.replace('http://127.0.0.1:8081', `http://127.0.0.1:${agencyPort}`) + (opts.extraAgencies ?? ''),
    )
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
    const running = await startServices(config, ['idp', 'gateway', 'demo-agency'], { logger: silentLogger() })
    return { running, idpPort, gwPort, agencyPort }
  })
  t.teardown(() => stack.running.stop())
  return { dir, idpPort: stack.idpPort, gwPort: stack.gwPort, agencyPort: stack.agencyPort }
}

/** A phone-sized Chromium page with JavaScript off, closed when `t` ends. */
export async function phonePage(t: Test): Promise<Page> {
  const browser = await launchChromium()
  t.teardown(() => browser.close())
  return (
    await browser.newContext({ viewport: { width: 360, height: 740 }, javaScriptEnabled: false, locale: 'id-ID' })
  ).newPage()
}

/** A relying party's back-channel logout endpoint on 127.0.0.1 that keeps the logout tokens it receives. */
export async function backchannelReceiver(t: Test): Promise<{ port: number; received: string[] }> {
  const received: string[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      received.push(new URLSearchParams(body).get('logout_token') ?? '')
      res.writeHead(200).end()
    })
  })
  const port = await listenOnAnyPort(server)
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return { port, received }
}
