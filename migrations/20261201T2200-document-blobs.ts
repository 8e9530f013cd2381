// Frozen in time: never import application code here, never edit after release.
import { sql, type Kysely } from 'kysely'

// Kysely<any>: migrations describe the schema as it was at this point, not today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // Document bytes in PostgreSQL itself (documents.storage.kind = postgres): one system to
  // back up for small and medium regencies, shared by every instance. An upload writes its
  // chunks under a fresh upload id while it streams; only when the last byte is in and the
  // SHA-256 known does a `document_blobs` row make the bytes visible under their key.
  await db.schema
    .createTable('document_blob_uploads')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
  await db.schema
    .createTable('document_blob_chunks')
    .addColumn('upload_id', 'uuid', (c) => c.notNull().references('document_blob_uploads.id').onDelete('cascade'))
    .addColumn('seq', 'int4', (c) => c.notNull().check(sql`seq >= 0`))
    .addColumn('data', 'bytea', (c) => c.notNull())
    .addPrimaryKeyConstraint('document_blob_chunks_pk', ['upload_id', 'seq'])
    .execute()
  await db.schema
    .createTable('document_blobs')
    .addColumn('key', 'text', (c) => c.primaryKey().check(sql`key ~ '^[0-9a-f]{64}$'`))
    .addColumn('upload_id', 'uuid', (c) =>
      c.notNull().unique().references('document_blob_uploads.id').onDelete('cascade'),
    )
    .addColumn('size', 'int8', (c) => c.notNull().check(sql`size >= 0`))
    .addColumn('modified_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('document_blobs').execute()
  await db.schema.dropTable('document_blob_chunks').execute()
  await db.schema.dropTable('document_blob_uploads').execute()
}
