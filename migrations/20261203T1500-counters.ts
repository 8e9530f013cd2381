// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // The service counters (loket) of the MPP, registered by an administrator (issue 15):
  // what an officer's work at the console is recorded against, and what the citizen reads
  // in Akun Saya ("Loket 3, MPP Kabupaten Sukamaju"). A disabled counter keeps its row
  // (the audit trail and the citizens' activity name it); no session works from it again.
  await db.schema
    .createTable('counters')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('location', 'text', (c) => c.notNull())
    .addColumn('unit', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active').check(sql`status in ('active', 'disabled')`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('disabled_at', 'timestamptz')
    .addCheckConstraint('counters_disabled_at', sql`(status = 'disabled') = (disabled_at is not null)`)
    .execute()

  // The counter an officer's console session sits at, chosen after the sign-in; null until then.
  await db.schema
    .alterTable('officer_sessions')
    .addColumn('counter_id', 'uuid', (c) => c.references('counters.id'))
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('officer_sessions').dropColumn('counter_id').execute()
  await db.schema.dropTable('counters').execute()
}
