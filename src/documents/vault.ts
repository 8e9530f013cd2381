import { pipeline } from 'node:stream'
import type { Readable } from 'node:stream'
import { sql, type Kysely } from 'kysely'
import { recordAudit, type AuditActor } from '../audit/audit.ts'
import type { Database } from '../db/database.ts'
import type { DocumentMediaType, DocumentVersionRow } from '../db/tables/documents.ts'
import { DocumentError } from './errors.ts'
import { contentDisposition, decodeOriginalName, displayFileName, encodeOriginalName } from './filenames.ts'
import { isRandomId, isUuid, randomId } from './ids.ts'
import { createInspector, isMarkupMediaType } from './sniff.ts'
import type { DocumentStorage, StoredObject } from './storage.ts'
import { findDocumentType, mediaTypeOfFormat, uploadLimitOf, type DocumentsConfig } from './types.ts'

/**
 * The citizen document vault: upload once, a new version on replace, delete (gone from
 * listings and links at once, bytes purged after retention), officer verification.
 *
 * Bytes and rows: an upload streams through the inspector (sniff.ts) into storage first,
 * and only then writes its rows, in one transaction. Any failure (refused content, a
 * client abort, a database error) leaves no row, and the bytes are removed unless an
 * unpurged version elsewhere uses the same bytes (storage is content-addressed). Removing
 * bytes and starting to use them again are serialised by a transaction-scoped advisory
 * lock on the digest, so a purge can never remove bytes that a new row refers to.
 */

export interface VaultContext {
  readonly actor?: AuditActor | undefined
  readonly ip?: string | undefined
  readonly requestId?: string | undefined
  /** The clock (tests). */
  readonly now?: Date | undefined
}

export interface DocumentVersion {
  readonly id: string
  readonly documentId: string
  readonly version: number
  readonly sha256: string
  readonly size: number
  readonly mediaType: DocumentMediaType
  /** The client's name made safe for display and downloads (filenames.ts). */
  readonly fileName: string
  readonly uploadedAt: Date
  readonly verified: boolean
  readonly verifiedAt: Date | null
  readonly verifiedBy: string | null
  readonly supersededAt: Date | null
  readonly purgedAt: Date | null
  readonly current: boolean
}

export interface DocumentSummary {
  readonly id: string
  readonly type: string
  readonly createdAt: Date
  readonly current: DocumentVersion
  /** Versions whose bytes are still kept, newest first (the current one included). */
  readonly versions: readonly DocumentVersion[]
}

export interface DocumentAccess {
  readonly id: string
  readonly documentId: string
  readonly versionId: string
  readonly agencyId: string
  readonly serviceId: string | null
  readonly at: Date
}

export interface DocumentDetail extends DocumentSummary {
  /** Every fetch by an agency, newest first. */
  readonly accesses: readonly DocumentAccess[]
}

export function toDocumentVersion(r: DocumentVersionRow): DocumentVersion {
  return {
    id: r.id,
    documentId: r.document_id,
    version: r.version,
    sha256: r.sha256,
    size: Number(r.size),
    mediaType: r.media_type,
    fileName: displayFileName(decodeOriginalName(r.original_name_encoded), r.media_type),
    uploadedAt: r.uploaded_at,
    verified: r.verified_at !== null,
    verifiedAt: r.verified_at,
    verifiedBy: r.verified_by,
    supersededAt: r.superseded_at,
    purgedAt: r.purged_at,
    current: r.superseded_at === null,
  }
}

