// Finding a citizen at the counter (issue 15): by NIK, by name and birth date, or by
// phone, only with a reason from a fixed list (the service being provided), and giving
// only what confirms the person: the NIK's last four digits, the name, the birth year and
// the phone masked. Every look-up is in the audit trail with the officer, the counter and
// the reason, with the citizen found as its subject, so that the citizen reads it in Akun
// Saya → Aktivitas; the citizen is also sent an `officer_lookup` notice (UU PDP art. 7).
// An officer may search at most `lookupLimit.perWindow` times in `lookupLimit.windowSeconds`,
// counted from the trail itself (so across instances); a burst of parallel requests can
// pass the limit by the few in flight, which the trail still shows.

import { sql, type Kysely } from 'kysely'
import { recordAudit } from '../audit/audit.ts'
import type { Database } from '../db/database.ts'
import type { CounterRow } from '../db/tables/counters.ts'
import { normalizeName } from './citizens.ts'
import { maskContact, normalizePhone } from './identifiers.ts'
import { normalizeNik } from './nik.ts'
import { queueNotice, type RenderOptions } from './notices.ts'
import type { Officer } from './officers.ts'

/**
 * Why an officer may look a citizen up: the services of the counter, in code (a change is
 * reviewed like code, and the citizen's activity names the reason from this list).
 */
export const lookupReasons = {
  ktp_el: { id: 'Pelayanan KTP-el', en: 'Electronic ID card (KTP-el) service' },
  kartu_keluarga: { id: 'Pelayanan Kartu Keluarga', en: 'Family card service' },
  akta: { id: 'Pelayanan akta kelahiran atau kematian', en: 'Birth or death certificate service' },
  pindah: { id: 'Pelayanan pindah datang', en: 'Change of residence service' },
  perizinan: { id: 'Pelayanan perizinan usaha', en: 'Business permit service' },
  bantuan_akun: { id: 'Bantuan akun Satu Pintu', en: 'Help with the Satu Pintu account' },
  verifikasi_identitas: { id: 'Verifikasi identitas langsung', en: 'In-person identity check' },
} as const

export type LookupReason = keyof typeof lookupReasons

export function isLookupReason(value: unknown): value is LookupReason {
  return typeof value === 'string' && Object.hasOwn(lookupReasons, value)
}

export const lookupLimit = Object.freeze({ perWindow: 30, windowSeconds: 15 * 60, maxResults: 5 })

export type LookupQuery =
  | { readonly by: 'nik'; readonly nik: string }
  | { readonly by: 'name_birth'; readonly name: string; readonly birthDate: string }
  | { readonly by: 'phone'; readonly phone: string }

/** What the officer sees of a citizen found: enough to confirm the person, never more. */
export interface LookupResult {
  readonly id: string
  /** "************0001". */
  readonly nikLast4: string
  readonly name: string
  readonly birthYear: string
  /** "0812-****-*890", or null without a phone. */
  readonly phone: string | null
}

export type LookupOutcome =
  | { readonly ok: true; readonly results: readonly LookupResult[] }
  | { readonly ok: false; readonly reason: 'invalid_query' | 'invalid_reason' }
  | { readonly ok: false; readonly reason: 'throttled'; readonly retryAfterSeconds: number }

const DATE = /^\d{4}-\d{2}-\d{2}$/

/** Normalises the query; undefined when it cannot name anyone. */
function normalized(q: LookupQuery): LookupQuery | undefined {
  if (q.by === 'nik') {
    const n = normalizeNik(q.nik)
    return n.ok ? { by: 'nik', nik: n.nik } : undefined
  }
  if (q.by === 'phone') {
    const p = normalizePhone(q.phone)
    return p === undefined ? undefined : { by: 'phone', phone: p }
  }
  const name = normalizeName(q.name)
  if (name === undefined || !DATE.test(q.birthDate) || Number.isNaN(Date.parse(q.birthDate))) return undefined
  return { by: 'name_birth', name, birthDate: q.birthDate }
}

