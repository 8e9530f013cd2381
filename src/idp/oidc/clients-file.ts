import fs from 'node:fs'
import type { Kysely } from 'kysely'
import { parse as parseYaml } from 'yaml'
import type { Database } from '../../db/database.ts'
import { verifySectorIdentifier } from './sector-identifier.ts'
import {
  ClientError,
  findClient,
  prepareClient,
  upsertClient,
  type AuthMethod,
  type ClientInput,
  type ClientPolicy,
  type DocumentServiceInput,
} from './clients.ts'

/** A clients file that cannot be applied; the message names the entry and the key. */
export class ClientsFileError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ClientsFileError'
  }
}

interface FileClient {
  client_id: string
  name: string
  agency: string
  redirect_uris?: string[]
  post_logout_redirect_uris?: string[]
  backchannel_logout_uri?: string
  auth_method?: string
  scopes?: string[]
  subject_type?: 'public' | 'pairwise'
  first_party?: boolean
  sector_identifier_uri?: string
  application_type?: 'web' | 'native'
  dpop_bound_access_tokens?: boolean
  grant_types?: string[]
  resources?: string[]
  document_services?: DocumentServiceInput[]
}

/** Applies a clients file; each entry is validated before anything is written (all or nothing). */
export async function applyClientsFile(
  db: Kysely<Database>,
  file: string,
  policy: ClientPolicy,
): Promise<{ client_id: string; created: boolean; client_secret?: string }[]> {
  let doc: unknown
  try {
    doc = parseYaml(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw new ClientsFileError(`${file}: ${(err as Error).message.split('\n')[0]}`)
  }
  const list = (doc as { clients?: unknown } | null)?.clients
  if (!Array.isArray(list)) throw new ClientsFileError(`${file}: expected a top-level "clients:" list`)
  const prepared = list.map((raw, i) => {
    const c = raw as FileClient
    if (typeof c?.client_id !== 'string') throw new ClientsFileError(`${file}: clients[${i}].client_id is required`)
    try {
      const input: ClientInput = {
        clientId: c.client_id,
        name: String(c.name ?? ''),
        agencyId: String(c.agency ?? ''),
        redirectUris: c.redirect_uris ?? [],
        postLogoutRedirectUris: c.post_logout_redirect_uris ?? [],
        authMethod: (c.auth_method ?? 'client_secret_basic') as AuthMethod,
        scopes: c.scopes ?? ['openid', 'profile'],
        grantTypes: (c.grant_types ?? ['authorization_code', 'refresh_token']) as ClientInput['grantTypes'] & object,
        resources: c.resources ?? [],
      }
      if (c.backchannel_logout_uri !== undefined) input.backchannelLogoutUri = c.backchannel_logout_uri
      if (c.subject_type !== undefined) input.subjectType = c.subject_type
      if (c.first_party !== undefined) input.firstParty = flag('first_party', c.first_party)
      if (c.sector_identifier_uri !== undefined) input.sectorIdentifierUri = String(c.sector_identifier_uri)
      if (c.application_type !== undefined) input.applicationType = c.application_type
      if (c.dpop_bound_access_tokens !== undefined)
        input.dpopBound = flag('dpop_bound_access_tokens', c.dpop_bound_access_tokens)
      if (c.document_services !== undefined) {
        if (!Array.isArray(c.document_services)) throw new ClientError('document_services', 'must be a list')
        input.documentServices = c.document_services
      }
      return prepareClient(input, policy)
    } catch (err) {
      if (err instanceof ClientError) throw new ClientsFileError(`${file}: clients[${i}].${err.message}`)
      throw err
    }
  })
  // A sector_identifier_uri is fetched when a client is new or its sector or redirect URIs
  // changed (OIDC Core §8.1: at registration), not at every start: an agency's web server
  // being down must not stop the idp from starting.
  for (const [i, p] of prepared.entries()) {
    const existing = await findClient(db, p.clientId)
    if (existing !== undefined && sameSectorInputs(existing.metadata, p.metadata)) continue
    try {
      await verifySectorIdentifier(p.metadata)
    } catch (err) {
      if (err instanceof ClientError) throw new ClientsFileError(`${file}: clients[${i}].${err.message}`)
      throw err
    }
  }
  return db.transaction().execute(async (trx) => {
    const out: { client_id: string; created: boolean; client_secret?: string }[] = []
    for (const p of prepared) {
      const existing = await findClient(trx, p.clientId)
      // An existing client keeps its secret; only a new one gets (and shows) a secret.
      await upsertClient(trx, existing ? { ...p, secret: undefined } : p, 'file')
      out.push(
        existing || p.secret === undefined
          ? { client_id: p.clientId, created: !existing }
          : { client_id: p.clientId, created: true, client_secret: p.secret },
      )
    }
    return out
  })
}

function flag(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ClientError(field, 'must be true or false')
  return value
}

function sameSectorInputs(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return (
    a.sector_identifier_uri === b.sector_identifier_uri &&
    JSON.stringify(a.redirect_uris) === JSON.stringify(b.redirect_uris)
  )
}
