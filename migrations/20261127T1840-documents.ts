// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Identifiers that reach URLs or agencies are 16 random bytes in base64url (22 characters,
// 128 bits; docs/security.md line 23), made by the application: gen_random_uuid() has only
// 122 random bits.
const randomId = sql`~ '^[A-Za-z0-9_-]{22,64}$'`

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // A citizen's document of one type. Deleting sets deleted_at (gone from listings and
  // links at once); the purge job removes the bytes, then the row, after the retention
  // period. Deleting the citizen removes everything (UU PDP erasure).
  await db.schema
    .createTable('documents')
    .addColumn('id', 'text', (c) => c.primaryKey().check(sql`id ${randomId}`))
    .addColumn('citizen_id', 'uuid', (c) => c.notNull().references('citizens.id').onDelete('cascade'))
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type ~ '^[a-z0-9][a-z0-9-]{1,39}$'`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('deleted_at', 'timestamptz')
    .execute()
  // Upload once: one live document per citizen and type; a new upload is a new version.
  await sql`create unique index documents_live_type on documents (citizen_id, type) where deleted_at is null`.execute(
    db,
  )
  await sql`create index documents_deleted_at on documents (deleted_at) where deleted_at is not null`.execute(db)

  // The versions of a document. The bytes are in the storage under storage_key (their
  // SHA-256): identical bytes are stored once, so a file is removed only when no
  // unpurged version refers to it any more.
  await db.schema
    .createTable('document_versions')
    .addColumn('id', 'text', (c) => c.primaryKey().check(sql`id ${randomId}`))
    .addColumn('document_id', 'text', (c) => c.notNull().references('documents.id').onDelete('cascade'))
    .addColumn('version', 'integer', (c) => c.notNull().check(sql`version >= 1`))
    .addColumn('storage_key', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull().check(sql`sha256 ~ '^[0-9a-f]{64}$'`))
    .addColumn('size', 'bigint', (c) => c.notNull().check(sql`size > 0`))
    .addColumn('media_type', 'text', (c) =>
      c.notNull().check(sql`media_type in ('application/pdf', 'image/jpeg', 'image/png')`),
    )
    // The client's file name, percent-encoded: shown (normalised) and put in
    // Content-Disposition, never used as a path (docs/security.md line 26).
    .addColumn('original_name_encoded', 'text', (c) =>
      c.notNull().check(sql`original_name_encoded ~ '^[A-Za-z0-9%._~-]*$' and length(original_name_encoded) <= 4096`),
    )
    .addColumn('uploaded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // Officers are disabled, never deleted, so who verified stays known.
    .addColumn('verified_by', 'uuid', (c) => c.references('officers.id'))
    .addColumn('verified_at', 'timestamptz')
    .addColumn('superseded_at', 'timestamptz')
    .addColumn('purged_at', 'timestamptz')
    .addUniqueConstraint('document_versions_number', ['document_id', 'version'])
    .addCheckConstraint('document_versions_verified', sql`(verified_by is null) = (verified_at is null)`)
    .execute()
  // At most one current version per document.
  await sql`create unique index document_versions_current on document_versions (document_id) where superseded_at is null`.execute(
    db,
  )
  // "Does any unpurged version still use these bytes?" (before removing a file).
  await sql`create index document_versions_sha256 on document_versions (sha256) where purged_at is null`.execute(db)
  await sql`create index document_versions_superseded on document_versions (superseded_at) where superseded_at is not null and purged_at is null`.execute(
    db,
  )

  // A citizen's permission for an agency (and optionally one service) to fetch documents
  // of some types, for a purpose; revocable at once (docs/security.md, UU PDP).
  await db.schema
    .createTable('document_grants')
    .addColumn('id', 'text', (c) => c.primaryKey().check(sql`id ${randomId}`))
    .addColumn('citizen_id', 'uuid', (c) => c.notNull().references('citizens.id').onDelete('cascade'))
    .addColumn('agency_id', 'text', (c) => c.notNull())
    .addColumn('service_id', 'text')
    .addColumn('document_types', sql`text[]`, (c) => c.notNull().check(sql`cardinality(document_types) > 0`))
    .addColumn('purpose', 'text', (c) => c.notNull().check(sql`length(purpose) between 1 and 1000`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    .execute()
  await db.schema
    .createIndex('document_grants_citizen_agency')
    .on('document_grants')
    .columns(['citizen_id', 'agency_id'])
    .execute()

  // Every fetch through a signed link: which agency, when, for which service. The audit
  // trail records the same event (append-only); this table answers "who fetched this
  // document" per document, and goes with the citizen's data on erasure.
  await db.schema
    .createTable('document_accesses')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('document_id', 'text', (c) => c.notNull().references('documents.id').onDelete('cascade'))
    .addColumn('version_id', 'text', (c) => c.notNull().references('document_versions.id').onDelete('cascade'))
    .addColumn('citizen_id', 'uuid', (c) => c.notNull().references('citizens.id').onDelete('cascade'))
    .addColumn('agency_id', 'text', (c) => c.notNull())
    .addColumn('service_id', 'text')
    .addColumn('grant_id', 'text', (c) => c.references('document_grants.id').onDelete('set null'))
    .addColumn('link_id', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('request_id', 'text')
    .execute()
  await db.schema
    .createIndex('document_accesses_document')
    .on('document_accesses')
    .columns(['document_id', 'at'])
    .execute()
  await db.schema
    .createIndex('document_accesses_citizen')
    .on('document_accesses')
    .columns(['citizen_id', 'at'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('document_accesses').execute()
  await db.schema.dropTable('document_grants').execute()
  await db.schema.dropTable('document_versions').execute()
  await db.schema.dropTable('documents').execute()
}
