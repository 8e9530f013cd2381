import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { sql } from 'kysely'
import { DatabaseOpenError, openDatabase } from '../../src/db/create.ts'
import { MigrationError, migrateToLatestOrThrow, migrationsDir, pendingMigrations } from '../../src/db/migrator.ts'
import { testConfig } from '../helpers/config.ts'
import { eachDatabase } from '../helpers/db.ts'

function tempDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-db-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('opens the embedded database in a folder, and keeps its data across reopening', async (t) => {
  const dir = tempDir(t)
  const cfg = { ...testConfig().database, pgliteDir: path.join(dir, 'pglite') }
  const first = await openDatabase(cfg)
  t.equal(first.kind, 'pglite')
  await migrateToLatestOrThrow(first.db)
  await first.db.insertInto('audit_events').values({ event: 'kept', actor: 'system' }).execute()
  await first.close()
  t.notOk(fs.existsSync(`${cfg.pgliteDir}.lock`), 'the lock is released on close')
  const second = await openDatabase(cfg)
  const rows = await second.db.selectFrom('audit_events').select('event').execute()
  t.same(rows, [{ event: 'kept' }])
  await second.close()
})

t.test('refuses a second opening of the same embedded database while the first holds it', async (t) => {
  const dir = tempDir(t)
  const cfg = { ...testConfig().database, pgliteDir: path.join(dir, 'pglite') }
  const first = await openDatabase(cfg)
  t.teardown(() => first.close())
  // Another live process holds the lock: simulate with our parent's pid.
  await first.close()
  fs.writeFileSync(`${cfg.pgliteDir}.lock`, String(process.ppid))
  await t.rejects(openDatabase(cfg), {
    name: 'DatabaseOpenError',
    message: /in use by another Satu Pintu process \(pid \d+\)/,
  })
  fs.rmSync(`${cfg.pgliteDir}.lock`)
})

t.test('takes over a stale lock left by a process that is gone', async (t) => {
  const dir = tempDir(t)
  const cfg = { ...testConfig().database, pgliteDir: path.join(dir, 'pglite') }
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(`${cfg.pgliteDir}.lock`, '2147483646')
  const db = await openDatabase(cfg)
  t.equal(db.kind, 'pglite')
  await db.close()
})

t.test('a database that refuses connections fails with one line naming where, never the password', async (t) => {
  const cfg = { ...testConfig().database, url: 'postgres://u:secret-pw@127.0.0.1:1/nothing', connectTimeoutMs: 2000 }
  const err = await openDatabase(cfg).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err instanceof DatabaseOpenError)
  t.match((err as Error).message, /^database: cannot connect to PostgreSQL at 127\.0\.0\.1:1\/nothing: .*ECONNREFUSED/)
  t.notMatch((err as Error).message, /secret-pw|\n/)
})

t.test('a failing migration throws, names the migration, and leaves it unapplied', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    // Inside the project, so that the copied migrations resolve `kysely` from node_modules.
    fs.mkdirSync('.tap', { recursive: true })
    const dir = fs.mkdtempSync(path.resolve('.tap', 'migrations-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    // The real migrations (already applied), then a broken one.
    fs.cpSync(migrationsDir, dir, { recursive: true })
    fs.writeFileSync(
      path.join(dir, '20990101T0000-broken.ts'),
      "export async function up(db) { await db.schema.createTable('half_done').addColumn('id', 'integer').execute(); await db.selectFrom('no_such_table').selectAll().execute() }\nexport async function down() {}\n",
    )
    const err = await migrateToLatestOrThrow(db, dir).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.ok(err instanceof MigrationError)
    t.match((err as Error).message, /^migration 20990101T0000-broken failed: /)
    t.same(await pendingMigrations(db, dir), ['20990101T0000-broken'])
    const { rows } = await sql<{
      n: string | number
    }>`select count(*) as n from information_schema.tables where table_name = 'half_done'`.execute(db)
    t.equal(Number(rows[0]?.n), 0, 'the migration ran in a transaction: nothing half-written')
  })
})
