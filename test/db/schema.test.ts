import t from 'tap'
import { sql } from 'kysely'
import { databaseColumns } from '../../src/db/database.ts'
import { pendingMigrations } from '../../src/db/migrator.ts'
import { eachDatabase } from '../helpers/db.ts'

interface ColumnRow {
  table_name: string
  column_name: string
  udt_name: string
  is_nullable: 'YES' | 'NO'
}

t.test('the Database interface matches the migrated schema, column by column', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    t.same(await pendingMigrations(db), [], 'all migrations applied')
    const { rows } = await sql<ColumnRow>`
      select table_name, column_name, udt_name, is_nullable
      from information_schema.columns
      where table_schema = 'public' and table_name not like 'kysely_%'
      order by table_name, ordinal_position`.execute(db)
    const actual: Record<string, Record<string, string>> = {}
    for (const r of rows) {
      actual[r.table_name] ??= {}
      ;(actual[r.table_name] as Record<string, string>)[r.column_name] =
        r.udt_name + (r.is_nullable === 'YES' ? '?' : '')
    }
    const expected: Record<string, Record<string, string>> = {}
    for (const [table, cols] of Object.entries(databaseColumns)) expected[table] = { ...cols }
    t.same(Object.keys(actual).sort(), Object.keys(expected).sort(), 'the same tables')
    for (const table of Object.keys(expected)) t.same(actual[table], expected[table], `columns of ${table}`)
  })
})

t.test('the audit trail refuses updates', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    await db.insertInto('audit_events').values({ event: 'test.event', actor: 'system' }).execute()
    await t.rejects(sql`update audit_events set actor = 'someone'`.execute(db), /append-only/)
  })
})