/** Serialises everything that starts or stops using the bytes of `sha256` (see the top of this file). */
export async function lockBytes(trx: Kysely<Database>, sha256: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`satupintu-document-bytes:${sha256}`}))`.execute(trx)
}

async function bytesInUse(trx: Kysely<Database>, sha256: string): Promise<boolean> {
  const row = await trx
    .selectFrom('document_versions')
    .select('id')
    .where('sha256', '=', sha256)
    .where('purged_at', 'is', null)
    .limit(1)
    .executeTakeFirst()
  return row !== undefined
}

/** Removes stored bytes that no unpurged version uses. Returns whether it removed them. */
export async function releaseBytes(db: Kysely<Database>, storage: DocumentStorage, sha256: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await lockBytes(trx, sha256)
    if (await bytesInUse(trx, sha256)) return false
    // Inside the lock: an upload that wants these bytes waits, then finds them gone and
    // fails with `retry` rather than writing a row without bytes.
    await storage.delete(sha256)
    return true
  })
}

// ---------------------------------------------------------------------------------------
// Upload

export interface UploadInput {
  readonly citizenId: string
  /** A type id of `documents.types`. */
  readonly type: string
  /** The file's bytes as they arrive (e.g. the @fastify/multipart file stream). */
  readonly stream: Readable
  /** The file name the client sent: kept only as encoded metadata. */
  readonly originalName: string
  /** The client's Content-Type: never trusted; markup or script types are refused outright. */
  readonly declaredMediaType?: string | undefined
}

export interface UploadedDocument {
  readonly document: DocumentSummary
  readonly version: DocumentVersion
  /** True when this upload created the document, false when it added a version. */
  readonly created: boolean
}

/**
 * Streams a file into the vault: type and structure checked from the bytes, size limit
 * enforced as they arrive, SHA-256 computed on the way into storage; then, in one
 * transaction, a new document of that type or a new version of the citizen's existing
 * one (the previous version is superseded and becomes unverified history). Throws a
 * DocumentError for refused content, or the stream's error for an aborted upload; either
 * way nothing is left behind.
 */
export async function uploadDocument(
  db: Kysely<Database>,
  storage: DocumentStorage,
  input: UploadInput,
  config: DocumentsConfig,
  context: VaultContext = {},
): Promise<UploadedDocument> {
  const type = findDocumentType(config, input.type)
  const refuseEarly = (err: DocumentError): never => {
    // Stop reading: the HTTP layer answers and closes the request.
    input.stream.destroy()
    throw err
  }
  if (!isUuid(input.citizenId)) refuseEarly(new DocumentError('invalid_input', 'citizenId is not a citizen id'))
  if (type === undefined) return refuseEarly(new DocumentError('unknown_type'))
  if (input.declaredMediaType !== undefined && isMarkupMediaType(input.declaredMediaType))
    refuseEarly(new DocumentError('declared_type_refused'))
  const originalNameEncoded = encodeOriginalName(input.originalName)

  const inspector = createInspector({ formats: type.formats, maxBytes: uploadLimitOf(config, type) })
  // pipeline() destroys the client's stream when the inspector refuses (reading stops at
  // the limit), and the inspector when the client's stream fails or is cut off, so the
  // storage's put() sees the error and keeps nothing.
  const checked = pipeline(input.stream, inspector, () => {})
  let stored: StoredObject
  try {
    stored = await storage.put(checked)
  } catch (err) {
    // Also when the storage failed on its own (a full disk): stop reading the client.
    checked.destroy()
    throw err
  }
  const format = inspector.format
  if (format === undefined) {
    // Cannot happen after a successful put (the inspector has finished); be safe anyway.
    await releaseBytes(db, storage, stored.sha256)
    throw new DocumentError('malformed')
  }
  const mediaType = mediaTypeOfFormat[format]
  const now = context.now ?? new Date()

  try {
    return await db.transaction().execute(async (trx) => {
      await lockBytes(trx, stored.sha256)
      if (!(await storage.exists(stored.key))) throw new DocumentError('retry', 'the same bytes were purged meanwhile')
      // One writer per (citizen, type): two parallel uploads become versions n and n+1.
      await sql`select pg_advisory_xact_lock(hashtext(${`satupintu-document:${input.citizenId}:${type.id}`}))`.execute(
        trx,
      )
      let doc = await trx
        .selectFrom('documents')
        .selectAll()
        .where('citizen_id', '=', input.citizenId)
        .where('type', '=', type.id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst()
      const created = doc === undefined
      if (doc === undefined) {
        doc = await trx
          .insertInto('documents')
          .values({ id: randomId(), citizen_id: input.citizenId, type: type.id, created_at: now })
          .returningAll()
          .executeTakeFirstOrThrow()
      }
      await trx
        .updateTable('document_versions')
        .set({ superseded_at: now })
        .where('document_id', '=', doc.id)
        .where('superseded_at', 'is', null)
        .execute()
      const last = await trx
        .selectFrom('document_versions')
        .select((eb) => eb.fn.max<number>('version').as('max'))
        .where('document_id', '=', doc.id)
        .executeTakeFirst()
      const row = await trx
        .insertInto('document_versions')
        .values({
          id: randomId(),
          document_id: doc.id,
          version: Number(last?.max ?? 0) + 1,
          storage_key: stored.key,
          sha256: stored.sha256,
          size: stored.size,
          media_type: mediaType,
          original_name_encoded: originalNameEncoded,
          uploaded_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow()
      await recordAudit(trx, {
        event: 'document.uploaded',
        actor: context.actor ?? `citizen:${input.citizenId}`,
        subjectId: input.citizenId,
        ip: context.ip,
        requestId: context.requestId,
        // Never the file name or contents (the issue's "Personal data" section).
        data: {
          documentId: doc.id,
          versionId: row.id,
          type: type.id,
          version: row.version,
          mediaType,
          size: stored.size,
        },
      })
      const versions = await versionsOf(trx, [doc.id])
      const version = toDocumentVersion(row)
      return { document: summaryOf(doc, versions.get(doc.id) ?? [version]), version, created }
    })
  } catch (err) {
    try {
      await releaseBytes(db, storage, stored.sha256)
    } catch {
      // The original error matters more; a leftover file is swept by purgeDocuments.
    }
    throw err
  }
}

// ---------------------------------------------------------------------------------------
// Reading

async function versionsOf(
  db: Kysely<Database>,
  documentIds: readonly string[],
): Promise<Map<string, DocumentVersion[]>> {
  const out = new Map<string, DocumentVersion[]>()
  if (documentIds.length === 0) return out
  const rows = await db
    .selectFrom('document_versions')
    .selectAll()
    .where('document_id', 'in', documentIds)
    .where('purged_at', 'is', null)
    .orderBy('version', 'desc')
    .execute()
  for (const r of rows) {
    const list = out.get(r.document_id) ?? []
    list.push(toDocumentVersion(r))
    out.set(r.document_id, list)
  }
  return out
}

function summaryOf(doc: { id: string; type: string; created_at: Date }, versions: DocumentVersion[]): DocumentSummary {
  const current = versions.find((v) => v.current) ?? versions[0]
  if (current === undefined) throw new Error(`document ${doc.id} has no version`)
  return { id: doc.id, type: doc.type, createdAt: doc.created_at, current, versions }
}

/** The citizen's documents that are not deleted, by type, each with its kept versions. */
export async function listDocuments(db: Kysely<Database>, citizenId: string): Promise<DocumentSummary[]> {
  if (!isUuid(citizenId)) return []
  const docs = await db
    .selectFrom('documents')
    .select(['id', 'type', 'created_at'])
    .where('citizen_id', '=', citizenId)
    .where('deleted_at', 'is', null)
    .orderBy('type')
    .execute()
  const versions = await versionsOf(
    db,
    docs.map((d) => d.id),
  )
  return docs.flatMap((d) => {
    const v = versions.get(d.id)
    return v === undefined ? [] : [summaryOf(d, v)]
  })
}

/**
 * One document of the citizen's, with its versions and every access to it. Another
 * citizen's document, a deleted one or a made-up id: undefined (the page answers 404,
 * never 403, so ids of others cannot be probed; docs/security.md line 23).
 */
export async function getDocumentForOwner(
  db: Kysely<Database>,
  citizenId: string,
  documentId: string,
): Promise<DocumentDetail | undefined> {
  if (!isUuid(citizenId) || !isRandomId(documentId)) return undefined
  const doc = await db
    .selectFrom('documents')
    .select(['id', 'type', 'created_at'])
    .where('id', '=', documentId)
    .where('citizen_id', '=', citizenId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst()
  if (doc === undefined) return undefined
  const versions = (await versionsOf(db, [doc.id])).get(doc.id)
  if (versions === undefined) return undefined
  const accesses = await db
    .selectFrom('document_accesses')
    .select(['id', 'document_id', 'version_id', 'agency_id', 'service_id', 'at'])
    .where('document_id', '=', doc.id)
    .orderBy('at', 'desc')
    .limit(500)
    .execute()
  return {
    ...summaryOf(doc, versions),
    accesses: accesses.map((a) => ({
      id: a.id,
      documentId: a.document_id,
      versionId: a.version_id,
      agencyId: a.agency_id,
      serviceId: a.service_id,
      at: a.at,
    })),
  }
}

/** What to stream for a download: storage key, type, digest, and the headers' file name. */
export interface DocumentContent {
  readonly documentId: string
  readonly versionId: string
  readonly citizenId: string
  readonly type: string
  readonly storageKey: string
  readonly sha256: string
  readonly size: number
  readonly mediaType: DocumentMediaType
  readonly verified: boolean
  readonly originalNameEncoded: string
  readonly fileName: string
  readonly contentDisposition: string
}

/** A version of the citizen's own, for their download; undefined for anyone else's, deleted or purged. */
export async function getVersionForOwner(
  db: Kysely<Database>,
  citizenId: string,
  versionId: string,
): Promise<DocumentContent | undefined> {
  if (!isUuid(citizenId) || !isRandomId(versionId)) return undefined
  const row = await db
    .selectFrom('document_versions as v')
    .innerJoin('documents as d', 'd.id', 'v.document_id')
    .selectAll('v')
    .select(['d.citizen_id', 'd.type'])
    .where('v.id', '=', versionId)
    .where('d.citizen_id', '=', citizenId)
    .where('d.deleted_at', 'is', null)
    .where('v.purged_at', 'is', null)
    .executeTakeFirst()
  return row === undefined ? undefined : contentOf(row)
}

export function contentOf(row: DocumentVersionRow & { citizen_id: string; type: string }): DocumentContent {
  const fileName = displayFileName(decodeOriginalName(row.original_name_encoded), row.media_type)
  return {
    documentId: row.document_id,
    versionId: row.id,
    citizenId: row.citizen_id,
    type: row.type,
    storageKey: row.storage_key,
    sha256: row.sha256,
    size: Number(row.size),
    mediaType: row.media_type,
    verified: row.verified_at !== null,
    originalNameEncoded: row.original_name_encoded,
    fileName,
    contentDisposition: contentDisposition(fileName),
  }
}

/**
 * Response headers for serving stored bytes (docs/security.md line 25): the stored media type,
 * `Content-Disposition: attachment` with the RFC 6266 name, `nosniff`, a CSP that
 * sandboxes anything a browser might still render, no caching (the URL is a capability),
 * and the digest (RFC 9530 `Repr-Digest`) so the receiver can verify the bytes.
 */
export function documentResponseHeaders(content: DocumentContent): Record<string, string> {
  return {
    'content-type': content.mediaType,
    'content-length': String(content.size),
    'content-disposition': content.contentDisposition,
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox; frame-ancestors 'none'",
    'cache-control': 'private, no-store',
    'referrer-policy': 'no-referrer',
    'cross-origin-resource-policy': 'same-origin',
    'repr-digest': `sha-256=:${Buffer.from(content.sha256, 'hex').toString('base64')}:`,
  }
}

// ---------------------------------------------------------------------------------------
// Delete, verify, purge

/**
 * Deletes a document of the citizen's: from this moment it is gone from listings, and
 * links to any of its versions are refused. The bytes stay for `documents.retentionDays`
 * (purgeDocuments). Returns false when there is no such document of this citizen.
 */
export async function deleteDocument(
  db: Kysely<Database>,
  citizenId: string,
  documentId: string,
  context: VaultContext = {},
): Promise<boolean> {
  if (!isUuid(citizenId) || !isRandomId(documentId)) return false
  const now = context.now ?? new Date()
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('documents')
      .set({ deleted_at: now })
      .where('id', '=', documentId)
      .where('citizen_id', '=', citizenId)
      .where('deleted_at', 'is', null)
      .returning(['id', 'type'])
      .executeTakeFirst()
    if (row === undefined) return false
    await recordAudit(trx, {
      event: 'document.deleted',
      actor: context.actor ?? `citizen:${citizenId}`,
      subjectId: citizenId,
      ip: context.ip,
      requestId: context.requestId,
      data: { documentId: row.id, type: row.type },
    })
    return true
  })
}

export type VerifyResult =
  | { readonly ok: true; readonly version: DocumentVersion; readonly citizenId: string; readonly type: string }
  | {
      readonly ok: false
      readonly reason:
        | 'not_found'
        | 'deleted'
        | 'superseded'
        | 'already_verified'
        | 'officer_not_found'
        | 'officer_disabled'
    }

/**
 * An officer's mark that a version matches the original they saw (`satupintu documents
 * verify <id> --officer <officer>`). Only the current version of a live document can be
 * verified; a newer upload is a new, unverified version.
 */
export async function verifyDocumentVersion(
  db: Kysely<Database>,
  versionId: string,
  officerId: string,
  context: VaultContext = {},
): Promise<VerifyResult> {
  if (!isRandomId(versionId)) return { ok: false, reason: 'not_found' }
  if (!isUuid(officerId)) return { ok: false, reason: 'officer_not_found' }
  const now = context.now ?? new Date()
  return db.transaction().execute(async (trx): Promise<VerifyResult> => {
    const officer = await trx
      .selectFrom('officers')
      .select(['id', 'status'])
      .where('id', '=', officerId)
      .executeTakeFirst()
    if (officer === undefined) return { ok: false, reason: 'officer_not_found' }
    if (officer.status !== 'active') return { ok: false, reason: 'officer_disabled' }
    const row = await trx
      .selectFrom('document_versions as v')
      .innerJoin('documents as d', 'd.id', 'v.document_id')
      .selectAll('v')
      .select(['d.citizen_id', 'd.type', 'd.deleted_at'])
      .where('v.id', '=', versionId)
      .forUpdate('v')
      .executeTakeFirst()
    if (row === undefined || row.purged_at !== null) return { ok: false, reason: 'not_found' }
    if (row.deleted_at !== null) return { ok: false, reason: 'deleted' }
    if (row.superseded_at !== null) return { ok: false, reason: 'superseded' }
    if (row.verified_at !== null) return { ok: false, reason: 'already_verified' }
    const updated = await trx
      .updateTable('document_versions')
      .set({ verified_by: officerId, verified_at: now })
      .where('id', '=', versionId)
      .returningAll()
      .executeTakeFirstOrThrow()
    await recordAudit(trx, {
      event: 'document.verified',
      actor: context.actor ?? `officer:${officerId}`,
      subjectId: row.citizen_id,
      ip: context.ip,
      requestId: context.requestId,
      data: { documentId: row.document_id, versionId, type: row.type, version: row.version, officerId },
    })
    return { ok: true, version: toDocumentVersion(updated), citizenId: row.citizen_id, type: row.type }
  })
}

export interface PurgeReport {
  /** Versions whose retention ended (replaced, or of a deleted document) now marked purged. */
  readonly versionsPurged: number
  /** Stored files removed (no unpurged version used them any more). */
  readonly filesDeleted: number
  /** Deleted documents removed with their versions and access history. */
  readonly documentsRemoved: number
  /** Stored files no row refers to (a crash between storing and committing), older than a day. */
  readonly orphansDeleted: number
  /** Leftovers of interrupted writes (temporary files), older than a day. */
  readonly incompleteRemoved: number
}

const BATCH = 500
/** Files younger than this are never swept as orphans: their upload may still be committing. */
export const ORPHAN_GRACE_MS = 24 * 3600 * 1000

/**
 * The retention job (run it periodically, e.g. hourly, from any one instance or all of
 * them: every step is idempotent and serialised per file). After `documents.retentionDays`:
 *  1. replaced versions and versions of deleted documents are marked purged and their
 *     bytes removed when nothing else uses them;
 *  2. deleted documents whose versions are all purged are removed (their access history
 *     with them; the audit trail keeps the fetch events);
 *  3. orphaned files and temporary leftovers older than a day are removed.
 */
export async function purgeDocuments(
  db: Kysely<Database>,
  storage: DocumentStorage,
  config: DocumentsConfig,
  now: Date = new Date(),
): Promise<PurgeReport> {
  const cutoff = new Date(now.getTime() - config.retentionDays * 86_400_000)
  let versionsPurged = 0
  let filesDeleted = 0
  let documentsRemoved = 0

  for (;;) {
    const due = await db
      .selectFrom('document_versions as v')
      .innerJoin('documents as d', 'd.id', 'v.document_id')
      .select(['v.id', 'v.sha256'])
      .where('v.purged_at', 'is', null)
      .where((eb) => eb.or([eb('v.superseded_at', '<=', cutoff), eb('d.deleted_at', '<=', cutoff)]))
      .limit(BATCH)
      .execute()
    if (due.length === 0) break
    for (const v of due) {
      const deleted = await db.transaction().execute(async (trx) => {
        await lockBytes(trx, v.sha256)
        const marked = await trx
          .updateTable('document_versions')
          .set({ purged_at: now })
          .where('id', '=', v.id)
          .where('purged_at', 'is', null)
          .executeTakeFirst()
        if (Number(marked.numUpdatedRows) === 0) return false
        versionsPurged++
        if (await bytesInUse(trx, v.sha256)) return false
        await storage.delete(v.sha256)
        return true
      })
      if (deleted) filesDeleted++
    }
    if (due.length < BATCH) break
  }

  const gone = await db
    .selectFrom('documents as d')
    .select(['d.id', 'd.citizen_id', 'd.type'])
    .where('d.deleted_at', '<=', cutoff)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('document_versions as v')
            .select('v.id')
            .whereRef('v.document_id', '=', 'd.id')
            .where('v.purged_at', 'is', null),
        ),
      ),
    )
    .execute()
  for (const d of gone) {
    await db.transaction().execute(async (trx) => {
      const res = await trx.deleteFrom('documents').where('id', '=', d.id).executeTakeFirst()
      if (Number(res.numDeletedRows) === 0) return
      documentsRemoved++
      await recordAudit(trx, {
        event: 'document.purged',
        actor: 'system',
        subjectId: d.citizen_id,
        data: { documentId: d.id, type: d.type },
      })
    })
  }

  const graceCutoff = new Date(now.getTime() - ORPHAN_GRACE_MS)
  let orphansDeleted = 0
  for await (const entry of storage.list()) {
    if (entry.modifiedAt >= graceCutoff) continue
    const referenced = await db
      .selectFrom('document_versions')
      .select('id')
      .where('sha256', '=', entry.key)
      .where('purged_at', 'is', null)
      .limit(1)
      .executeTakeFirst()
    if (referenced !== undefined) continue
    if (await releaseBytes(db, storage, entry.key)) orphansDeleted++
  }
  const incompleteRemoved = await storage.sweepIncomplete(graceCutoff)

  return { versionsPurged, filesDeleted, documentsRemoved, orphansDeleted, incompleteRemoved }
}
