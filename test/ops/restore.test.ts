/**
 * Issue 12 part 2, the runbook's "Restoring from a backup" (docs/operations.md), followed
 * as written: `pg_dump --format=custom` of a live database, `pg_restore` into a new empty
 * one, and the idp started on the restored database serves what was in the backup: it is
 * ready, nothing is pending, and a citizen signs in with the password from before.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import t from 'tap'
import { openDatabase } from '../../src/db/create.ts'
import { pendingMigrations } from '../../src/db/migrator.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { freshDatabase, testDatabaseUrl } from '../helpers/db.ts'
import { Browser, signInAt, startIdp } from '../helpers/idp.ts'

const run = promisify(execFile)
const noPostgres =
  testDatabaseUrl === undefined
    ? 'TEST_DATABASE_URL is not set'
    : fs.existsSync('/usr/bin/pg_dump')
      ? false
      : 'pg_dump is not installed'

t.test(
  'a database restored from a pg_dump backup starts and serves: ready, nothing pending, the citizen signs in',
  { skip: noPostgres },
  async (t) => {
    const source = await freshDatabase(t, 'postgres')
    // What a running idp writes before the backup: its keys, its relying party, a citizen.
    const before = await startIdp(t, source)
    const citizen = await addCitizen(source.db)
    t.equal((await fetch(`${before.issuer}/readyz`)).status, 200)
    await before.app.close()

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-restore-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    const dump = path.join(dir, 'satupintu.dump')
    await run('pg_dump', ['--format=custom', '--no-owner', `--file=${dump}`, source.url as string])
    t.ok(fs.statSync(dump).size > 0, 'a backup was written')

    const name = `satupintu_r_${randomBytes(6).toString('hex')}`
    const admin = new pg.Client({ connectionString: testDatabaseUrl })
    await admin.connect()
    await admin.query(`create database ${name}`)
    await admin.end()
    t.teardown(async () => {
      const c = new pg.Client({ connectionString: testDatabaseUrl })
      await c.connect()
      await c.query(`drop database if exists ${name} with (force)`)
      await c.end()
    })
    const restoredUrl = new URL(testDatabaseUrl as string)
    restoredUrl.pathname = `/${name}`
    await run('pg_restore', ['--no-owner', '--exit-on-error', `--dbname=${restoredUrl.toString()}`, dump])

    const restored = await openDatabase({
      url: restoredUrl.toString(),
      pgliteDir: '',
      autoMigrate: false,
      poolMax: 4,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 10000,
      queryTimeoutMs: 12000,
    })
    t.teardown(() => restored.close())
    t.same(await pendingMigrations(restored.db), [], 'no migration pending: a server would start (autoMigrate off)')
    const idp = await startIdp(t, { ...restored, url: restoredUrl.toString() })
    t.equal((await fetch(`${idp.issuer}/readyz`)).status, 200, 'the idp on the restored database is ready')
    const page = await signInAt(new Browser(), `${idp.issuer}/akun`, idp.issuer, {
      nik: budi.nik,
      password: budi.password,
    })
    t.equal(page.res.status, 200, 'the citizen from the backup signs in with the same password')
    t.match(page.html, new RegExp(budi.name.split(' ')[0] ?? 'Budi'), 'and sees their own account')
    const rows = await restored.db.selectFrom('citizens').select('id').execute()
    t.same(
      rows.map((r) => r.id),
      [citizen.id],
      'the same citizen, the same id',
    )
  },
)
