// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // Self-service kiosks in the service halls (issue 16). Each is its own confidential
  // client (private_key_jwt, device grant only, DPoP-bound tokens) in oidc_clients; this
  // row is what the citizen's phone is told about it: its name and where it stands, as the
  // operators registered them, never what a kiosk's request says. A disabled kiosk keeps
  // its row (the audit trail names it); its client stops working at once.
  await db.schema
    .createTable('kiosks')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('client_id', 'text', (c) => c.notNull().unique().references('oidc_clients.client_id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('location', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active').check(sql`status in ('active', 'disabled')`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('disabled_at', 'timestamptz')
    .addCheckConstraint('kiosks_disabled_at', sql`(status = 'disabled') = (disabled_at is not null)`)
    .execute()

  // When a kiosk last polled the token endpoint with a device code (RFC 8628 §3.5): a poll
  // sooner than the interval after the last one is answered `slow_down`, and the interval
  // that kiosk must keep grows by 5 s. Kept by a hash of the device code, never the code;
  // a row goes with the code's lifetime.
  await db.schema
    .createTable('device_code_polls')
    .addColumn('code_hash', 'text', (c) => c.primaryKey())
    .addColumn('polled_at', 'timestamptz', (c) => c.notNull())
    .addColumn('interval_seconds', 'int4', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('device_code_polls_expires').on('device_code_polls').column('expires_at').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('device_code_polls').execute()
  await db.schema.dropTable('kiosks').execute()
}
