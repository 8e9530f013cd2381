import type { Kysely } from 'kysely'
import { recordAudit } from '../audit/audit.ts'
import type { Database } from '../db/database.ts'
import type { DocumentGrantRow } from '../db/tables/documents.ts'
import { DocumentError } from './errors.ts'
import { isRandomId, isUuid, randomId } from './ids.ts'
import { findDocumentType, type DocumentsConfig } from './types.ts'
import type { VaultContext } from './vault.ts'

/**
 * Grants: a citizen's permission for an agency (and optionally one of its services) to
 * fetch documents of some types, for a stated purpose, until an expiry (UU PDP: each
 * agency sees only what the citizen allowed, for the purpose recorded on the grant).
 * Revoking takes effect at once: every link check reads this table (links.ts).
 */

export type GrantStatus = 'active' | 'expired' | 'revoked'

export interface DocumentGrant {
  readonly id: string
  readonly citizenId: string
  readonly agencyId: string
  /** Null: every service of the agency. */
  readonly serviceId: string | null
  readonly documentTypes: readonly string[]
  readonly purpose: string
  /** Names as the citizen read them on the consent page (null for older grants). */
  readonly agencyName: string | null
  readonly serviceName: string | null
  readonly createdAt: Date
  readonly expiresAt: Date
  readonly revokedAt: Date | null
  readonly status: GrantStatus
}

function toGrant(r: DocumentGrantRow, now: Date): DocumentGrant {
  return {
    id: r.id,
    citizenId: r.citizen_id,
    agencyId: r.agency_id,
    serviceId: r.service_id,
    documentTypes: r.document_types,
    purpose: r.purpose,
    agencyName: r.agency_name,
    serviceName: r.service_name,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    status: r.revoked_at !== null ? 'revoked' : r.expires_at <= now ? 'expired' : 'active',
  }
}

const AGENCY_ID = /^[a-z0-9][a-z0-9-]{1,39}$/

export interface GrantInput {
  readonly citizenId: string
  readonly agencyId: string
  readonly serviceId?: string | null | undefined
  readonly documentTypes: readonly string[]
  /** The purpose as the citizen saw it on the consent page (from the agency's configuration). */
  readonly purpose: string
  /** The agency's and the service's names as the consent page showed them. */
  readonly agencyName?: string | undefined
  readonly serviceName?: string | undefined
  readonly expiresAt: Date
}

function displayName(v: string | undefined, field: string): string | null {
  if (v === undefined) return null
  const name = v.trim()
  if (name === '' || name.length > 200) throw new DocumentError('invalid_input', `${field} must be 1 to 200 characters`)
  return name
}

/**
 * Records the citizen's consent. It replaces the citizen's active grant for the same
 * agency and service (revoked in the same transaction), so one consent page answer is
 * one grant; ask for every type the service needs each time.
 */
