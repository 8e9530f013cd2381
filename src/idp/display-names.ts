import type { Kysely } from 'kysely'
import type { Config } from '../config/schema.ts'
import type { Database } from '../db/database.ts'
import { findDocumentType } from '../documents/types.ts'
import type { Locale } from '../http/locale.ts'
import { documentServicesOf } from './oidc/clients.ts'

/**
 * The names a citizen knows, for the ids the audit trail and the document tables hold
 * ("dinas-contoh", "izin-usaha", "ktp"). One agency is called by one name on every page:
 *
 *   agency   the name registered for the agency itself (the gateway's agencies file, stored
 *            with the gateway's client as `urn:satupintu:document_services`), else the name
 *            the citizen read when giving a document grant, else the name of one of the
 *            agency's OIDC clients, else the id
 *   client   the agency behind the client, when its name is registered; else the client's
 *            own registered name, else the id
 *   service  the service's registered name (agencies file or the client's document
 *            services), else the name stored with the citizen's grant, else undefined
 *
 * Built per request from the client registrations (a small table) and the citizen's grants.
 */
export interface DisplayNames {
  agency(agencyId: string): string
  client(clientId: string): string
  /** `client:<id>` in the audit trail: a client id (tokens) or an agency id (document links). */
  actor(id: string): string
  service(agencyId: string, serviceId: string | null | undefined): string | undefined
  documentType(typeId: string): string
}

/** What the names may also be taken from: the citizen's grants (as listed by listGrants). */
export interface GrantNames {
  readonly agencyId: string
  readonly serviceId: string | null
  readonly agencyName: string | null
  readonly serviceName: string | null
}

export async function loadDisplayNames(
  db: Kysely<Database>,
  config: Config,
  locale: Locale,
  grants: readonly GrantNames[] = [],
): Promise<DisplayNames> {
  const rows = await db
    .selectFrom('oidc_clients')
    .select(['client_id', 'agency_id', 'name', 'metadata'])
    .orderBy('name')
    .execute()
  const registeredAgency = new Map<string, string>()
  const anyClientOfAgency = new Map<string, string>()
  const clientById = new Map<string, { name: string; agencyId: string }>()
  const services = new Map<string, string>()
  const key = (agencyId: string, serviceId: string) => `${agencyId}\u0000${serviceId}`
  for (const r of rows) {
    clientById.set(r.client_id, { name: r.name, agencyId: r.agency_id })
    if (!anyClientOfAgency.has(r.agency_id)) anyClientOfAgency.set(r.agency_id, r.name)
    const metadata = (typeof r.metadata === 'string' ? JSON.parse(r.metadata) : r.metadata) as Record<string, unknown>
    for (const s of documentServicesOf(metadata ?? {})) {
      const agencyId = s.agency?.id ?? r.agency_id
      if (s.agency !== undefined && !registeredAgency.has(agencyId))
        registeredAgency.set(agencyId, s.agency.name[locale])
      if (!services.has(key(agencyId, s.id))) services.set(key(agencyId, s.id), s.name[locale])
    }
  }
  const grantAgency = new Map<string, string>()
  const grantService = new Map<string, string>()
  for (const g of grants) {
    if (g.agencyName !== null && !grantAgency.has(g.agencyId)) grantAgency.set(g.agencyId, g.agencyName)
    if (g.serviceId !== null && g.serviceName !== null && !grantService.has(key(g.agencyId, g.serviceId))) {
      grantService.set(key(g.agencyId, g.serviceId), g.serviceName)
    }
  }

  const agency = (agencyId: string): string =>
    registeredAgency.get(agencyId) ?? grantAgency.get(agencyId) ?? anyClientOfAgency.get(agencyId) ?? agencyId
  const client = (clientId: string): string => {
    const c = clientById.get(clientId)
    if (c === undefined) return clientId
    return registeredAgency.get(c.agencyId) ?? c.name
  }
  return {
    agency,
    client,
    actor: (id) => (clientById.has(id) ? client(id) : agency(id)),
    service: (agencyId, serviceId) =>
      serviceId === null || serviceId === undefined
        ? undefined
        : (services.get(key(agencyId, serviceId)) ?? grantService.get(key(agencyId, serviceId))),
    documentType: (typeId) => findDocumentType(config.documents, typeId)?.name[locale] ?? typeId,
  }
}
