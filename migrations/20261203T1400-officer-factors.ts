// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // An officer's second factor (issue 14, Officers): mandatory from the first sign-in. For
  // now an authenticator app (TOTP), sealed and taken once like a citizen's
  // (second_factors): `last_step` is the RFC 6238 step of the last code accepted; a row
  // without `confirmed_at` is an enrolment not yet confirmed with a code.
  await db.schema
    .createTable('officer_second_factors')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('officer_id', 'uuid', (c) => c.notNull().references('officers.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('totp')`))
    .addColumn('secret_enc', 'text', (c) => c.notNull())
    .addColumn('last_step', 'integer')
    .addColumn('confirmed_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('officer_second_factors_officer_kind', ['officer_id', 'kind'])
    .execute()

  // The one-time enrolment code of an officer without a factor (made by `officers add` and
  // `officers reset-factors`), at most one per officer: a new code replaces the old. Only
  // its SHA-256 is kept; `used_at` is set when an enrolment is confirmed with it.
  await db.schema
    .createTable('officer_enrolment_codes')
    .addColumn('officer_id', 'uuid', (c) => c.primaryKey().references('officers.id').onDelete('cascade'))
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()

  // Officers' sessions at the idp's console (/petugas), apart from citizens' (the
  // provider's). Only a SHA-256 of the cookie's value is kept. `factor_at` is null while
  // only the password was given; `enrolment_code_at` says this session gave the enrolment
  // code. Absolute `expires_at` (12 h) and idle (`last_seen_at`, 15 min) limits; a revoked
  // session (sign-out, disabled officer, reset factors) never comes back.
  await db.schema
    .createTable('officer_sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('officer_id', 'uuid', (c) => c.notNull().references('officers.id').onDelete('cascade'))
    .addColumn('factor_at', 'timestamptz')
    .addColumn('enrolment_code_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    .execute()
  await db.schema.createIndex('officer_sessions_officer').on('officer_sessions').column('officer_id').execute()
  await db.schema.createIndex('officer_sessions_expires_at').on('officer_sessions').column('expires_at').execute()

  // When the officer last completed a sign-in (both factors), for `officers list`.
  await db.schema.alterTable('officers').addColumn('last_sign_in_at', 'timestamptz').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('officers').dropColumn('last_sign_in_at').execute()
  await db.schema.dropTable('officer_sessions').execute()
  await db.schema.dropTable('officer_enrolment_codes').execute()
  await db.schema.dropTable('officer_second_factors').execute()
}
