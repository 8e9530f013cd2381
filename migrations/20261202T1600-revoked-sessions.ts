// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // Sessions the idp ended (sign-out, password reset, sign out everywhere), for the
  // gateways: an agency app's JWT access token is verified locally, so each gateway
  // instance polls this table and refuses the tokens of an ended session issued before it
  // ended (issue 12). One row per (session, client) pair, under a hash that neither names
  // the session nor links one citizen's tokens at two agencies. A row is kept only as long
  // as a token it refuses could live (expires_at).
  await db.schema
    .createTable('revoked_sessions')
    .addColumn('session_hash', 'text', (c) => c.primaryKey().check(sql`session_hash ~ '^[A-Za-z0-9_-]{43}$'`))
    .addColumn('revoked_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute()
  // The gateways read what is new since their last poll; the idp prunes what expired.
  await db.schema.createIndex('revoked_sessions_revoked_at').on('revoked_sessions').column('revoked_at').execute()
  await db.schema.createIndex('revoked_sessions_expires_at').on('revoked_sessions').column('expires_at').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('revoked_sessions').execute()
}
