import type { ColumnType, Generated, Insertable, Selectable } from 'kysely'
import { columns } from './columns.ts'

type CreatedAt = ColumnType<Date, Date | string | undefined, never>
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>

/**
 * A citizen's document of one type (src/documents/vault.ts). At most one live (not
 * deleted) document per citizen and type; its bytes are in `document_versions`.
 */
export interface DocumentsTable {
  /** 16 random bytes, base64url (docs/security.md line 23: ≥ 128 bits, never guessable). */
  id: string
  citizen_id: string
  /** A type id of `documents.types` in the configuration (ktp, kk, …). */
  type: string
  created_at: CreatedAt
  /** Set when the citizen deletes it: gone from listings and links at once; bytes purged after retention. */
  deleted_at: NullableTimestamp
}

export type DocumentRow = Selectable<DocumentsTable>
export type NewDocumentRow = Insertable<DocumentsTable>

export const documentsColumns = columns<DocumentsTable>({
  id: 'text',
  citizen_id: 'uuid',
  type: 'text',
  created_at: 'timestamptz',
  deleted_at: 'timestamptz?',
})

export type DocumentMediaType = 'application/pdf' | 'image/jpeg' | 'image/png'

/** One uploaded file of a document. A new upload supersedes the current version. */
export interface DocumentVersionsTable {
  /** 16 random bytes, base64url. */
  id: string
  document_id: string
  /** 1, 2, … per document. */
  version: number
  /** The storage key (content address: the SHA-256 in hex). */
  storage_key: string
  /** SHA-256 of the bytes, lowercase hex. */
  sha256: string
  /** Bytes. int8: `pg` returns it as a string, PGlite as a number; read it with Number(). */
  size: ColumnType<string | number, number, never>
  /** From the magic bytes, never from the client (docs/security.md line 25). */
  media_type: DocumentMediaType
  /** The client's file name, percent-encoded (RFC 3986) and never used as a path. */
  original_name_encoded: string
  uploaded_at: CreatedAt
  /** Officer who checked this version against the original. */
  verified_by: string | null
  verified_at: NullableTimestamp
  /** When a newer version replaced this one (retention counts from here). */
  superseded_at: NullableTimestamp
  /** When the bytes were removed from storage after retention. */
  purged_at: NullableTimestamp
}

export type DocumentVersionRow = Selectable<DocumentVersionsTable>
export type NewDocumentVersionRow = Insertable<DocumentVersionsTable>

export const documentVersionsColumns = columns<DocumentVersionsTable>({
  id: 'text',
  document_id: 'text',
  version: 'int4',
  storage_key: 'text',
  sha256: 'text',
  size: 'int8',
  media_type: 'text',
  original_name_encoded: 'text',
  uploaded_at: 'timestamptz',
  verified_by: 'uuid?',
  verified_at: 'timestamptz?',
  superseded_at: 'timestamptz?',
  purged_at: 'timestamptz?',
})

/** A citizen's permission for an agency (optionally one service) to fetch documents of some types. */
export interface DocumentGrantsTable {
  /** 16 random bytes, base64url. */
  id: string
  citizen_id: string
  agency_id: string
  /** Null: every service of the agency. */
  service_id: string | null
  document_types: ColumnType<string[], string[], string[]>
  /** Why the agency asks, in the words of the agency's configuration, as shown to the citizen. */
  purpose: string
  /** The agency's and the service's names as shown on the consent page (null before 2026-11-27T21:00). */
  agency_name: string | null
  service_name: string | null
  created_at: CreatedAt
  expires_at: ColumnType<Date, Date | string, Date | string>
  revoked_at: NullableTimestamp
}

export type DocumentGrantRow = Selectable<DocumentGrantsTable>
export type NewDocumentGrantRow = Insertable<DocumentGrantsTable>

export const documentGrantsColumns = columns<DocumentGrantsTable>({
  id: 'text',
  citizen_id: 'uuid',
  agency_id: 'text',
  service_id: 'text?',
  document_types: '_text',
  purpose: 'text',
  agency_name: 'text?',
  service_name: 'text?',
  created_at: 'timestamptz',
  expires_at: 'timestamptz',
  revoked_at: 'timestamptz?',
})

/** Every fetch of a document through a signed link (the citizen's access history). */
export interface DocumentAccessesTable {
  id: Generated<string>
  document_id: string
  version_id: string
  citizen_id: string
  agency_id: string
  service_id: string | null
  grant_id: string | null
  /** The link's random id (not the token: a link id alone opens nothing). */
  link_id: string
  at: CreatedAt
  request_id: string | null
}

export type DocumentAccessRow = Selectable<DocumentAccessesTable>

export const documentAccessesColumns = columns<DocumentAccessesTable>({
  id: 'uuid',
  document_id: 'text',
  version_id: 'text',
  citizen_id: 'uuid',
  agency_id: 'text',
  service_id: 'text?',
  grant_id: 'text?',
  link_id: 'text',
  at: 'timestamptz',
  request_id: 'text?',
})

/** An upload into the PostgreSQL document storage (src/documents/postgres-storage.ts). */
export interface DocumentBlobUploadsTable {
  id: string
  created_at: CreatedAt
}

export const documentBlobUploadsColumns = columns<DocumentBlobUploadsTable>({
  id: 'uuid',
  created_at: 'timestamptz',
})

/** One chunk of an upload's bytes, in order of `seq`. */
export interface DocumentBlobChunksTable {
  upload_id: string
  seq: number
  data: Buffer
}

export const documentBlobChunksColumns = columns<DocumentBlobChunksTable>({
  upload_id: 'uuid',
  seq: 'int4',
  data: 'bytea',
})

/** Complete bytes under their SHA-256: the upload whose chunks hold them. */
export interface DocumentBlobsTable {
  key: string
  upload_id: string
  size: ColumnType<string | number, number, number>
  modified_at: ColumnType<Date, Date | string | undefined, Date | string>
}

export const documentBlobsColumns = columns<DocumentBlobsTable>({
  key: 'text',
  upload_id: 'uuid',
  size: 'int8',
  modified_at: 'timestamptz',
})