export async function createGrant(
  db: Kysely<Database>,
  config: DocumentsConfig,
  input: GrantInput,
  context: VaultContext = {},
): Promise<DocumentGrant> {
  const now = context.now ?? new Date()
  const serviceId = input.serviceId ?? null
  if (!isUuid(input.citizenId)) throw new DocumentError('invalid_input', 'citizenId is not a citizen id')
  if (!AGENCY_ID.test(input.agencyId)) throw new DocumentError('invalid_input', 'agencyId is not an agency id')
  if (serviceId !== null && !AGENCY_ID.test(serviceId))
    throw new DocumentError('invalid_input', 'serviceId is not a service id')
  const types = [...new Set(input.documentTypes)]
  if (types.length === 0) throw new DocumentError('invalid_input', 'a grant needs at least one document type')
  for (const t of types)
    if (findDocumentType(config, t) === undefined) throw new DocumentError('unknown_type', `unknown document type ${t}`)
  const purpose = input.purpose.trim()
  if (purpose === '' || purpose.length > 1000)
    throw new DocumentError('invalid_input', 'purpose must be 1 to 1000 characters')
  if (!(input.expiresAt > now)) throw new DocumentError('invalid_input', 'expiresAt must be in the future')
  const agencyName = displayName(input.agencyName, 'agencyName')
  const serviceName = displayName(input.serviceName, 'serviceName')

  return db.transaction().execute(async (trx) => {
    let replace = trx
      .updateTable('document_grants')
      .set({ revoked_at: now })
      .where('citizen_id', '=', input.citizenId)
      .where('agency_id', '=', input.agencyId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
    replace = serviceId === null ? replace.where('service_id', 'is', null) : replace.where('service_id', '=', serviceId)
    const replaced = await replace.returning('id').execute()
    const row = await trx
      .insertInto('document_grants')
      .values({
        id: randomId(),
        citizen_id: input.citizenId,
        agency_id: input.agencyId,
        service_id: serviceId,
        document_types: types,
        purpose,
        agency_name: agencyName,
        service_name: serviceName,
        created_at: now,
        expires_at: input.expiresAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    await recordAudit(trx, {
      event: 'document.grant_created',
      actor: context.actor ?? `citizen:${input.citizenId}`,
      subjectId: input.citizenId,
      clientId: input.agencyId,
      ip: context.ip,
      requestId: context.requestId,
      data: {
        grantId: row.id,
        agencyId: input.agencyId,
        serviceId,
        documentTypes: types,
        expiresAt: input.expiresAt,
        replaces: replaced.map((r) => r.id),
      },
    })
    return toGrant(row, now)
  })
}

/** The citizen's grants, newest first, with their status (for the account page and the export). */
export async function listGrants(
  db: Kysely<Database>,
  citizenId: string,
  now: Date = new Date(),
): Promise<DocumentGrant[]> {
  if (!isUuid(citizenId)) return []
  const rows = await db
    .selectFrom('document_grants')
    .selectAll()
    .where('citizen_id', '=', citizenId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute()
  return rows.map((r) => toGrant(r, now))
}

/** Withdraws a grant of the citizen's, with immediate effect. False when there is no such active grant of theirs. */
export async function revokeGrant(
  db: Kysely<Database>,
  citizenId: string,
  grantId: string,
  context: VaultContext = {},
): Promise<boolean> {
  if (!isUuid(citizenId) || !isRandomId(grantId)) return false
  const now = context.now ?? new Date()
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('document_grants')
      .set({ revoked_at: now })
      .where('id', '=', grantId)
      .where('citizen_id', '=', citizenId)
      .where('revoked_at', 'is', null)
      .returning(['id', 'agency_id', 'service_id'])
      .executeTakeFirst()
    if (row === undefined) return false
    await recordAudit(trx, {
      event: 'document.grant_revoked',
      actor: context.actor ?? `citizen:${citizenId}`,
      subjectId: citizenId,
      clientId: row.agency_id,
      ip: context.ip,
      requestId: context.requestId,
      data: { grantId: row.id, agencyId: row.agency_id, serviceId: row.service_id },
    })
    return true
  })
}

export interface ActiveGrantOptions {
  /**
   * The service asking. A string matches grants for that service and agency-wide ones;
   * null only agency-wide ones; undefined (the default) any grant of the agency.
   */
  readonly serviceId?: string | null | undefined
  readonly now?: Date | undefined
}

/** The newest grant that lets `agencyId` fetch the citizen's documents of `type` now, if any. */
export async function activeGrantFor(
  db: Kysely<Database>,
  citizenId: string,
  agencyId: string,
  type: string,
  options: ActiveGrantOptions = {},
): Promise<DocumentGrant | undefined> {
  if (!isUuid(citizenId)) return undefined
  const now = options.now ?? new Date()
  let q = db
    .selectFrom('document_grants')
    .selectAll()
    .where('citizen_id', '=', citizenId)
    .where('agency_id', '=', agencyId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .where((eb) => eb(eb.val(type), '=', eb.fn.any('document_types')))
  const serviceId = options.serviceId
  if (serviceId === null) q = q.where('service_id', 'is', null)
  else if (serviceId !== undefined)
    q = q.where((eb) => eb.or([eb('service_id', 'is', null), eb('service_id', '=', serviceId)]))
  const row = await q.orderBy('created_at', 'desc').limit(1).executeTakeFirst()
  return row === undefined ? undefined : toGrant(row, now)
}
