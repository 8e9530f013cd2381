// Migration 20261203T1410-identity-proofing on data (issue 14): the retired assurance_level
// becomes the NIK's status (3, checked in person, is proven with a proof row; 1 and 2 are
// claims), and the NIK is no longer unique, except among proven holders.
import { randomBytes } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import { sql, type Kysely } from 'kysely'
import pg from 'pg'
import t, { type Test } from 'tap'
import { openDatabase, wrapPglite, type DatabaseHandle } from '../../src/db/create.ts'
import { createMigrator } from '../../src/db/migrator.ts'
import { databaseKinds, testDatabaseUrl } from '../helpers/db.ts'

const before = '20261203T0700-passkeys'
const migration = '20261203T1410-identity-proofing'

async function emptyDatabase(t: Test, kind: 'pglite' | 'postgres'): Promise<DatabaseHandle> {
  if (kind === 'pglite') {
    const handle = wrapPglite(await PGlite.create(), 'memory')
    t.teardown(() => handle.close())
    return handle
  }
  const name = `satupintu_m_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: testDatabaseUrl })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  const url = new URL(testDatabaseUrl as string)
  url.pathname = `/${name}`
  const handle = await openDatabase({
    url: url.toString(),
    pgliteDir: '',
    autoMigrate: false,
    poolMax: 2,
    connectTimeoutMs: 5000,
    statementTimeoutMs: 30000,
    queryTimeoutMs: 35000,
  })
  t.teardown(async () => {
    await handle.close()
    const c = new pg.Client({ connectionString: testDatabaseUrl })
    await c.connect()
    await c.query(`drop database if exists ${name} with (force)`)
    await c.end()
  })
  return handle
}

const nik = '3201011201900001'

async function citizen(db: Kysely<any>, email: string, nikValue: string, level: number): Promise<string> {
  const { rows } = await sql<{ id: string }>`
    insert into citizens (nik, name, birth_date, gender, email, email_verified, assurance_level, updated_at)
    values (${nikValue}, 'Budi Santoso', '1990-01-12', 'male', ${email}, true, ${level}, '2026-11-30T03:00:00Z')
    returning id`.execute(db)
  return (rows[0] as { id: string }).id
}

t.test('assurance_level becomes nik_status and a proof; the NIK is unique only among proven holders', async (t) => {
  for (const kind of databaseKinds()) {
    await t.test(`on ${kind}`, async (t) => {
      const { db } = await emptyDatabase(t, kind)
      const migrator = createMigrator(db)
      const to = await migrator.migrateTo(before)
      t.equal(to.error, undefined, `migrated to ${before}`)
      const self = await citizen(db, 'satu@contoh.id', nik, 1)
      const twoFactor = await citizen(db, 'dua@contoh.id', '3201011201900002', 2)
      const inPerson = await citizen(db, 'tiga@contoh.id', '3201011201900003', 3)

      const up = await migrator.migrateTo(migration)
      t.equal(up.error, undefined, `migrated to ${migration}`)
      const { rows } = await sql<{ id: string; nik_status: string }>`select id, nik_status from citizens`.execute(db)
      const status = Object.fromEntries(rows.map((r) => [r.id, r.nik_status]))
      t.strictSame(status, { [self]: 'claimed', [twoFactor]: 'claimed', [inPerson]: 'proven' })
      const proofs = await sql<Record<string, unknown>>`
        select citizen_id, level, evidence_type, verifier, officer_id, location, trust_framework, verified_at
        from identity_proofs`.execute(db)
      t.equal(proofs.rows.length, 1, 'one proof, for the account checked in person')
      t.match(proofs.rows[0], {
        citizen_id: inPerson,
        level: 'in_person',
        evidence_type: 'ktp_el',
        verifier: 'officer',
        officer_id: null,
        location: null,
        trust_framework: 'id_satupintu',
      })
      t.equal(new Date(proofs.rows[0]?.verified_at as string).toISOString(), '2026-11-30T03:00:00.000Z')
      const columns = await sql<{ column_name: string }>`
        select column_name from information_schema.columns where table_name = 'citizens'`.execute(db)
      t.notOk(
        columns.rows.some((c) => c.column_name === 'assurance_level'),
        'assurance_level is gone',
      )

      // A second claim on a NIK is accepted; a second proven holder is not.
      await sql`insert into citizens (nik, name, birth_date, gender, email) values (${nik}, 'Orang Lain', '1990-01-12', 'male', 'lain@contoh.id')`.execute(
        db,
      )
      await sql`insert into citizens (nik, name, birth_date, gender, nik_status) values ('3201011201900003', 'Orang Lain', '1990-01-12', 'male', 'withdrawn')`.execute(
        db,
      )
      await t.rejects(
        sql`insert into citizens (nik, name, birth_date, gender, nik_status) values ('3201011201900003', 'Orang Lain', '1990-01-12', 'male', 'proven')`.execute(
          db,
        ),
        { code: '23505' },
      )
      await t.rejects(
        sql`update citizens set nik_status = 'unknown' where id = ${self}`.execute(db),
        { code: '23514' },
        'only the three statuses',
      )

      // Down again, as long as no NIK is claimed twice.
      await sql`delete from citizens where email = 'lain@contoh.id' or nik_status = 'withdrawn'`.execute(db)
      const down = await migrator.migrateTo(before)
      t.equal(down.error, undefined, 'and back down')
      const levels = await sql<{
        id: string
        assurance_level: number
      }>`select id, assurance_level from citizens`.execute(db)
      t.strictSame(Object.fromEntries(levels.rows.map((r) => [r.id, r.assurance_level])), {
        [self]: 1,
        [twoFactor]: 1,
        [inPerson]: 3,
      })
    })
  }
})
