// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // A citizen's second factors (issue 14). For now one kind, an authenticator app (TOTP,
  // RFC 6238), at most one per citizen. The secret is sealed under the key-encryption
  // secret (AES-256-GCM, bound to the citizen); `last_step` is the RFC 6238 time step of
  // the last code accepted, so that a code is taken once (§5.2). A row without
  // `confirmed_at` is an enrolment the citizen has not yet confirmed with a code.
  await db.schema
    .createTable('second_factors')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('citizen_id', 'uuid', (c) => c.notNull().references('citizens.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('totp')`))
    .addColumn('secret_enc', 'text', (c) => c.notNull())
    .addColumn('last_step', 'integer')
    .addColumn('confirmed_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('second_factors_citizen_kind', ['citizen_id', 'kind'])
    .execute()

  // Recovery codes: ten per set, each usable once. Only a keyed hash is kept.
  await db.schema
    .createTable('recovery_codes')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('citizen_id', 'uuid', (c) => c.notNull().references('citizens.id').onDelete('cascade'))
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('recovery_codes_citizen_hash', ['citizen_id', 'code_hash'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('recovery_codes').execute()
  await db.schema.dropTable('second_factors').execute()
}
