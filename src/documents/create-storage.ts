import type { Kysely } from 'kysely'
import type { Config } from '../config/schema.ts'
import type { Database } from '../db/database.ts'
import { createLocalStorage } from './local-storage.ts'
import { createPostgresStorage } from './postgres-storage.ts'
import { createS3Storage } from './s3-storage.ts'
import type { DocumentStorage } from './storage.ts'
import { documentsStorageDir } from './types.ts'

/**
 * The document storage `documents.storage` names (docs/operations.md, "Where document
 * bytes live"): a local directory for one machine, the database itself, or an
 * S3-compatible object store. The idp, the gateway and the CLI all use this one.
 */
export function createDocumentStorage(
  config: Pick<Config, 'dataDir' | 'documents'>,
  db: Kysely<Database>,
): DocumentStorage {
  switch (config.documents.storage) {
    case 'local':
      return createLocalStorage(documentsStorageDir(config))
    case 'postgres':
      return createPostgresStorage(db)
    case 's3':
      return createS3Storage(config.documents.s3)
  }
}
