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

const zoneNames: Readonly<Record<string, string>> = {
  'Asia/Jakarta': 'WIB',
  'Asia/Pontianak': 'WIB',
  'Asia/Makassar': 'WITA',
  'Asia/Jayapura': 'WIT',
}

/** "WIB", "WITA" or "WIT": the regency's zone as people there name it. */
export function zoneName(timeZone: string): string {
  return zoneNames[timeZone] ?? timeZone
}

/** The calendar day of `d` in the regency's zone, as a sortable key ("2026-12-02"). */
export function dayKey(d: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d)
}

/** "Rabu, 2 Desember 2026" / "Wednesday, 2 December 2026". */
export function dayHeading(d: Date, locale: Locale, timeZone: string): string {
  return new Intl.DateTimeFormat(locale === 'id' ? 'id-ID' : 'en-GB', {
    timeZone,
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    year: 'numeric',
  }).format(d)
}

/** "14.05 WIB" / "14:05 WIB". */
export function clockTime(d: Date, locale: Locale, timeZone: string): string {
  const time = new Intl.DateTimeFormat(locale === 'id' ? 'id-ID' : 'en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(d)
  return `${time} ${zoneName(timeZone)}`
}

/** Items grouped under their day, newest day first (the items come newest first). */
export function groupByDay<T>(
  items: readonly T[],
  at: (item: T) => Date,
  locale: Locale,
  timeZone: string,
): { day: string; heading: string; items: T[] }[] {
  const groups: { day: string; heading: string; items: T[] }[] = []
  for (const item of items) {
    const d = at(item)
    const day = dayKey(d, timeZone)
    const last = groups[groups.length - 1]
    if (last !== undefined && last.day === day) last.items.push(item)
    else groups.push({ day, heading: dayHeading(d, locale, timeZone), items: [item] })
  }
  return groups
}
