/**
 * The embedded database served to other processes (src/db/pglite-server.ts): the wire
 * protocol with a credential, transactions that never interleave with the owner's own
 * queries, and — with the quick start running in a child process — every CLI verb beside
 * it, several at once.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sql } from 'kysely'
import pg from 'pg'
import t from 'tap'
import { servePglite, serverFilePath, type ServerFile } from '../../src/db/pglite-server.ts'
import { freshDatabase } from '../helpers/db.ts'
import { exited, freePort, runCli, spawnCli, waitForOk } from '../helpers/process.ts'

function tempDir(t: { teardown: (fn: () => void) => void }, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test(
  'serves the embedded database on loopback with a password kept in a 0600 file; a wrong password is refused',
  async (t) => {
    const handle = await freshDatabase(t, 'pglite')
    const dir = path.join(tempDir(t, 'sp-serve-'), 'pglite')
    const served = await servePglite(handle.pglite!.client, handle.pglite!.gate, { dir })
    t.teardown(() => served.close())
    const file = serverFilePath(dir)
    t.equal(fs.statSync(file).mode & 0o777, 0o600, 'only the owner can read the credential')
    const info = JSON.parse(fs.readFileSync(file, 'utf8')) as ServerFile
    t.match(info, { pid: process.pid, port: served.port, password: /^[A-Za-z0-9_-]{43}$/ })

    const client = new pg.Client({
      host: '127.0.0.1',
      port: info.port,
      user: 'satupintu',
      password: info.password,
      database: 'postgres',
    })
    await client.connect()
    const r = await client.query<{ n: string }>('select count(*)::text as n from citizens where nik = $1', [
      '3201011201900001',
    ])
    t.strictSame(r.rows, [{ n: '0' }], 'parameterised queries over the extended protocol')
    await client.end()

    const wrong = new pg.Client({
      host: '127.0.0.1',
      port: info.port,
      user: 'satupintu',
      password: 'not-the-password',
      database: 'postgres',
    })
    await t.rejects(wrong.connect(), /password authentication failed/)
    await served.close()
    t.notOk(fs.existsSync(file), 'the file goes with the server')
  },
)

t.test(
  "a client's transaction and the owner's queries take turns; a client that vanishes mid-transaction is rolled back",
  async (t) => {
    const handle = await freshDatabase(t, 'pglite')
    const dir = path.join(tempDir(t, 'sp-serve-'), 'pglite')
    const served = await servePglite(handle.pglite!.client, handle.pglite!.gate, { dir })
    t.teardown(() => served.close())
    const info = JSON.parse(fs.readFileSync(serverFilePath(dir), 'utf8')) as ServerFile
    const connect = async () => {
      const c = new pg.Client({
        host: '127.0.0.1',
        port: info.port,
        user: 'satupintu',
        password: info.password,
        database: 'postgres',
      })
      c.on('error', () => {})
      await c.connect()
      return c
    }

    const cli = await connect()
    await cli.query('begin')
    await cli.query(`insert into audit_events (event, actor) values ('test.from_cli', 'cli')`)
    // The owner's query waits for the client's transaction instead of running inside it.
    let ownerDone = false
    const owner = sql<{ n: number }>`select count(*)::int as n from audit_events where event = 'test.from_cli'`
      .execute(handle.db)
      .then((r) => {
        ownerDone = true
        return r.rows[0]?.n
      })
    await new Promise((r) => setTimeout(r, 200))
    t.equal(ownerDone, false, 'the owner waits while the client is in a transaction')
    await cli.query('rollback')
    t.equal(await owner, 0, 'and never saw the rolled-back row')

    const vanishing = await connect()
    await vanishing.query('begin')
    await vanishing.query(`insert into audit_events (event, actor) values ('test.vanished', 'cli')`)
    ;(vanishing as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy()
    const n = await sql<{
      n: number
    }>`select count(*)::int as n from audit_events where event = 'test.vanished'`.execute(handle.db)
    t.equal(n.rows[0]?.n, 0, 'rolled back when its connection went away')
    t.equal(handle.pglite!.client.isInTransaction(), false)
    await cli.end()
  },
)

t.test('every CLI verb works beside a running quick start on PGlite, several at once', async (t) => {
  const dir = tempDir(t, 'sp-beside-')
  const ports = { IDP_PORT: await freePort(), GATEWAY_PORT: await freePort(), DEMO_AGENCY_PORT: await freePort() }
  const env = {
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    SATUPINTU_DATA_DIR: dir,
    PGLITE_DATA_DIR: path.join(dir, 'pglite'),
    ISSUER: `http://localhost:${ports.IDP_PORT}`,
    GATEWAY_URL: `http://localhost:${ports.GATEWAY_PORT}`,
    IDP_PORT: String(ports.IDP_PORT),
    GATEWAY_PORT: String(ports.GATEWAY_PORT),
    DEMO_AGENCY_PORT: String(ports.DEMO_AGENCY_PORT),
  }
  const run = spawnCli(['start', '--demo'], env)
  t.teardown(() => {
    run.child.kill('SIGKILL')
  })
  t.ok(await waitForOk(`http://localhost:${ports.IDP_PORT}/readyz`, 120_000), `the quick start is up\n${run.output()}`)

  const cli = (args: string[]) => runCli(args, { ...env, LOG_LEVEL: 'silent' }, 120_000)
  const [add, outbox, show, keys, status] = await Promise.all([
    cli([
      'clients',
      'add',
      '--name',
      'Dinas Uji',
      '--agency',
      'dinas-uji',
      '--client-id',
      'dinas-uji-web',
      '--redirect-uri',
      'https://uji.example.id/cb',
    ]),
    cli(['outbox']),
    cli(['citizens', 'show', '3201011201900001', '--reason', 'uji beside the quick start']),
    cli(['keys', 'list']),
    cli(['migrate', '--status']),
  ])
  t.equal(add.code, 0, add.stderr)
  t.match(add.stdout, /^client_id:\s+dinas-uji-web$/m)
  t.equal(outbox.code, 0, outbox.stderr)
  t.match(outbox.stdout, /^queued \d+ · sending \d+ · sent \d+ · failed \d+ · dead \d+$/m)
  t.equal(show.code, 0, show.stderr)
  t.match(show.stdout, /^nik\s+3201011201900001$/m)
  t.equal(keys.code, 0, keys.stderr)
  t.match(keys.stdout, /ES256/)
  t.equal(status.code, 0, status.stderr)
  t.match(status.stdout, /20261201T2040-outbox-delivery/)

  // The look-up's notice went through the running process's worker to its mailbox.
  const again = await cli(['clients', 'list'])
  t.equal(again.code, 0, again.stderr)
  t.match(again.stdout, /dinas-uji-web/)
  const deadline = Date.now() + 20_000
  let listed = ''
  while (Date.now() < deadline) {
    listed = (await cli(['outbox', '--json'])).stdout
    if (
      /"kind":"officer_lookup","locale":"id"[^}]*"status":"sent"|"status":"sent"[^}]*"kind":"officer_lookup"/.test(
        listed.replace(/\s+/g, ''),
      )
    )
      break
    await new Promise((r) => setTimeout(r, 500))
  }
  const rows = (JSON.parse(listed) as { messages: Array<{ kind: string; status: string; provider: string | null }> })
    .messages
  t.match(
    rows.find((m) => m.kind === 'officer_lookup'),
    { status: 'sent', provider: 'dev-mailbox' },
  )
  const page = await fetch(`http://localhost:${ports.IDP_PORT}/dev/kotak-surat`)
  t.equal(page.status, 200)
  t.match(await page.text(), /Petugas membuka data akun Anda/)

  run.child.kill('SIGTERM')
  t.match(await exited(run.child, 30_000), { code: 0 })
  t.notOk(fs.existsSync(serverFilePath(path.join(dir, 'pglite'))), 'the server file is removed at shutdown')
  const after = await cli(['keys', 'list'])
  t.equal(after.code, 0, 'with the quick start stopped, the CLI opens the directory itself again')
})
