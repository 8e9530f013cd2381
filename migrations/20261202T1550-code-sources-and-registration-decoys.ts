// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // Who asked for a code and in which flow. Anyone may ask for a password reset of any
  // NIK, so the issuing limits of reset codes count per asking address (`source`, the
  // sign-in throttle's key: an IPv4 address or an IPv6 /64) and the wait between two codes
  // per flow (`flow_id`, the first code's id), not per citizen: a stranger's requests
  // must not use up the owner's allowance. Older rows have neither.
  await db.schema.alterTable('one_time_codes').addColumn('source', 'text').execute()
  await db.schema.alterTable('one_time_codes').addColumn('flow_id', 'uuid').execute()

  // A registration for a NIK that has an account goes on exactly like one that does not
  // (docs/security.md line 37): a code page behind an opaque id, wrong codes counted, the
  // same resend limits. These rows are what such a flow keeps instead of a code: no code
  // exists, none can be right. `chain` is the flow; each resend is a new row.
  await db.schema
    .createTable('registration_decoys')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('chain', 'uuid', (c) => c.notNull())
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('consumed_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  await db.schema
    .createIndex('registration_decoys_chain')
    .on('registration_decoys')
    .columns(['chain', 'created_at'])
    .execute()
  await db.schema.createIndex('registration_decoys_created').on('registration_decoys').column('created_at').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('registration_decoys').execute()
  await db.schema.alterTable('one_time_codes').dropColumn('flow_id').execute()
  await db.schema.alterTable('one_time_codes').dropColumn('source').execute()
}
