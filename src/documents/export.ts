import type { Kysely } from 'kysely'
import type { Database } from '../db/database.ts'
import { decodeOriginalName } from './filenames.ts'
import { listGrants } from './grants.ts'
import { isUuid } from './ids.ts'

/**
 * The documents part of a citizen's data export (UU PDP No. 27/2022, the right to obtain
 * one's personal data): every document still held (deleted ones too, until they are
 * purged), every version with its original file name, every grant, every access. No
 * bytes: each document can be downloaded from the account page. The caller adds the
 * profile and the audit trail and records `data.exported`.
 */
export interface DocumentsExport {
  readonly documents: readonly {
    readonly id: string
    readonly type: string
    readonly createdAt: string
    readonly deletedAt: string | null
    readonly versions: readonly {
      readonly id: string
      readonly version: number
      readonly sha256: string
      readonly size: number
      readonly mediaType: string
      readonly originalName: string
      readonly uploadedAt: string
      readonly verifiedAt: string | null
      readonly supersededAt: string | null
      readonly purgedAt: string | null
    }[]
  }[]
  readonly grants: readonly {
    readonly id: string
    readonly agencyId: string
    readonly agencyName: string | null
    readonly serviceId: string | null
    readonly serviceName: string | null
    readonly documentTypes: readonly string[]
    readonly purpose: string
    readonly createdAt: string
    readonly expiresAt: string
    readonly revokedAt: string | null
    readonly status: string
  }[]
  readonly accesses: readonly {
    readonly documentId: string
    readonly versionId: string
    readonly agencyId: string
    readonly serviceId: string | null
    readonly at: string
  }[]
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString())

export async function exportDocumentsData(
  db: Kysely<Database>,
  citizenId: string,
  now: Date = new Date(),
): Promise<DocumentsExport> {
  if (!isUuid(citizenId)) return { documents: [], grants: [], accesses: [] }
  const docs = await db
    .selectFrom('documents')
    .selectAll()
    .where('citizen_id', '=', citizenId)
    .orderBy('created_at')
    .orderBy('id')
    .execute()
  const versions =
    docs.length === 0
      ? []
      : await db
          .selectFrom('document_versions')
          .selectAll()
          .where(
            'document_id',
            'in',
            docs.map((d) => d.id),
          )
          .orderBy('document_id')
          .orderBy('version')
          .execute()
  const grants = await listGrants(db, citizenId, now)
  const accesses = await db
    .selectFrom('document_accesses')
    .select(['document_id', 'version_id', 'agency_id', 'service_id', 'at'])
    .where('citizen_id', '=', citizenId)
    .orderBy('at')
    .orderBy('id')
    .execute()
  return {
    documents: docs.map((d) => ({
      id: d.id,
      type: d.type,
      createdAt: d.created_at.toISOString(),
      deletedAt: iso(d.deleted_at),
      versions: versions
        .filter((v) => v.document_id === d.id)
        .map((v) => ({
          id: v.id,
          version: v.version,
          sha256: v.sha256,
          size: Number(v.size),
          mediaType: v.media_type,
          originalName: decodeOriginalName(v.original_name_encoded),
          uploadedAt: v.uploaded_at.toISOString(),
          verifiedAt: iso(v.verified_at),
          supersededAt: iso(v.superseded_at),
          purgedAt: iso(v.purged_at),
        })),
    })),
    grants: grants.map((g) => ({
      id: g.id,
      agencyId: g.agencyId,
      agencyName: g.agencyName,
      serviceId: g.serviceId,
      serviceName: g.serviceName,
      documentTypes: g.documentTypes,
      purpose: g.purpose,
      createdAt: g.createdAt.toISOString(),
      expiresAt: g.expiresAt.toISOString(),
      revokedAt: iso(g.revokedAt),
      status: g.status,
    })),
    accesses: accesses.map((a) => ({
      documentId: a.document_id,
      versionId: a.version_id,
      agencyId: a.agency_id,
      serviceId: a.service_id,
      at: a.at.toISOString(),
    })),
  }
}
