/**
 * Scenario (f) of the gateway benchmark: a service of the bench agency that asks for two
 * documents, and a citizen who uploaded both and granted them — set up directly in the
 * bench database and the documents directory, as the vault and the consent page would.
 */
import { Readable } from 'node:stream'
import { createGrant } from '../../src/documents/grants.ts'
import { createLocalStorage } from '../../src/documents/local-storage.ts'
import { documentsStorageDir } from '../../src/documents/types.ts'
import { uploadDocument } from '../../src/documents/vault.ts'
import type { AgencyServiceSpec, Stack } from './stack.ts'

/** The service (f) measures: below the bench agency's prefix, KTP and KK. */
export const documentService: AgencyServiceSpec = { id: 'dokumen', path: '/dokumen', documents: ['ktp', 'kk'] }

/** A minimal one-page PDF (what the vault's type check accepts). */
function pdf(title: string): Buffer {
  return Buffer.from(
    [
      '%PDF-1.4',
      '1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj',
      '2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj',
      `3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Title (${title}) >> endobj`,
      'trailer << /Root 1 0 R >>',
      '%%EOF',
      '',
    ].join('\n'),
    'latin1',
  )
}

/** Uploads a KTP and a KK for the citizen and grants both to the document service. */
export async function giveDocuments(
  stack: Stack,
  citizenIndex: number,
): Promise<{ citizen: string; types: string[]; grant: string }> {
  const citizen = stack.citizens[citizenIndex]
  if (citizen === undefined) throw new Error(`no citizen ${citizenIndex}`)
  const storage = createLocalStorage(documentsStorageDir(stack.config))
  const types = documentService.documents ?? []
  for (const type of types) {
    await uploadDocument(
      stack.db.db,
      storage,
      {
        citizenId: citizen.id,
        type,
        stream: Readable.from([pdf(type)]),
        originalName: `${type}.pdf`,
        declaredMediaType: 'application/pdf',
      },
      stack.config.documents,
      { actor: 'system' },
    )
  }
  const grant = await createGrant(
    stack.db.db,
    stack.config.documents,
    {
      citizenId: citizen.id,
      agencyId: 'bench',
      serviceId: documentService.id,
      documentTypes: types,
      purpose: 'Uji kinerja',
      expiresAt: new Date(Date.now() + stack.config.idp.ttl.grantSeconds * 1000),
    },
    { actor: `citizen:${citizen.id}` },
  )
  return { citizen: citizen.id, types, grant: grant.id }
}
