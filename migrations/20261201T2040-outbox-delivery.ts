// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // Delivery state of the outbox (src/delivery/worker.ts). A row is queued, claimed by one
  // worker for a lease (sending), then sent, failed (to be tried again at next_attempt_at)
  // or dead (given up). The lease lets another instance take over a row whose worker
  // died mid-send; the provider's message id records what the provider accepted.
  await db.schema
    .alterTable('outbox')
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('queued'))
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('code'))
    .addColumn('locale', 'text', (c) => c.notNull().defaultTo('id'))
    .addColumn('html', 'text')
    // What a template-based sender (WhatsApp) fills in: for a code, the code itself.
    .addColumn('params', 'jsonb')
    .addColumn('citizen_id', 'uuid', (c) => c.references('citizens.id').onDelete('cascade'))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('lease_until', 'timestamptz')
    .addColumn('claimed_by', 'text')
    .addColumn('expires_at', 'timestamptz')
    .addColumn('provider', 'text')
    .addColumn('provider_message_id', 'text')
    .addColumn('dead_at', 'timestamptz')
    .execute()
  await sql`update outbox set status = 'sent' where sent_at is not null`.execute(db)
  await db.schema
    .alterTable('outbox')
    .addCheckConstraint('outbox_status', sql`status in ('queued', 'sending', 'sent', 'failed', 'dead')`)
    .execute()
  await db.schema.alterTable('outbox').addCheckConstraint('outbox_locale', sql`locale in ('id', 'en')`).execute()
  await db.schema.alterTable('outbox').addCheckConstraint('outbox_kind', sql`kind ~ '^[a-z][a-z0-9_]{1,40}$'`).execute()
  // What a worker claims next: due rows that are not finished. A 'sending' row is in the
  // index too, so that one whose lease ran out is found again.
  await db.schema
    .createIndex('outbox_due')
    .on('outbox')
    .column('next_attempt_at')
    .where(sql<boolean>`status in ('queued', 'failed', 'sending')`)
    .execute()
  await db.schema.dropIndex('outbox_unsent').execute()
  await db.schema.createIndex('outbox_citizen').on('outbox').columns(['citizen_id', 'created_at']).execute()

  // A citizen's choices about notices: the language they are written in, and whether the
  // daily digest of documents fetched by agencies is wanted. digest_through is how far
  // the digest has reported (each fetch is reported once).
  await db.schema
    .createTable('notice_preferences')
    .addColumn('citizen_id', 'uuid', (c) => c.primaryKey().references('citizens.id').onDelete('cascade'))
    .addColumn('locale', 'text', (c) => c.notNull().defaultTo('id').check(sql`locale in ('id', 'en')`))
    .addColumn('document_digest', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('digest_through', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()

  // Devices a citizen has signed in from: a random id in a long-lived cookie, kept here
  // only as a SHA-256 hash. A sign-in from a device not on the list is notified.
  await db.schema
    .createTable('known_devices')
    .addColumn('citizen_id', 'uuid', (c) => c.notNull().references('citizens.id').onDelete('cascade'))
    .addColumn('device_hash', 'text', (c) => c.notNull().check(sql`device_hash ~ '^[0-9a-f]{64}$'`))
    .addColumn('label', 'text', (c) => c.notNull().check(sql`length(label) between 1 and 200`))
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('known_devices_pk', ['citizen_id', 'device_hash'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('known_devices').execute()
  await db.schema.dropTable('notice_preferences').execute()
  await db.schema.dropIndex('outbox_citizen').execute()
  await db.schema.dropIndex('outbox_due').execute()
  await db.schema
    .createIndex('outbox_unsent')
    .on('outbox')
    .column('created_at')
    .where(sql.ref('sent_at'), 'is', null)
    .execute()
  await db.schema.alterTable('outbox').dropConstraint('outbox_kind').execute()
  await db.schema.alterTable('outbox').dropConstraint('outbox_locale').execute()
  await db.schema.alterTable('outbox').dropConstraint('outbox_status').execute()
  for (const column of [
    'dead_at',
    'provider_message_id',
    'provider',
    'expires_at',
    'claimed_by',
    'lease_until',
    'next_attempt_at',
    'citizen_id',
    'params',
    'html',
    'locale',
    'kind',
    'status',
  ]) {
    await db.schema.alterTable('outbox').dropColumn(column).execute()
  }
}
