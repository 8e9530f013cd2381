// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // Browser sessions at the gateway (src/gateway/auth/sessions.ts). The cookie holds a 256-bit
  // random id; only its SHA-256 is stored, so a copy of this table opens no session.
  // Every instance reads this table: any instance serves any session, and a session
  // deleted by one instance (logout, back-channel logout) is gone for all.
  await db.schema
    .createTable('gateway_sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('sub', 'text', (c) => c.notNull())
    // The idp's session id (`sid` of the ID token), matched by back-channel logout.
    .addColumn('idp_sid', 'text')
    .addColumn('acr', 'text', (c) => c.notNull())
    .addColumn('amr', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('scopes', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    // Released claims from userinfo (only what the citizen consented to).
    .addColumn('claims', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    // The ID token (logout hint), encrypted under the key-encryption key.
    .addColumn('id_token_enc', 'text')
    // What the sign-in that made this session asked for: stops a step-up loop when the
    // idp cannot give more (the citizen gets a page instead of another sign-in).
    .addColumn('requested_acr', 'text')
    .addColumn('requested_scopes', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // Absolute end (created_at + gateway.session.absoluteSeconds); idle is last_seen_at + idle.
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('gateway_sessions_sub').on('gateway_sessions').column('sub').execute()
  await sql`create index gateway_sessions_idp_sid on gateway_sessions (idp_sid) where idp_sid is not null`.execute(db)
  await db.schema.createIndex('gateway_sessions_expires_at').on('gateway_sessions').column('expires_at').execute()
  await db.schema.createIndex('gateway_sessions_last_seen_at').on('gateway_sessions').column('last_seen_at').execute()

  // One-time token ids already seen (DPoP proofs, RFC 9449 §11.1; logout tokens, OIDC
  // Back-Channel Logout 1.0 §2.6), shared by every instance: the primary key refuses a
  // replay on any of them. Rows are purged after they expire.
  await db.schema
    .createTable('gateway_jtis')
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('dpop', 'logout')`))
    .addColumn('jti', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('gateway_jtis_pk', ['kind', 'jti'])
    .execute()
  await db.schema.createIndex('gateway_jtis_expires_at').on('gateway_jtis').column('expires_at').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('gateway_jtis').execute()
  await db.schema.dropTable('gateway_sessions').execute()
}
