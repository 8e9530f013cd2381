/**
 * Fresh databases for tests. `eachDatabase(t, fn)` runs `fn` once on a new PGlite
 * database and, when TEST_DATABASE_URL is set, once more on a new PostgreSQL database,
 * each as its own subtest; both are migrated and dropped at the end. Test files can run
 * in parallel: nothing is shared between them.
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import type { Test } from 'tap'
import { openDatabase, wrapPglite, type DatabaseHandle, type DatabaseKind } from '../../src/db/create.ts'
import { migrateToLatestOrThrow, migrationsDir } from '../../src/db/migrator.ts'

export const testDatabaseUrl: string | undefined = process.env.TEST_DATABASE_URL || undefined

export interface TestDatabase extends DatabaseHandle {
  /** For PostgreSQL: the URL of this test's own database (to open a second pool, a CLI…). */
  readonly url: string | undefined
}

/** The backends this run covers: PGlite always, PostgreSQL when TEST_DATABASE_URL is set. */
export function databaseKinds(): DatabaseKind[] {
  return testDatabaseUrl === undefined ? ['pglite'] : ['pglite', 'postgres']
}

/** Runs `fn` as a subtest per backend, each with its own fresh, migrated database. */
export async function eachDatabase(t: Test, fn: (t: Test, db: TestDatabase) => Promise<void>): Promise<void> {
  for (const kind of databaseKinds()) {
    await t.test(`on ${kind}`, async (t) => {
      const db = await freshDatabase(t, kind)
      await fn(t, db)
    })
  }
}

/** A new migrated database of the given kind, destroyed when `t` ends. */
export async function freshDatabase(t: Test, kind: DatabaseKind): Promise<TestDatabase> {
  const db = kind === 'pglite' ? await freshPglite() : await freshPostgres()
  t.teardown(() => db.close())
  return db
}

function migrationsHash(): string {
  const h = createHash('sha256')
  for (const f of fs.readdirSync(migrationsDir).sort()) {
    h.update(f)
    h.update(fs.readFileSync(path.join(migrationsDir, f)))
  }
  return h.digest('hex').slice(0, 16)
}

/**
 * A migrated PGlite data directory, dumped once per set of migrations and cached in the
 * temp folder: restoring it takes ~0.4 s where a fresh start plus migrations takes ~3 s.
 */
async function pgliteSnapshot(): Promise<Buffer> {
  const file = path.join(os.tmpdir(), `satupintu-pglite-${migrationsHash()}.tar.gz`)
  try {
    return fs.readFileSync(file)
  } catch {
    // Not there yet: make it.
  }
  const client = await PGlite.create()
  const handle = wrapPglite(client, 'memory')
  await migrateToLatestOrThrow(handle.db)
  const dump = await client.dumpDataDir('gzip')
  const buf = Buffer.from(await dump.arrayBuffer())
  await handle.close()
  // Write then rename, so a parallel test file never reads half a snapshot.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`
  fs.writeFileSync(tmp, buf)
  fs.renameSync(tmp, file)
  return buf
}

async function freshPglite(): Promise<TestDatabase> {
  const snapshot = await pgliteSnapshot()
  const client = await PGlite.create({ loadDataDir: new Blob([new Uint8Array(snapshot)]) })
  return Object.assign(wrapPglite(client, 'memory'), { url: undefined })
}

/**
 * A migrated PostgreSQL database to copy from, made once per set of migrations and kept on
 * the server (`satupintu_tpl_<hash>`): `create database … template …` takes ~0.1 s where a
 * new database plus every migration takes a second or more. Parallel test files serialise
 * on an advisory lock while the first of them builds it; it is built under a temporary name
 * and renamed, so a half-migrated template is never copied. Templates of other migration
 * sets are left alone: another checkout's run may be copying one right now (drop
 * `satupintu_tpl_*` by hand to reclaim the space; CI starts from none).
 */
async function postgresTemplate(admin: pg.Client): Promise<string> {
  const hash = migrationsHash()
  const template = `satupintu_tpl_${hash}`
  const exists = async () =>
    (await admin.query('select 1 from pg_database where datname = $1', [template])).rowCount === 1
  if (await exists()) return template
  await admin.query('select pg_advisory_lock(hashtext($1))', [template])
  try {
    if (await exists()) return template
    const building = `${template}_building`
    await admin.query(`drop database if exists ${building} with (force)`)
    await admin.query(`create database ${building}`)
    const url = new URL(testDatabaseUrl as string)
    url.pathname = `/${building}`
    const handle = await openDatabase({
      url: url.toString(),
      pgliteDir: '',
      autoMigrate: true,
      poolMax: 1,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 60000,
      queryTimeoutMs: 65000,
    })
    try {
      await migrateToLatestOrThrow(handle.db)
    } finally {
      await handle.close()
    }
    await admin.query(`alter database ${building} rename to ${template}`)
    return template
  } finally {
    await admin.query('select pg_advisory_unlock(hashtext($1))', [template])
  }
}

async function freshPostgres(): Promise<TestDatabase> {
  if (testDatabaseUrl === undefined) throw new Error('TEST_DATABASE_URL is not set')
  const name = `satupintu_t_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: testDatabaseUrl })
  await admin.connect()
  try {
    const template = await postgresTemplate(admin)
    await admin.query(`create database ${name} template ${template}`)
  } finally {
    await admin.end()
  }
  const url = new URL(testDatabaseUrl)
  url.pathname = `/${name}`
  const handle = await openDatabase({
    url: url.toString(),
    pgliteDir: '',
    autoMigrate: true,
    poolMax: 5,
    connectTimeoutMs: 5000,
    statementTimeoutMs: 30000,
    queryTimeoutMs: 35000,
  })
  return {
    ...handle,
    url: url.toString(),
    async close() {
      await handle.close()
      const c = new pg.Client({ connectionString: testDatabaseUrl })
      await c.connect()
      try {
        await c.query(`drop database if exists ${name} with (force)`)
      } finally {
        await c.end()
      }
    },
  }
}
