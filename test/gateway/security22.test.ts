/**
 * SECURITY 22 end to end, with the real idp and gateway: whatever the citizen presents
 * to the gateway (its session cookie, the idp's cookies a browser shares across ports of
 * one host, a bearer access token), none of it reaches the agency.
 */
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { loadConfig } from '../../src/config/load.ts'
import { startServices } from '../../src/main.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { silentLogger } from '../helpers/config.ts'
import { Browser, signIn } from '../helpers/idp.ts'
import { freePort, withFreshPorts } from '../helpers/process.ts'

t.test("SECURITY 22: the citizen's session cookie and the idp's cookies never reach an agency", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-sec22-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const seen: http.IncomingHttpHeaders[] = []
  const upstream = http.createServer((req, res) => {
    seen.push(req.headers)
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
  })
  const upstreamPort = await freePort()
  await new Promise<void>((r) => upstream.listen(upstreamPort, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => upstream.close(() => r())))
  const agencies = path.join(dir, 'agencies.yaml')
  fs.writeFileSync(
    agencies,
    `agencies:\n  - id: dinas-uji\n    name: { id: Dinas Uji, en: Test Agency }\n    upstream: http://127.0.0.1:${upstreamPort}\n    services:\n      - id: layanan\n        name: { id: Layanan, en: Service }\n        path: /\n        access: signed_in\n`,
  )
  const { running, idpPort, gwPort } = await withFreshPorts(2, async ([idpPort = 0, gwPort = 0]) => {
    const config = loadConfig({
      env: { NODE_ENV: 'development' },
      overrides: {
        dataDir: dir,
        log: { level: 'silent' },
        database: { pgliteDir: path.join(dir, 'pglite') },
        idp: { issuer: `http://localhost:${idpPort}`, port: idpPort },
        gateway: { publicUrl: `http://localhost:${gwPort}`, port: gwPort, agenciesFile: agencies },
      },
    })
    return { running: await startServices(config, ['idp', 'gateway'], { logger: silentLogger() }), idpPort, gwPort }
  })
  t.teardown(() => running.stop())
  await addCitizen(running.database!.db, budi)

  // A browser: one cookie jar for both ports, as browsers keep cookies per host.
  const browser = new Browser()
  const service = `http://dinas-uji.localhost:${gwPort}/`
  const start = await browser.request(service)
  t.equal(start.status, 303)
  const callback = await signIn(browser, start.headers.get('location') ?? '', `http://localhost:${idpPort}`, {
    username: budi.nik,
    password: budi.password,
  })
  const back = await browser.request(callback)
  t.equal(back.status, 303, 'the gateway finished the sign-in')
  const names = [...browser.cookies.keys()]
  t.ok(names.includes('sp_gw'), 'the browser holds the gateway session')
  t.ok(
    names.some((n) => n.startsWith('sp_session')),
    'and the idp session',
  )
  // The agency's own cookie, as the gateway stores it (the ag_ namespace; plain http here).
  browser.cookies.set('ag_agency_pref', { value: 'kept', path: '/' })

  const res = await browser.request(service)
  t.equal(res.status, 200, 'served with the session')
  const headers = seen.at(-1) ?? {}
  t.equal(headers.cookie, 'agency_pref=kept', "only the agency's own cookie passes")
  t.notMatch(JSON.stringify(headers), /sp_gw|sp_session|sp_interaction/, 'nothing of ours in any header')
  t.match(String(headers['x-satupintu-assertion']), /^ey/, 'the agency gets the signed assertion instead')

  // A token the gateway cannot verify is answered by the gateway; the agency sees nothing.
  const before = seen.length
  const bad = await browser.request(service, {
    headers: { authorization: 'Bearer not-for-agencies', accept: 'application/json' },
  })
  t.equal(bad.status, 401)
  t.equal(seen.length, before, 'the request never reached the agency')
})
