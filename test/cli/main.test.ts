import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { freePort, runCli } from '../helpers/process.ts'
import { testDatabaseUrl } from '../helpers/db.ts'

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-cli-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('--help lists the verbs and exits 0', async (t) => {
  const r = await runCli(['--help'])
  t.equal(r.code, 0)
  for (const verb of ['start', 'idp', 'gateway', 'migrate']) t.match(r.stdout, new RegExp(`^\\s+${verb}\\b`, 'm'), verb)
})

t.test('every verb has --help', async (t) => {
  for (const verb of ['start', 'idp', 'gateway', 'migrate']) {
    const r = await runCli([verb, '--help'])
    t.equal(r.code, 0, verb)
    t.match(r.stdout, new RegExp(`Usage: satupintu ${verb}`), verb)
  }
})

t.test('an unknown verb exits 2 with usage', async (t) => {
  const r = await runCli(['bogus'])
  t.equal(r.code, 2)
  t.match(r.stderr, /unknown command 'bogus'/)
  t.match(r.stderr, /satupintu --help/)
})

t.test('no verb at all prints usage and exits 2', async (t) => {
  const r = await runCli([])
  t.equal(r.code, 2)
  t.match(r.stderr, /Usage: satupintu/)
})

t.test('an unknown option exits 2', async (t) => {
  const r = await runCli(['migrate', '--frobnicate'])
  t.equal(r.code, 2)
  t.match(r.stderr, /unknown option '--frobnicate'/)
})

t.test('SECURITY 30: PORT=abc stops with one line naming the key, exit 1, nothing written', async (t) => {
  const dir = tempDir(t)
  const r = await runCli(['idp'], { PORT: 'abc', SATUPINTU_DATA_DIR: dir, PGLITE_DATA_DIR: path.join(dir, 'pglite') })
  t.equal(r.code, 1)
  t.equal(r.stderr, 'satupintu: config: http.port (env PORT) must be an integer, got "abc"\n')
  t.same(fs.readdirSync(dir), [], 'no database created')
})

t.test('an unknown NODE_ENV stops with one line, exit 1', async (t) => {
  const r = await runCli(['migrate'], { NODE_ENV: 'staging' })
  t.equal(r.code, 1)
  t.equal(
    r.stderr,
    'satupintu: config: env (env NODE_ENV) must be one of development, production, test, got "staging"\n',
  )
})

t.test('a malformed DATABASE_URL stops with one line, exit 1', async (t) => {
  const r = await runCli(['migrate'], { DATABASE_URL: 'not a url' })
  t.equal(r.code, 1)
  t.match(
    r.stderr,
    /^satupintu: config: database\.url \(env DATABASE_URL\) must be a postgres:\/\/ or postgresql:\/\/ URL\n$/,
  )
})

t.test('SECURITY 30: a database that refuses connections at start stops with one line, exit 1', async (t) => {
  const r = await runCli(['gateway'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' })
  t.equal(r.code, 1)
  t.match(r.stderr, /^satupintu: database: cannot connect to PostgreSQL at 127\.0\.0\.1:1\/none: .*\n$/)
  t.equal(r.stderr.split('\n').length, 2, 'one line')
})

t.test(
  'SECURITY 30: a wildcard redirect URI in the clients file stops the idp at start with one line, exit 1',
  async (t) => {
    const dir = tempDir(t)
    const clients = path.join(dir, 'clients.yaml')
    fs.writeFileSync(
      clients,
      'clients:\n  - client_id: izin-web\n    name: Izin\n    agency: dpmptsp\n    redirect_uris: [https://*.example.go.id/cb]\n    scopes: [openid]\n',
    )
    const config = path.join(dir, 'satupintu.yaml')
    fs.writeFileSync(config, `idp:\n  clientsFile: ${JSON.stringify(clients)}\n`)
    const r = await runCli(['idp'], {
      SATUPINTU_CONFIG: config,
      SATUPINTU_DATA_DIR: dir,
      PGLITE_DATA_DIR: path.join(dir, 'pglite'),
      PORT: String(await freePort()),
    })
    t.equal(r.code, 1)
    t.match(r.stderr, /^satupintu: .*clients\[0\]\.redirect_uris\[0\]: .*\n$/)
    t.equal(r.stderr.split('\n').length, 2, 'one line')
  },
)

t.test('migrate applies migrations once, reports JSON, and --status lists them', async (t) => {
  const dir = tempDir(t)
  const env = { PGLITE_DATA_DIR: path.join(dir, 'pglite') }
  const first = await runCli(['migrate', '--json'], env)
  t.equal(first.code, 0, first.stderr)
  const applied = JSON.parse(first.stdout) as { database: string; applied: string[] }
  t.equal(applied.database, 'pglite')
  t.ok(applied.applied.length >= 1)
  const again = await runCli(['migrate', '--json'], env)
  t.same(JSON.parse(again.stdout), { database: 'pglite', applied: [] })
  const status = await runCli(['migrate', '--status', '--json'], env)
  const s = JSON.parse(status.stdout) as { migrations: { name: string; applied_at: string | null }[] }
  t.ok(s.migrations.every((m) => m.applied_at !== null))
})

t.test('a server refuses to start while migrations are pending and auto-migrate is off', async (t) => {
  const dir = tempDir(t)
  const r = await runCli(['idp'], {
    PGLITE_DATA_DIR: path.join(dir, 'pglite'),
    DATABASE_AUTO_MIGRATE: 'false',
    PORT: String(await freePort()),
  })
  t.equal(r.code, 1)
  t.match(r.stderr, /^satupintu: database: \d+ migration\(s\) pending \(.+\); run `satupintu migrate` first\n$/)
})

t.test(
  'migrate works against PostgreSQL too',
  { skip: testDatabaseUrl === undefined ? 'TEST_DATABASE_URL not set' : false },
  async (t) => {
    const pg = await import('pg')
    const name = `satupintu_cli_${process.pid}`
    const admin = new pg.default.Client({ connectionString: testDatabaseUrl })
    await admin.connect()
    await admin.query(`drop database if exists ${name}`)
    await admin.query(`create database ${name}`)
    t.teardown(async () => {
      await admin.query(`drop database if exists ${name} with (force)`)
      await admin.end()
    })
    const url = new URL(testDatabaseUrl as string)
    url.pathname = `/${name}`
    const r = await runCli(['migrate', '--json'], { DATABASE_URL: url.toString() })
    t.equal(r.code, 0, r.stderr)
    t.equal((JSON.parse(r.stdout) as { database: string }).database, 'postgres')
  },
)
