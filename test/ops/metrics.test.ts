/**
 * Issue 12 §2, what an operator sees: each service's `/metrics` (Prometheus text format,
 * prom-client) on a listener of its own, scraped here; the public ports answer 404 for
 * it. Counters are asserted as exact increments across known requests.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { loadConfig } from '../../src/config/load.ts'
import { buildIdp } from '../../src/idp/app.ts'
import { serveMetrics } from '../../src/http/metrics.ts'
import { startServices, type Running } from '../../src/main.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'
import { freshDatabase, testDatabaseUrl, type TestDatabase } from '../helpers/db.ts'
import { Browser, codeFlowTokens, registerClient, signIn, testKek } from '../helpers/idp.ts'
import { projectRoot, withFreshPorts } from '../helpers/process.ts'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

function parse(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not Prometheus text: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string
    out.push({ name: m[1] as string, labels, value: Number(m[3]) })
  }
  return out
}

/** The sum of the samples named `name` whose labels include `labels` (0 when none). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0)
}

function has(samples: Sample[], name: string, labels: Record<string, string> = {}): boolean {
  return samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
}

async function scrape(t: Test, url: string): Promise<Sample[]> {
  const res = await request(url)
  t.equal(res.statusCode, 200, 'scrape answered 200')
  t.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  return parse(await res.body.text())
}

async function start(
  t: Test,
  services: Parameters<typeof startServices>[1],
  database: Record<string, unknown>,
  dir: string,
) {
  return withFreshPorts(5, async ([idpPort = 0, gwPort = 0, agencyPort = 0, idpMetrics = 0, gwMetrics = 0]) => {
    const agencies = path.join(dir, 'agencies.yaml')
    const shipped = fs.readFileSync(path.join(projectRoot, 'config', 'agencies.yaml'), 'utf8')
    fs.writeFileSync(agencies, shipped.replace('http://127.0.0.1:8081', `http://127.0.0.1:${agencyPort}`))
    const config = loadConfig({
      env: { NODE_ENV: 'test' },
      overrides: {
        dataDir: dir,
        log: { level: 'silent' },
        database,
        idp: { issuer: `http://127.0.0.1:${idpPort}`, port: idpPort },
        gateway: { publicUrl: `http://localhost:${gwPort}`, port: gwPort, agenciesFile: agencies },
        demoAgency: { port: agencyPort },
        metrics: { idpPort: idpMetrics, gatewayPort: gwMetrics },
        // testKek's: a second instance built by the test reads the same keys.
        secrets: { keyEncryptionKey: 'test-key-encryption-secret-0123456789abcdef' },
      },
    })
    const running = await startServices(config, services, { logger: silentLogger() })
    t.teardown(() => running.stop())
    return { running, config, idpPort, gwPort, idpMetrics, gwMetrics }
  })
}

function tmpDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-metrics-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test(
  'idp: /metrics on its own port counts requests, sign-ins, token grants, the outbox and the pool; the public port says 404',
  async (t) => {
    const dir = tmpDir(t)
    const fresh = testDatabaseUrl === undefined ? undefined : await freshDatabase(t, 'postgres')
    const database = fresh === undefined ? { pgliteDir: path.join(dir, 'pglite') } : { url: fresh.url }
    const { running, idpPort, idpMetrics } = await start(t, ['idp'], database, dir)
    const db = (running as Running).database as TestDatabase
    const issuer = `http://127.0.0.1:${idpPort}`
    const metricsUrl = `http://127.0.0.1:${idpMetrics}/metrics`
    t.equal(running.metrics[0]?.url, metricsUrl, 'the metrics listener is the configured one')

    // Never on the public port.
    for (const p of ['/metrics', '/metrics/']) {
      const res = await request(`${issuer}${p}`)
      await res.body.dump()
      t.equal(res.statusCode, 404, `public port: GET ${p} is 404`)
    }

    await addCitizen(db.db, budi)
    const client = await registerClient(db as TestDatabase, { redirectUris: ['http://127.0.0.1:9/cb'] })
    const before = await scrape(t, metricsUrl)

    for (let i = 0; i < 3; i++) {
      const res = await request(`${issuer}/jwks`)
      await res.body.dump()
    }
    // One wrong password, then a whole code flow.
    await signIn(new Browser(), (await authorizationUrl(issuer, client.clientId)).href, issuer, {
      username: budi.nik,
      password: 'salah sekali kata sandinya',
    }).catch(() => undefined)
    await codeFlowTokens(issuer, { clientId: client.clientId, secret: client.secret }, new Browser(), {
      redirectUri: 'http://127.0.0.1:9/cb',
      credentials: { username: budi.nik, password: budi.password },
    })
    await db.db
      .insertInto('outbox')
      .values(
        [1, 2].map((n) => ({
          channel: 'email' as const,
          recipient: `uji${n}@contoh.id`,
          subject: 'uji',
          body: 'uji',
          kind: 'test',
        })),
      )
      .execute()

    const after = await scrape(t, metricsUrl)
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels)
    t.equal(
      delta('satupintu_http_requests_total', { service: 'idp', method: 'GET', route: '/jwks', status: '200' }),
      3,
      'three GET /jwks, counted by route and status',
    )
    t.equal(
      delta('satupintu_http_request_duration_seconds_count', { method: 'GET', route: '/jwks', status: '200' }),
      3,
      'and timed',
    )
    t.equal(
      delta('satupintu_http_requests_total', { method: 'POST', route: '/token', status: '200' }),
      1,
      'one token request',
    )
    t.equal(delta('satupintu_sign_ins_total', { result: 'failed', account: 'citizen' }), 1, 'one failed sign-in')
    t.equal(
      delta('satupintu_sign_ins_total', { result: 'succeeded', method: 'password', account: 'citizen' }),
      1,
      'one password sign-in',
    )
    t.equal(
      delta('satupintu_token_grants_total', { grant_type: 'authorization_code' }),
      1,
      'one authorization_code grant',
    )
    const queued = await sql<{ n: number }>`select count(*)::int as n from outbox where status = 'queued'`.execute(
      db.db,
    )
    t.equal(
      value(after, 'satupintu_outbox_messages', { status: 'queued' }),
      queued.rows[0]?.n,
      `outbox depth: ${queued.rows[0]?.n} queued`,
    )
    t.ok((queued.rows[0]?.n ?? 0) >= 2, 'the two rows of the test are among them')
    t.equal(value(after, 'satupintu_db_up'), 1, 'the database answered the scrape')
    t.ok(
      value(after, 'satupintu_signing_key_age_seconds', { purpose: 'oidc' }) >= 0 &&
        has(after, 'satupintu_signing_key_age_seconds', { purpose: 'cookie' }),
      'key ages per purpose',
    )
    if (fresh !== undefined) {
      t.ok(value(after, 'satupintu_db_pool_connections', { state: 'total' }) >= 1, 'pool connections (PostgreSQL)')
      t.ok(has(after, 'satupintu_db_connection_errors_total'), 'pool errors')
    }
    t.ok(has(after, 'process_cpu_user_seconds_total') && has(after, 'nodejs_heap_size_used_bytes'), 'process metrics')
    t.ok(
      after.every((s) => s.labels.service === 'idp'),
      'every sample names its service',
    )

    // A second instance in the same process has a registry of its own: no clash, its own counts.
    const second = await buildIdp({
      config: testConfig({ idp: { issuer, port: idpPort } }),
      database: db,
      logger: silentLogger(),
      keyEncryption: testKek,
    })
    t.teardown(() => second.close())
    const res = await second.inject({ method: 'GET', url: '/jwks', headers: { host: `127.0.0.1:${idpPort}` } })
    t.equal(res.statusCode, 200)
    const own = parse(await second.metrics.registry.metrics())
    t.equal(
      value(own, 'satupintu_http_requests_total', { route: '/jwks' }),
      1,
      'the second instance counted only its own request',
    )
    const first = await scrape(t, metricsUrl)
    t.equal(
      value(first, 'satupintu_http_requests_total', { route: '/jwks' }),
      value(after, 'satupintu_http_requests_total', { route: '/jwks' }),
      'the first did not count it',
    )
  },
)

t.test('the metrics listener answers only the allow-list, and only /metrics', async (t) => {
  const fresh = await freshDatabase(t, 'pglite')
  const app = await buildIdp({ config: testConfig(), database: fresh, logger: silentLogger(), keyEncryption: testKek })
  t.teardown(() => app.close())
  const refused = await serveMetrics(app.metrics.registry, { host: '127.0.0.1', port: 0, allow: ['192.0.2.10'] })
  t.teardown(() => refused.close())
  const res = await request(refused.url)
  t.equal(res.statusCode, 403, 'a peer not in metrics.allow gets 403')
  t.notMatch(await res.body.text(), /satupintu_/, 'and no metrics')
  const open = await serveMetrics(app.metrics.registry, { host: '127.0.0.1', port: 0, allow: ['loopback'] })
  t.teardown(() => open.close())
  const other = await request(open.url.replace('/metrics', '/healthz'))
  await other.body.dump()
  t.equal(other.statusCode, 404, 'nothing else is served there')
  t.equal((await request(open.url)).statusCode, 200)
})

t.test('gateway: /metrics on its own port counts agency requests by agency; the public port says 404', async (t) => {
  const dir = tmpDir(t)
  const { running, gwPort, gwMetrics } = await start(
    t,
    ['idp', 'gateway', 'demo-agency'],
    { pgliteDir: path.join(dir, 'pglite') },
    dir,
  )
  t.equal(running.metrics.length, 2, 'one metrics listener per service')
  const metricsUrl = `http://127.0.0.1:${gwMetrics}/metrics`
  const res404 = await request(`http://127.0.0.1:${gwPort}/metrics`, { headers: { host: `localhost:${gwPort}` } })
  await res404.body.dump()
  t.equal(res404.statusCode, 404, 'public port: GET /metrics is 404')
  const before = await scrape(t, metricsUrl)
  for (let i = 0; i < 2; i++) {
    const res = await request(`http://127.0.0.1:${gwPort}/info`, {
      headers: { host: `dinas-contoh.localhost:${gwPort}` },
    })
    await res.body.dump()
    t.equal(res.statusCode, 200, 'a public agency route')
  }
  const after = await scrape(t, metricsUrl)
  const delta = (name: string, labels: Record<string, string>) =>
    value(after, name, labels) - value(before, name, labels)
  t.equal(
    delta('satupintu_upstream_request_duration_seconds_count', {
      service: 'gateway',
      agency: 'dinas-contoh',
      status: '200',
    }),
    2,
    'two agency requests, timed per agency',
  )
  t.equal(delta('satupintu_upstream_errors_total', { agency: 'dinas-contoh' }), 0, 'no upstream error')
  t.equal(
    delta('satupintu_http_requests_total', { method: 'GET', status: '200', route: '/layanan/dinas-contoh/*' }),
    2,
    'and by route',
  )
  t.ok(has(after, 'satupintu_signing_key_age_seconds', { purpose: 'gateway' }), "the gateway's assertion key age")
})

async function authorizationUrl(issuer: string, clientId: string): Promise<URL> {
  const u = new URL(`${issuer}/auth`)
  u.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: 'http://127.0.0.1:9/cb',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  }).toString()
  return u
}
