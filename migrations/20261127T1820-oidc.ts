// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // Everything oidc-provider stores (sessions, codes, tokens, grants, interactions…) in
  // one JSONB table, as logto does; the columns beside the payload are the look-ups the
  // adapter contract needs (uid, userCode, grantId) plus the account for the account
  // pages ("your sessions", "agencies with access").
  await db.schema
    .createTable('oidc_payloads')
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('grant_id', 'text')
    .addColumn('user_code', 'text')
    .addColumn('uid', 'text')
    .addColumn('account_id', 'text')
    .addColumn('expires_at', 'timestamptz')
    .addColumn('consumed_at', 'timestamptz')
    .addPrimaryKeyConstraint('oidc_payloads_pk', ['model', 'id'])
    .execute()
  await sql`create index oidc_payloads_grant_id on oidc_payloads (grant_id) where grant_id is not null`.execute(db)
  await sql`create unique index oidc_payloads_uid on oidc_payloads (model, uid) where uid is not null`.execute(db)
  await sql`create unique index oidc_payloads_user_code on oidc_payloads (model, user_code) where user_code is not null`.execute(
    db,
  )
  await sql`create index oidc_payloads_account on oidc_payloads (account_id, model) where account_id is not null`.execute(
    db,
  )
  await sql`create index oidc_payloads_expires_at on oidc_payloads (expires_at) where expires_at is not null`.execute(
    db,
  )

  // Relying parties (agency applications). `metadata` is the OIDC client metadata as
  // oidc-provider reads it; a client secret is stored only as a SHA-256 digest.
  await db.schema
    .createTable('oidc_clients')
    .addColumn('client_id', 'text', (c) => c.primaryKey())
    .addColumn('agency_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('metadata', 'jsonb', (c) => c.notNull())
    .addColumn('source', 'text', (c) =>
      c.notNull().defaultTo('cli').check(sql`source in ('cli', 'file', 'demo', 'system')`),
    )
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()

  // Signing and cookie keys. Private parts are encrypted (AES-256-GCM) under the
  // key-encryption secret; a key is published before it signs and stays published
  // until every token it signed has expired.
  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('purpose', 'text', (c) => c.notNull().check(sql`purpose in ('oidc', 'cookie', 'gateway')`))
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'jsonb')
    .addColumn('private_enc', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('activates_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz')
    .execute()
  await db.schema.createIndex('signing_keys_purpose').on('signing_keys').columns(['purpose', 'activates_at']).execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('signing_keys').execute()
  await db.schema.dropTable('oidc_clients').execute()
  await db.schema.dropTable('oidc_payloads').execute()
}
