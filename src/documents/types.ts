import path from 'node:path'
import type { Config } from '../config/schema.ts'
import type { DocumentMediaType } from '../db/tables/documents.ts'

/** The `documents` section of the configuration. */
export type DocumentsConfig = Config['documents']
/** One entry of `documents.types`. */
export type DocumentTypeConfig = DocumentsConfig['types'][number]
/** A file format a document type may allow, detected from magic bytes (src/documents/sniff.ts). */
export type DocumentFormat = DocumentTypeConfig['formats'][number]

export const mediaTypeOfFormat: Readonly<Record<DocumentFormat, DocumentMediaType>> = {
  pdf: 'application/pdf',
  jpeg: 'image/jpeg',
  png: 'image/png',
}

export function findDocumentType(config: DocumentsConfig, id: string): DocumentTypeConfig | undefined {
  return config.types.find((t) => t.id === id)
}

/** The most bytes one upload of `type` may have: the type's limit, never above the hard cap. */
export function uploadLimitOf(config: DocumentsConfig, type: DocumentTypeConfig): number {
  return Math.min(type.maxBytes, config.maxUploadBytes)
}

/** `documents.storageDir`, resolved from `dataDir` when relative. */
export function documentsStorageDir(config: Pick<Config, 'dataDir' | 'documents'>): string {
  return path.resolve(config.dataDir, config.documents.storageDir)
}

/** Seconds a signed link lives: the configured value, never above 15 minutes (docs/security.md line 24). */
export const MAX_LINK_SECONDS = 900

export function linkSecondsOf(config: DocumentsConfig): number {
  return Math.min(config.linkSeconds, MAX_LINK_SECONDS)
}