export function maskedNik(nik: string): string {
  return `${'*'.repeat(12)}${nik.slice(-4)}`
}

export async function lookUpCitizens(
  db: Kysely<Database>,
  input: {
    readonly officer: Officer
    readonly counter: CounterRow
    readonly reason: string
    readonly query: LookupQuery
    readonly ip?: string | undefined
    readonly requestId?: string | undefined
    readonly now?: Date
    readonly notices?: RenderOptions
  },
): Promise<LookupOutcome> {
  const now = input.now ?? new Date()
  if (!isLookupReason(input.reason)) return { ok: false, reason: 'invalid_reason' }
  const reason: LookupReason = input.reason
  const query = normalized(input.query)
  if (query === undefined) return { ok: false, reason: 'invalid_query' }

  const since = new Date(now.getTime() - lookupLimit.windowSeconds * 1000)
  const recent = await db
    .selectFrom('audit_events')
    .select(['at'])
    .where('event', '=', 'citizen.looked_up')
    .where('actor', '=', `officer:${input.officer.id}`)
    .where('at', '>', since)
    .orderBy('at')
    .execute()
  // One search may find several people: count searches (distinct request ids), not rows.
  const searches = await db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.count<string | number>('request_id').distinct().as('n'))
    .where('event', '=', 'citizen.looked_up')
    .where('actor', '=', `officer:${input.officer.id}`)
    .where('at', '>', since)
    .executeTakeFirstOrThrow()
  if (Number(searches.n) >= lookupLimit.perWindow) {
    const oldest = recent[0]?.at ?? now
    const retry = Math.max(1, Math.ceil((oldest.getTime() + lookupLimit.windowSeconds * 1000 - now.getTime()) / 1000))
    return { ok: false, reason: 'throttled', retryAfterSeconds: retry }
  }

  let select = db
    .selectFrom('citizens')
    .select([
      'id',
      'nik',
      'name',
      'phone',
      (eb) => eb.fn<string>('to_char', [eb.ref('birth_date'), eb.val('YYYY')]).as('birth_year'),
    ])
    .where('status', '=', 'active')
  if (query.by === 'nik') select = select.where('nik', '=', query.nik)
  else if (query.by === 'phone') select = select.where('phone', '=', query.phone)
  else
    select = select
      .where((eb) => eb(eb.fn('lower', [eb.ref('name')]), '=', query.name.toLowerCase()))
      .where(sql<boolean>`birth_date = ${query.birthDate}::date`)
  const rows = await select.orderBy('created_at').limit(lookupLimit.maxResults).execute()

  const data = {
    officerId: input.officer.id,
    officerName: input.officer.name,
    counterId: input.counter.id,
    counterName: input.counter.name,
    location: input.counter.location,
    reason,
    by: query.by,
  }
  const base = {
    event: 'citizen.looked_up' as const,
    actor: `officer:${input.officer.id}` as const,
    ip: input.ip,
    requestId: input.requestId,
  }
  await db.transaction().execute(async (trx) => {
    if (rows.length === 0) await recordAudit(trx, { ...base, data: { ...data, found: 0 } })
    for (const r of rows) {
      await recordAudit(trx, { ...base, subjectId: r.id, data: { ...data, found: rows.length } })
      await queueNotice(
        trx,
        {
          citizenId: r.id,
          kind: 'officer_lookup',
          data: {
            at: now,
            officer: `${input.officer.name}, ${input.counter.name}, ${input.counter.location}`,
            reason: lookupReasons[reason].id,
          },
        },
        input.notices ?? {},
      )
    }
  })
  return {
    ok: true,
    results: rows.map((r) => ({
      id: r.id,
      nikLast4: maskedNik(r.nik),
      name: r.name,
      birthYear: r.birth_year,
      phone: r.phone === null ? null : maskContact(r.phone),
    })),
  }
}
